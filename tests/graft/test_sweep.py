"""Sweeps scored through the ordinary runner: ends equal the models' own scores, shares 0 and 1 at the ends, units
reused on a rerun, intervals from paired per-story / per-split values, parts kept tuned in every hybrid, figures,
the report and the CLI."""

from __future__ import annotations

import pandas as pd
import pytest
import typer
from matplotlib.figure import Figure
from typer.testing import CliRunner

from tests._tiny import load_tiny
from tests.graft.conftest import NORM_BENCH, SURPRISAL_BENCH, tuned_copy
from tests.report.page import column, read_page
from tuneshift.benchmarks.run import score
from tuneshift.cli.graft import graft as graft_command
from tuneshift.errors import InvalidParameterError
from tuneshift.graft import SWEEPS, GraftPair, run_sweeps, sweep_steps, sweep_units, write_outputs
from tuneshift.report.figures import alpha_curves, share_heatmap


def test_sweep_steps_walk_units_in_order(make_pair):
    pair = make_pair("t5")  # 5 blocks, tied head
    assert sweep_units(pair.parts) == ["embed", *(f"block:{i}" for i in range(5)), "norm:final"]
    assert sweep_units(pair.parts, group=2) == ["embed", "block:0-1", "block:2-3", "block:4", "norm:final"]
    bottom = sweep_steps(pair, "cumulative-bottom", group=2)
    assert [s.parts for s in bottom][:2] == [("embed",), ("embed", "block:0-1")] and bottom[-1].parts[
        -1
    ] == "norm:final"
    top = sweep_steps(pair, "cumulative-top", units="block:0,block:1,block:2")
    assert [s.parts for s in top] == [("block:2",), ("block:1", "block:2"), ("block:0", "block:1", "block:2")]
    out = sweep_steps(pair, "leave-one-out", units=["ffn:0", "ffn:1"])
    assert [(s.part, s.direction) for s in out] == [("ffn:0", "reverse"), ("ffn:1", "reverse")]
    assert [s.part for s in sweep_steps(pair, "attn-ffn")] == ["attn:*", "ffn:*", "norm:*"]
    assert [s.alpha for s in sweep_steps(pair, "alpha", alphas=[0, 0.5, 1])] == [0.0, 0.5, 1.0]
    with pytest.raises(InvalidParameterError, match="sweep"):
        sweep_steps(pair, "leave-two-in")
    with pytest.raises(InvalidParameterError, match="parts"):
        sweep_steps(pair, "leave-one-in", units="mlp:0")


UNITS = ["embed", "block:*", "norm:final", "head"]


