"""A Ray worker killed mid-task (SIGKILL by pid, local Ray cluster): the job is retried once; killed again, its task
is recorded in failures.csv with the cause and the other model's task finishes; a rerun completes it (issue 24)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from tuneshift.study.run import load_study, run_study

BENCHMARK = "Futrell2018-pearsonr"


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A local Ray cluster of 2 CPUs (its raylet must start within Ray's fixed 30 s: tried twice on a busy machine)."""
    ray = pytest.importorskip("ray")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TUNESHIFT_CACHE", str(tmp_path_factory.mktemp("cache")))  # workers inherit it
        patch.setenv("OMP_NUM_THREADS", "1")
        error = None
        for _ in range(2):
            try:
                ray.init(num_cpus=2, object_store_memory=80 * 2**20, include_dashboard=False, log_to_driver=False)
                break
            except Exception as failure:  # Ray raises a bare Exception on a start-up timeout
                error = failure
                ray.shutdown()
        else:
            pytest.skip(f"a local Ray cluster did not start here: {error}")
        yield ray
        ray.shutdown()


def _kill_running(status: Path, times: int, killed: list[int], stop: threading.Event) -> None:
    """SIGKILL the worker process that the task's status file names while the task runs, `times` times."""
    while not stop.is_set() and len(killed) < times:
        try:
            record = json.loads(status.read_text())
        except (OSError, ValueError):
            record = {}
        if record.get("state") == "running" and record["pid"] not in killed:
            os.kill(record["pid"], signal.SIGKILL)
            killed.append(record["pid"])
        time.sleep(0.05)


def test_ray_worker_killed_twice_is_recorded_and_a_rerun_completes(ray_cluster, tiny_model_dirs, tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(
        "models:\n"
        f"  - {{name: victim, spec: {tiny_model_dirs['llama']}, params_b: 0.0001, layers: 2}}\n"
        f"  - {{name: bystander, spec: {tiny_model_dirs['gpt2']}, params_b: 0.0001, layers: 2}}\n"
        f"benchmarks: [{BENCHMARK}]\n"
        "options: {cache: false}\n"
    )
    study = load_study(path)
    out = tmp_path / "out"
    victim = next(m for m in study.models if m.name == "victim")
    status = out / "status" / f"{victim.key}-{BENCHMARK}.json"
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_running, args=(status, 2, killed, stop), daemon=True)
    killer.start()
    try:
        outcome = run_study(study, out, executor="ray", progress=False)
    finally:
        stop.set()
        killer.join()
    assert len(killed) == 2 and killed[0] != killed[1], "the first kill was retried in a new worker, then killed"
    assert (outcome.done, outcome.failed) == (1, 1)  # not retried a third time; the bystander finished
    failures = pd.read_csv(out / "failures.csv")
    assert list(failures["model"]) == ["victim"] and failures.loc[0, "stage"] == "worker"
    cause = failures.loc[0, "error"]
    assert cause.startswith("worker lost while running this task (tried twice):") and "died" in cause.lower(), cause
    assert set(pd.read_csv(out / "scores.csv")["model"]) == {"bystander"}

    rerun = run_study(load_study(path), out, executor="ray", progress=False)
    assert (rerun.done, rerun.failed, rerun.skipped) == (1, 0, 1)
    assert set(pd.read_csv(out / "scores.csv")["model"]) == {"victim", "bystander"}
    assert pd.read_csv(out / "failures.csv").empty  # the fixed task left the failures file
