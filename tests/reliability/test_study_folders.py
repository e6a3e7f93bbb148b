"""Study folders (issue 25): model names that are not file names (`..`, `org/model` beside `org_model`) keep their
results and are skipped on rerun; an --out inside the model folder still skips (the checkpoint's identity ignores
files tuneshift writes); --dry-run refuses bad benchmark options by line and estimates time from measured runs."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from tuneshift.cli.study import app
from tuneshift.errors import InvalidInputError
from tuneshift.study.run import load_study, plan_study, run_study

NAMES = ["..", "org/model", "org_model"]


@pytest.fixture(scope="module")
def study_in_model_folder(tiny_model_dirs, tmp_path_factory):
    """Three names for one checkpoint, the study folder inside that checkpoint's folder; run once."""
    root = tmp_path_factory.mktemp("names")
    model = root / "model"
    shutil.copytree(tiny_model_dirs["llama"], model)
    path = root / "study.yaml"
    path.write_text(
        "models:\n"
        + "".join(f"  - {{name: '{name}', spec: {model}, params_b: 0.0001, layers: 2}}\n" for name in NAMES)
        + "benchmarks: [Futrell2018-pearsonr]\noptions: {cache: false}\n"
    )
    out = model / "study"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TUNESHIFT_CACHE", str(root / "cache"))
        first = run_study(load_study(path), out, progress=False)
    return root, path, out, first


def test_unsafe_names_keep_their_results_and_a_rerun_inside_the_model_folder_skips(study_in_model_folder):
    root, path, out, first = study_in_model_folder
    assert (first.done, first.skipped, first.failed) == (1, 2, 0)  # one checkpoint: computed once, listed 3 times
    assert set(pd.read_csv(out / "scores.csv")["model"]) == set(NAMES)
    assert {p.name for p in root.iterdir()} <= {"cache", "model", "study.yaml"}  # nothing escaped via `..`
    assert len(list((out / "status").glob("*.json"))) == 3  # one status per name, named by hashes
    plan = plan_study(load_study(path), out)  # outputs inside the model folder leave its identity unchanged
    assert len(plan.finished) == 3
    again = run_study(load_study(path), out, progress=False)
    assert (again.done, again.skipped, again.failed) == (0, 3, 0)


def test_dry_run_estimates_time_from_measured_throughput(study_in_model_folder, tiny_model_dirs):
    root, path, out, _ = study_in_model_folder
    bigger = root / "bigger.yaml"
    bigger.write_text(
        path.read_text().replace("benchmarks:", f"  - {{name: new, spec: {tiny_model_dirs['gpt2']}}}\nbenchmarks:")
    )
    result = CliRunner().invoke(app, ["run", str(bigger), "--out", str(out), "--dry-run"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "4 tasks (1 pending, 3 finished)" in result.output
    assert "s of compute for 1 of them (throughput measured in" in result.output


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ("{Futrell2018-pearsonr: {sentences: nonsense}}", "sentences"),
        ("{Futrell2018-pearsonr: {poolin: last}}", "poolin"),
        ("{pooling: last}", "pooling"),  # no chosen benchmark takes it
    ],
)
def test_dry_run_refuses_bad_benchmark_options_by_line(tmp_path, options, expected):
    path = tmp_path / "study.yaml"
    path.write_text(f"models: [t5-small]\nbenchmarks: [Futrell2018-pearsonr]\nbenchmark_options: {options}\n")
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "o"), "--dry-run"])
    assert isinstance(result.exception, InvalidInputError), result.output
    message = str(result.exception)
    assert message.startswith(f"{path}:3: benchmark_options:") and expected in message
    assert not (tmp_path / "o").exists()  # refused before anything was written