def test_graft_ends_score_as_the_models_and_sweeps_resume(tiny_model_dirs, test_benchmarks, tmp_path):
    benchmarks, runs = test_benchmarks
    base, tuned = load_tiny(tiny_model_dirs["llama"]), tuned_copy(tiny_model_dirs["llama"])
    own = [score(model, benchmarks, None, progress=False).groupby("benchmark")["raw"].max() for model in (base, tuned)]
    pair = GraftPair(base, tuned)
    sweeps = {"sweeps": ["leave-one-in", "cumulative-bottom", "alpha"], "units": UNITS, "alphas": [0, 0.5, 1]}
    table = run_sweeps(pair, benchmarks=benchmarks, out_dir=tmp_path, **sweeps)
    n_units = len(list((tmp_path / "units").glob("*.json")))
    runs_before = dict(runs)

    ends = table[table["sweep"] == "ends"].set_index(["part", "benchmark"])["score"]
    # the hybrids' ends score exactly as the base and the tuned model scored on their own (bit for bit)
    assert ends.loc["base"].to_dict() == own[0].to_dict() and ends.loc["tuned"].to_dict() == own[1].to_dict()
    shares = table.set_index(["sweep", "part", "alpha", "benchmark"])["share"]
    for bench in benchmarks:
        assert shares.loc[("ends", "base", 1.0, bench)] == 0.0 and shares.loc[("ends", "tuned", 1.0, bench)] == 1.0
        every = ",".join(UNITS)  # the alpha sweep interpolates the units given: here the whole model
        assert shares.loc[("alpha", every, 0.0, bench)] == 0.0 and shares.loc[("alpha", every, 1.0, bench)] == 1.0
        assert shares.loc[("cumulative-bottom", "head", 1.0, bench)] == 1.0  # every unit grafted: the tuned model
        assert 0.0 != shares.loc[("alpha", every, 0.5, bench)] != 1.0
    assert len(table) == 2 * (2 + 4 + 4 + 3)  # benchmarks × (ends + leave-one-in + cumulative + α)
    surprisal = table[table["benchmark"] == SURPRISAL_BENCH]
    assert (surprisal["ci_from"] == "4 paired story").all()
    inner = surprisal[surprisal["sweep"] == "leave-one-in"]
    assert (inner["share_ci_low"] <= inner["share"]).all() and (inner["share"] <= inner["share_ci_high"]).all()
    assert (table.loc[table["benchmark"] == NORM_BENCH, "ci_from"] == "none").all()  # no per-split values stored

    again = run_sweeps(pair, benchmarks=benchmarks, out_dir=tmp_path, **sweeps)
    assert runs == runs_before and len(list((tmp_path / "units").glob("*.json"))) == n_units
    pd.testing.assert_frame_equal(again.drop(columns="seconds"), table.drop(columns="seconds"))
    written = write_outputs(table, tmp_path)
    assert {p.name for p in written} >= {
        "graft.csv",
        "graft-leave-one-in.png",
        "graft-cumulative-bottom.svg",
        "graft-alpha.png",
        "report.html",
    }
    assert all(p.stat().st_size > 1000 for p in written)
    page = read_page(tmp_path / "report.html")  # run_sweeps wrote it too; write_outputs rewrote it
    assert page.sections == ["pair", "sweep-leave-one-in", "sweep-cumulative-bottom", "sweep-alpha", "wall"]
    assert column(page, "Absolute scores (best-layer raw)", "base") == [
        f"{own[0][b]:.4g}" for b in sorted(own[0].index)
    ]


@pytest.mark.parametrize("group", [1, 2])
def test_every_sweep_per_block_and_grouped(make_pair, group):
    pair = make_pair("t5")  # 5 blocks, tied head
    blocks = (
        ["block:0", "block:1", "block:2", "block:3", "block:4"] if group == 1 else ["block:0-1", "block:2-3", "block:4"]
    )
    units = ["embed", *blocks, "norm:final"]
    steps = {sweep: sweep_steps(pair, sweep, group=group) for sweep in SWEEPS}
    assert [(s.part, s.parts, s.direction) for s in steps["leave-one-in"]] == [(u, (u,), "forward") for u in units]
    assert [(s.part, s.parts, s.direction) for s in steps["leave-one-out"]] == [(u, (u,), "reverse") for u in units]
    assert [s.parts for s in steps["cumulative-bottom"]] == [tuple(units[: i + 1]) for i in range(len(units))]
    assert [s.parts for s in steps["cumulative-top"]] == [tuple(units[-i - 1 :]) for i in range(len(units))]
    assert [s.part for s in steps["attn-ffn"]] == ["attn:*", "ffn:*", "norm:*"]  # all blocks at once by default
    per_block = [s.part for s in sweep_steps(pair, "attn-ffn", units=blocks)]  # per block / group: named units
    assert per_block == [f"{kind}:{b.split(':')[1]}" for b in blocks for kind in ("attn", "ffn", "norm")]
    assert [(s.part, s.alpha) for s in steps["alpha"]] == [("all", a) for a in (0.0, 0.25, 0.5, 0.75, 1.0)]
    # one leave-one-in hybrid grafts exactly its unit's blocks, one leave-one-out restores exactly them
    one_in = pair.graft(*steps["leave-one-in"][1].parts)
    one_out = pair.graft(*steps["leave-one-out"][1].parts, direction="reverse")
    first = set(pair.parts.resolve(blocks[0]))
    assert set(one_in.weights) == first and set(pair.parts.all) - set(one_out.weights) == first


def test_every_sweep_has_its_report_section_and_figures_are_returned_not_written(make_pair, test_benchmarks, tmp_path):
    pair, units = make_pair("gpt2"), "block:0,block:1"  # few hybrids: the sections are the point
    table = run_sweeps(pair, SWEEPS, test_benchmarks[0][:1], tmp_path, units=units, alphas=[0, 1], progress=False)
    assert list(dict.fromkeys(table["sweep"])) == ["ends", *SWEEPS]
    assert read_page(tmp_path / "report.html").sections == ["pair", *(f"sweep-{s}" for s in SWEEPS), "wall"]
    files = sorted(tmp_path.rglob("*"))
    assert isinstance(share_heatmap(table, "attn-ffn"), Figure) and isinstance(alpha_curves(table), Figure)
    assert sorted(tmp_path.rglob("*")) == files


