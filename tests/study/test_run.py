"""Studies: the local executor and a local Ray cluster give the same scores; a driver killed with SIGKILL resumes
without recomputing finished tasks; failures are recorded and the rest finishes; the dry-run plan."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tuneshift.cli.study import app
from tuneshift.errors import InvalidInputError
from tuneshift.study.run import load_study, model_table, plan_study, run_study

BENCHMARKS = ["Tuckute2024-ridge", "Futrell2018-pearsonr"]


@pytest.fixture(scope="module")
def study_file(tiny_model_dirs, tmp_path_factory) -> Path:
    """Three tiny models (two as a base/tuned pair) + their random-init controls on two benchmarks: 12 tasks."""
    models = [
        {"name": "tiny-gpt2", "spec": str(tiny_model_dirs["gpt2"]), "params_b": 1e-4, "family": "gpt2"},
        {"name": "tiny-llama", "spec": str(tiny_model_dirs["llama"]), "family": "llama"},
        {"name": "tiny-llama-tuned", "spec": str(tiny_model_dirs["gpt_neox"]), "family": "llama",
         "base_model": "tiny-llama", "instruction_tuned": True},
    ]  # fmt: skip
    path = tmp_path_factory.mktemp("study") / "study.yaml"
    path.write_text(
        json.dumps({"models": models, "benchmarks": BENCHMARKS, "controls": True, "options": {"cache": False}})
    )
    return path


def _scores(out: Path) -> pd.DataFrame:
    table = pd.read_csv(out / "scores.csv")
    return table.sort_values(["model", "benchmark", "layer"]).reset_index(drop=True)[
        ["model", "benchmark", "layer", "raw"]
    ]


_DRIVER = """
import sys
from tuneshift.study.run import load_study, run_study
run_study(load_study(sys.argv[1]), sys.argv[2], progress=True)
"""


@pytest.fixture(scope="module")
def killed_and_resumed(study_file, tmp_path_factory):
    """The study run by a driver process killed with SIGKILL after ≥ 3 finished tasks, then rerun here to the end.

    Returns (out dir, unit files (name → bytes) finished before the kill, the rerun's outcome)."""
    out = tmp_path_factory.mktemp("killed") / "study"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TUNESHIFT_CACHE": str(out.parent / "cache")}
    driver = subprocess.Popen([sys.executable, "-c", _DRIVER, str(study_file), str(out)], env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and driver.poll() is None:
        if len(list((out / "units").glob("*.json"))) >= 3:
            break
        time.sleep(0.05)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    finished = {p: p.read_bytes() for p in (out / "units").glob("*.json")}
    return out, finished, run_study(load_study(study_file), out, progress=False)


def test_driver_killed_mid_run_resumes_without_recomputing(killed_and_resumed, study_file):
    out, finished, rerun = killed_and_resumed
    assert 3 <= len(finished) < 12, "the driver was to be killed mid-run"
    # skipped: the units finished before the kill, and each control whose weights equal its model's (the tiny
    # models are seed-0 initialisations, so the store finds the same computation under the model's name)
    assert rerun.skipped >= len(finished) and rerun.skipped + rerun.done == 12 and rerun.failed == 0
    for path, content in finished.items():  # finished tasks were not run again: their units are untouched
        assert path.read_bytes() == content
    assert len(_scores(out)) == 6 * (3 + 1)  # 6 models × (Tuckute: embeddings + 2 blocks; Futrell: 1 row)
    # every fingerprint is remembered now: the plan knows all 12 tasks are in the store without loading a model
    assert len(plan_study(load_study(study_file), out).finished) == 12
    again = run_study(load_study(study_file), out, progress=False)
    assert (again.skipped, again.done) == (12, 0)


def test_local_and_ray_executors_give_the_same_scores(killed_and_resumed, study_file, tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    local, _, _ = killed_and_resumed
    monkeypatch.setenv("TUNESHIFT_CACHE", str(tmp_path / "cache"))
    for attempt in range(2):  # the raylet must start within Ray's fixed 30 s; a busy machine may need a second try
        try:
            ray.init(num_cpus=2, object_store_memory=80 * 2**20, include_dashboard=False, log_to_driver=False)
            break
        except Exception as error:  # Ray raises a bare Exception on a start-up timeout
            ray.shutdown()
            if attempt:
                pytest.skip(f"a local Ray cluster did not start here: {error}")
    try:
        on_ray = run_study(load_study(study_file), tmp_path / "ray", executor="ray", progress=False)
    finally:
        ray.shutdown()
    # a control with its model's weights is skipped when the model's unit is stored first; two workers may also
    # compute both at once (Ray runs 2 jobs in parallel here): every task is done or skipped, none failed
    assert on_ray.done + on_ray.skipped == 12 and on_ray.done >= 6 and on_ray.failed == 0
    # the scores come from float32 features whose BLAS reductions run in another order on other threads (the local
    # run had 1 thread, a Ray worker its own): CI saw 8e-9 between a 0.0077 score's two runs; 1e-6 is far below the
    # four digits any score is reported with
    pd.testing.assert_frame_equal(_scores(local), _scores(tmp_path / "ray"), rtol=1e-6, atol=1e-6)
    table = model_table(local)
    assert list(table["model"]) == ["tiny-gpt2", "tiny-llama", "tiny-llama-tuned"]  # controls left out
    assert table.loc[2, "base_model"] == "tiny-llama" and table.loc[2, "instruction_tuned"]
    result = CliRunner().invoke(app, ["analyze", str(local)])
    assert result.exit_code == 0, result.output
    effects = pd.read_csv(local / "effects.csv")
    assert set(effects["benchmark"]) >= set(BENCHMARKS) and set(effects["pair"]) == {"tiny-llama → tiny-llama-tuned"}


def test_failed_tasks_are_recorded_and_the_others_finish(tiny_model_dirs, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNESHIFT_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "study.yaml"
    path.write_text(
        "models:\n"
        f"  - {{name: ok, spec: {tiny_model_dirs['llama']}}}\n"
        f"  - {{name: missing, spec: {tmp_path / 'no-such-model'}, params_b: 0.1, layers: 2}}\n"
        "benchmarks: [Futrell2018-pearsonr]\n"
    )
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 3, result.output  # the documented "tasks failed" status, not click's usage error
    failures = pd.read_csv(tmp_path / "out" / "failures.csv")
    assert list(failures["model"]) == ["missing"] and failures.loc[0, "stage"] == "load"
    assert set(pd.read_csv(tmp_path / "out" / "scores.csv")["model"]) == {"ok"}


def test_dry_run_plan_and_bad_study_files(tmp_path):
    path = tmp_path / "zoo-study.yaml"
    path.write_text("models: [flan-t5-xxl, t5-xxl, smollm2-135m-instruct]\nbenchmarks: [Tuckute2024-ridge]\n")
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "o"), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "3 tasks (3 pending, 0 finished)" in result.output
    plan = plan_study(load_study(path), tmp_path / "o")
    # flan-t5-xxl: 11.3e9 parameters × 4 bytes + activations, × 1.3 headroom
    assert 1.3 * 11.3e9 * 4 < plan.memory["flan-t5-xxl"] < 1.3 * 11.3e9 * 4 * 1.05
    path.write_text("models: [llama-7b]\nbenchmarks: [Tuckute2024-ridge]\n")
    with pytest.raises(InvalidInputError, match="no known checkpoint"):
        load_study(path)
    path.write_text("models: [t5-xxl]\nbenchmark: [Tuckute2024-ridge]\n")
    with pytest.raises(InvalidInputError, match=":2: unknown field 'benchmark'"):
        load_study(path)
