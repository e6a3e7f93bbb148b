"""`study analyze` and `study correlate --measured` on a read-only study folder (results copied from a cluster, a
read-only mount): its units are read without writing anything there — tables missing from it are assembled in
memory — and the analysis goes to --out; without --out, analyze says so in one line."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest

from tests._readonly import snapshot
from tuneshift.cli import main as cli

PAIRS = {"base-0": "tuned-0", "base-1": "tuned-1", "base-2": "tuned-2"}
BRAIN = {"base-0": 0.10, "tuned-0": 0.12, "base-1": 0.15, "tuned-1": 0.18, "base-2": 0.20, "tuned-2": 0.21}
MMLU = {"tuned-0": 0.31, "tuned-1": 0.42, "tuned-2": 0.55}


@pytest.fixture
def study(tmp_path):
    """A study folder of three base/tuned pairs: a reading-time score per model and MMLU measured for the tuned
    ones, as units; no scores.csv / summary.json / lock file (copied in the middle of a run)."""
    from tuneshift.benchmarks.capability import rows_frame
    from tuneshift.benchmarks.store import ResultStore, new_unit

    folder = tmp_path / "study"
    models = [
        {"name": name, "key": name, "spec": name, "random_init": False, "seed": 0, "params_b": 0.1 * (i + 1)}
        | ({"instruction_tuned": True, "base_model": base} if name in MMLU else {"instruction_tuned": False})
        for i, name in enumerate(BRAIN)
        for base in [next((b for b, t in PAIRS.items() if t == name), None)]
    ]
    store = ResultStore(folder)
    (folder / "study.json").write_text(json.dumps({"models": models, "benchmarks": ["Futrell2018-pearsonr"]}))
    for index, (name, value) in enumerate(BRAIN.items()):
        rows = pd.DataFrame({"model": name, "benchmark": "Futrell2018-pearsonr", "layer": [0], "raw": [value]})
        provenance = {"benchmark_id": "Futrell2018-pearsonr", "fingerprint": f"fp-{name}", "kind": "reading"}
        store.save(new_unit(f"{index:016x}", name, "Futrell2018-pearsonr", rows, {"best_raw": value}, **provenance))
    for index, (name, value) in enumerate(MMLU.items()):
        rows = rows_frame([("overall", value, 100)]).assign(model=name, benchmark="MMLU")
        provenance = {"benchmark_id": "MMLU", "fingerprint": f"fp-{name}"}
        store.save(new_unit(f"{index + 100:016x}", name, "MMLU", rows, {}, **provenance))
    for name in ("scores.csv", "summary.json", ".tuneshift.lock"):
        (folder / name).unlink()
    return folder


def tuneshift(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """(exit code, stderr) of `tuneshift ARGS`, run through the script's entry point."""
    cli._state["debug"] = False
    monkeypatch.setattr(sys, "argv", ["tuneshift", *args])
    with pytest.raises(SystemExit) as done:
        cli.main()
    return done.value.code, capsys.readouterr().err


def test_analyze_and_correlate_read_a_read_only_study(study, tmp_path, read_only, monkeypatch, capsys):
    read_only(study)
    before = snapshot(study)
    code, err = tuneshift(monkeypatch, capsys, "study", "analyze", str(study))
    (line,) = err.strip().splitlines()
    assert code == 1 and str(study) in line and "read-only" in line and "--out" in line, err

    out = tmp_path / "analysis"
    code, err = tuneshift(monkeypatch, capsys, "study", "analyze", str(study), "--out", str(out))
    assert code == 0, err
    effects = pd.read_csv(out / "effects.csv")
    assert set(effects["pair"]) == {f"{b} → {t}" for b, t in PAIRS.items()}  # scores from the units, in memory
    models = pd.read_csv(out / "models.csv").set_index("model")
    assert models.loc[list(MMLU), "mmlu"].tolist() == list(MMLU.values())  # measured, read from the units
    assert (out / "report.html").is_file()

    table = tmp_path / "models.csv"
    pd.DataFrame(
        {"model": list(BRAIN), "instruction_tuned": [n in MMLU for n in BRAIN], "brain_avg": list(BRAIN.values())}
    ).to_csv(table, index=False)
    correlated = tmp_path / "correlated"
    args = ["study", "correlate", str(table), "--measured", str(study), "--out", str(correlated)]
    code, err = tuneshift(monkeypatch, capsys, *args)
    assert code == 0, err
    assert set(pd.read_csv(correlated / "models.csv").dropna(subset=["mmlu"])["model"]) == set(MMLU)
    assert snapshot(study) == before