def test_always_parts_stay_tuned_in_every_hybrid(make_pair, test_benchmarks, tmp_path):
    pair = make_pair("llama")
    final = set(pair.parts.resolve("norm:final"))
    units = [u for u in sweep_units(pair.parts) if u != "norm:final"]
    steps = {s: sweep_steps(pair, s, always=["norm:final"]) for s in ("leave-one-in", "leave-one-out", "alpha")}
    assert [s.part for s in steps["leave-one-in"]] == units  # the default units leave out the part kept tuned
    for step in [s for found in steps.values() for s in found]:
        graft = pair.graft(step.parts, alpha=step.alpha, direction=step.direction, always=step.always)
        assert all(graft.weights.get(name) == 1.0 for name in final), step
    restored = pair.graft("block:0", direction="reverse", always="norm:final")
    assert not set(pair.parts.resolve("block:0")) & set(restored.weights) and "always:norm:final" in restored.name
    assert pair.graft([], always="norm:final").fingerprint not in (pair.base.fingerprint, pair.tuned_fingerprint)

    table = run_sweeps(pair, ["cumulative-bottom"], [SURPRISAL_BENCH], tmp_path, always=["norm:final"])
    ends = table[table["sweep"] == "ends"].set_index("part")
    assert list(ends.index) == ["base", "tuned", "always"] and ends.loc["always", "always"] == "norm:final"
    assert (ends.loc["base", "share"], ends.loc["tuned", "share"]) == (0.0, 1.0)  # the share keeps its definition
    assert 0.0 != ends.loc["always", "share"] != 1.0
    cumulative = table[table["sweep"] == "cumulative-bottom"]
    assert (cumulative["always"] == "norm:final").all() and cumulative["share"].iat[-1] == 1.0  # all units: tuned
    assert '"always": [\n    "norm:final"' in (tmp_path / "graft.json").read_text()
    assert "Kept tuned in every hybrid: norm:final" in read_page(tmp_path / "report.html").text


def test_cli(tiny_model_dirs, test_benchmarks, tmp_path):
    app = typer.Typer()
    app.command()(graft_command)
    runner = CliRunner()
    help_text = runner.invoke(app, ["--help"]).output
    assert "leave-one-out" in help_text and "--random-init" in help_text and "--alpha" in help_text
    out = tmp_path / "out"
    args = [
        str(tiny_model_dirs["gpt2"]),
        "--random-init",
        "--seed",
        "1",
        "-s",
        "cumulative-top",
        "-s",
        "alpha",
        "--alpha",
        "0,1",
    ]
    flags = ["--group", "2", "--always", "embed", "-o", "batch_size=2", "-b", SURPRISAL_BENCH, "--out", str(out)]
    result = runner.invoke(app, [*args, *flags])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "graft.csv")
    assert set(table["sweep"]) == {"ends", "cumulative-top", "alpha"} and (out / "graft-cumulative-top.png").exists()
    assert set(table.loc[table["sweep"] != "ends", "always"]) == {"embed"} and "embed" not in set(table["part"])
    assert (out / "report.html").exists() and '"batch_size": "2"' in (out / "graft.json").read_text()
    bad_option = runner.invoke(app, [*args, "-o", "no_such=1", "-b", SURPRISAL_BENCH, "--out", str(tmp_path / "x")])
    assert isinstance(bad_option.exception, InvalidParameterError) and not (tmp_path / "x").exists()
    refused = runner.invoke(
        app, [str(tiny_model_dirs["gpt2"]), str(tiny_model_dirs["gpt2"]), "--random-init", "-b", "x"]
    )
    assert isinstance(refused.exception, InvalidParameterError) and "TUNED" in str(refused.exception)
    bad_alpha = runner.invoke(app, [*args[:2], "--alpha", "0,2", "-b", SURPRISAL_BENCH, "--out", str(out)])
    assert isinstance(bad_alpha.exception, InvalidParameterError) and "--alpha" in str(bad_alpha.exception)
