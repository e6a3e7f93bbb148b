"""The study documented where users look: every YAML example in docs/*.md and README.md loads (study files with the
study loader, zoo files with the zoo loader), `study run --help` shows the commented example, the zoo exports the
paper's table for `study correlate`, and `study analyze` says plainly when a study has no base/tuned pair."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tuneshift._yaml import parse_yaml
from tuneshift.cli.study import app as study_app
from tuneshift.cli.zoo import app as zoo_app
from tuneshift.study import load_zoo
from tuneshift.study.example import EXAMPLE
from tuneshift.study.run import load_study

ROOT = Path(__file__).resolve().parents[2]
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.S | re.M)
NAMED = re.compile(r"#\s*([\w.-]+\.yaml)\b")  # a block whose first line names its file: "# my-weights.yaml: ..."


def _blocks(doc: Path) -> list[str]:
    return BLOCK.findall(doc.read_text()) if doc.exists() else []


@pytest.mark.parametrize("doc", [d for d in DOCS if _blocks(d)], ids=lambda d: d.name)
def test_every_yaml_example_in_the_docs_loads(doc, tmp_path):
    """Zoo files (a `models:` mapping) are written under the name their first line gives, then every study file
    (`models:` and `benchmarks:`) is loaded beside them; a block with `models:` that is neither fails, and any
    other block (another tool's configuration) must still pass the bounded YAML loader."""
    studies = []
    for number, block in enumerate(_blocks(doc)):
        document = parse_yaml(block, f"{doc.name} block {number + 1}")
        named = NAMED.match(block.splitlines()[0]) if block.strip() else None
        path = tmp_path / (named.group(1) if named else f"block-{number + 1}.yaml")
        path.write_text(block)
        if isinstance(document, dict) and {"models", "benchmarks"} <= set(document):
            studies.append(path)
        elif isinstance(document, dict) and isinstance(document.get("models"), dict):
            load_zoo([path])
        elif isinstance(document, dict) and "models" in document:
            pytest.fail(f"{doc.name} block {number + 1} is neither a study file nor a zoo file:\n{block}")
    for path in studies:
        study = load_study(path)
        assert study.models and study.benchmarks and set(study.resolved) == set(study.benchmarks)


@pytest.mark.parametrize("path", sorted((ROOT / "docs").glob("trajectory-*.yaml")), ids=lambda p: p.name)
def test_the_trajectory_files_in_docs_load(path):
    """The files docs/ and benchmarks/README.md tell users to run are valid trajectories (benchmark options too)."""
    from tuneshift.study.trajectory import load_trajectory

    trajectory = load_trajectory(path)
    assert trajectory.steps % trajectory.save_every == 0 and len(trajectory.arms) >= 2 and len(trajectory.seeds) >= 2


def test_the_commented_example_is_in_the_docs_and_in_run_help(tmp_path):
    assert f"```yaml\n{EXAMPLE}```" in (ROOT / "docs" / "study.md").read_text()
    path = tmp_path / "study.yaml"
    path.write_text(EXAMPLE)
    study = load_study(path)
    assert [m.name for m in study.models][:3] == ["flan-t5-small", "t5-small", "my-tuned"] and len(study.models) == 6
    assert study.resolved["Futrell2018-pearsonr"].sentences == "brainscore"
    shown = CliRunner().invoke(study_app, ["run", "--help"], env={"COLUMNS": "80"})
    assert shown.exit_code == 0
    assert "Futrell2018-pearsonr: {sentences: brainscore}" in shown.output and "3 some tasks failed" in shown.output
    assert max(len(line) for line in EXAMPLE.splitlines()) <= 74  # readable in an 80-column help


def test_zoo_export_feeds_study_correlate_with_the_papers_numbers(tmp_path):
    table = tmp_path / "aw2023.csv"
    exported = CliRunner().invoke(zoo_app, ["export", "--csv", str(table), "--where", "source=aw2023"])
    assert exported.exit_code == 0, exported.output
    assert len(pd.read_csv(table)) == 33
    out = tmp_path / "analysis"
    result = CliRunner().invoke(
        study_app, ["correlate", str(table), "--where", "family!=gpt2", "--out", str(out)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(out / "correlations.csv").query("method == 'pearson' and alignment == 'brain_alignment'")
    tuned = rows[rows["subset"].str.startswith("tuned")].set_index("property")["r"]
    # Aw et al.'s table gives 0.948 (log10 params), 0.805 (MMLU), 0.379 (BBH) over the 17 tuned models
    assert tuned["log10_params"] == pytest.approx(0.948, abs=0.005)
    assert tuned["mmlu"] == pytest.approx(0.805, abs=0.005) and tuned["bbh"] == pytest.approx(0.379, abs=0.005)
    # The Table 2 form from the same export: the rows the paper's published scores feed, to its printed precision
    # (0.81, 0.38, 0.95 over tuned models, 0.92 over all; NWP loss |r| 0.54, positive here: correlated as a loss).
    form = pd.read_csv(out / "table2.csv").set_index(["subset", "property"])
    printed = form["aw2023_r"].dropna()
    tested = form.loc[printed.index, "r"].dropna()
    assert tested.index.tolist() == [("tuned", c) for c in ("mmlu", "bbh", "nwp_loss", "log10_params")] + [
        ("all", "log10_params")
    ]
    sign = np.where(tested.index.get_level_values("property") == "nwp_loss", -1, 1)
    np.testing.assert_array_equal(np.round(sign * tested.to_numpy(), 2), printed[tested.index].to_numpy())
    # the categories need per-model category scores the paper does not publish: listed, untested, said so
    categories = form.loc["tuned"].drop(["mmlu", "bbh", "nwp_loss", "log10_params"])
    assert (categories["n"] == 0).all() and set(categories["measured_by"]) == {"none"}
    assert set(form.loc["tuned"].loc[["mmlu", "bbh", "nwp_loss", "log10_params"], "measured_by"]) == {"imported"}
    assert "| MMLU | Overall | 17 | 0.805 |" in (out / "table2.md").read_text()
    assert "Aw et al. Table 2 form" in result.output


def test_analyze_says_plainly_when_there_are_no_pairs(tmp_path):
    """A study folder of two unpaired models (tables as a run writes them): the message says 0 pairs and why."""
    models = [{"name": name, "key": name, "spec": name, "random_init": False, "seed": 0} for name in ("a", "b")]
    (tmp_path / "study.json").write_text(json.dumps({"models": models, "options": {}}))
    summary = {m: {"Futrell2018-pearsonr": {"best_raw": value}} for m, value in (("a", 0.3), ("b", 0.2))}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    result = CliRunner().invoke(study_app, ["analyze", str(tmp_path)], env={"COLUMNS": "200"})
    assert "0 base/tuned pairs" in result.output and "base_model:" in result.output, result.output
