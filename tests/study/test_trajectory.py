"""Trajectories on a tiny model: 2 arms × 2 seeds × 3 checkpoints (+ the base) end to end under the local executor and
on a local Ray cluster with the same numbers; a driver SIGKILLed mid-tuning resumes without redoing finished
checkpoints; the ablation arms' training tokens hold no instruction span; bad files are refused before work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import typer
from scipy import stats
from typer.testing import CliRunner

from tests.report.page import read_page
from tuneshift.cli.study import app as study_app
from tuneshift.cli.tune import trajectory as trajectory_command
from tuneshift.errors import InvalidInputError
from tuneshift.report.figures import trajectory_curves, trajectory_losses
from tuneshift.study.trajectory import (
    compare_arms,
    layer_profiles,
    load_trajectory,
    plan_trajectory,
    run_trajectory,
    summarize,
    training_losses,
    trajectory_table,
)
from tuneshift.tune import TuneOptions, encode_dataset, load_dataset
from tuneshift.tune.encode import IGNORE

BENCHMARK = "test-mean-surprisal"
N_STEPS, EVERY = 6, 2


def _benchmark_hook():
    """A function that registers BENCHMARK: the mean surprisal (bits) of three sentences, through the subject's own
    surprisal — a real computation that moves with the weights, in a second where Futrell2018 takes ~15 s on these
    machines. A closure, so that Ray pickles it by value (its workers register it through their setup hook) and a
    driver process can call it too."""
    from tests._tiny import CORPUS

    passages = [sentence.split() for sentence in CORPUS[:3]]

    def register() -> None:
        import numpy as np

        from tuneshift.benchmarks._base import BENCHMARKS, Benchmark, BenchmarkResult, score_rows

        def run(subject, options, *, cache=True, progress=True) -> BenchmarkResult:
            bits = subject.surprisal(passages, readout=options, cache=False, progress=False)
            return BenchmarkResult(score_rows(subject.name, BENCHMARK, [0], [float(np.nanmean(bits))], None))

        if BENCHMARK not in BENCHMARKS:
            BENCHMARKS.add(BENCHMARK, Benchmark(BENCHMARK, "behavioral", run, description="test only"))

    return register


@pytest.fixture(scope="module", autouse=True)
def test_benchmark():
    from tuneshift.benchmarks._base import BENCHMARKS

    _benchmark_hook()()
    yield
    BENCHMARKS._entries.pop(BENCHMARK, None)  # other test modules list every registered benchmark


def _write(path: Path, trajectory: dict, **top) -> Path:
    path.write_text(
        json.dumps({"trajectory": trajectory, "benchmarks": [BENCHMARK], "options": {"cache": False}, **top})
    )
    return path


@pytest.fixture(scope="module")
def trajectory_file(tiny_model_dirs, tmp_path_factory) -> Path:
    spec = {
        "base": str(tiny_model_dirs["llama"]),
        "data": "seed-tasks",
        "arms": ["instructions", "drop-instruction"],
        "seeds": [0, 1],
        "steps": N_STEPS,
        "save_every": EVERY,
        "options": {"batch_size": 4, "max_length": 64, "learning_rate": 5e-3},
    }
    return _write(tmp_path_factory.mktemp("trajectory") / "trajectory.yaml", spec)


@pytest.fixture(scope="module")
def local_run(trajectory_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "out"
    return out, run_trajectory(load_trajectory(trajectory_file), out, progress=False)


def test_local_trajectory_end_to_end(local_run):
    out, outcome = local_run
    # 4 tuning runs + the base; 6 steps each; 3 checkpoints per run + the base scored once
    assert (outcome.done, outcome.failed, outcome.tuned_steps, outcome.scored) == (5, 0, 4 * N_STEPS, 4 * 3 + 1)
    table = trajectory_table(out)
    assert len(table) == 4 * 4 and set(table["step"]) == {0, 2, 4, 6}
    base = table[table["step"] == 0]
    assert base["best_raw"].nunique() == 1 and base["fingerprint"].nunique() == 1  # one base, scored once
    tuned = table[table["step"] > 0]
    assert tuned["fingerprint"].nunique() == 12  # every checkpoint of every run is another model
    # tokens seen grow with the steps; without the instruction each step reads fewer tokens
    tokens = table.pivot_table(index=["arm", "seed"], columns="step", values="tokens_seen")
    assert (tokens.diff(axis=1).iloc[:, 1:] > 0).all().all()
    assert (tokens.loc["instructions", 6] > tokens.loc["drop-instruction", 6]).all()
    assert (out / "trajectory.csv").exists() and (out / "trajectory.png").stat().st_size > 5000
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "trajectory.csv")[["step", "best_raw"]], table[["step", "best_raw"]]
    )
    record = json.loads((out / "trajectory.json").read_text())
    assert "FinalDataset" in record["holdout_note"] and record["checkpoint_steps"] == [0, 2, 4, 6]


def test_summary_comparison_and_figure(local_run):
    out, _ = local_run
    table = trajectory_table(out)
    summary = summarize(table)
    row = summary[(summary["arm"] == "instructions") & (summary["step"] == 4)].iloc[0]
    values = table[(table["arm"] == "instructions") & (table["step"] == 4)]["best_raw"].to_numpy()
    half = stats.t.ppf(0.975, 1) * values.std(ddof=1) / np.sqrt(2)  # t-interval over 2 seeds
    assert row["n_seeds"] == 2 and row["mean"] == pytest.approx(values.mean())
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((values.mean() - half, values.mean() + half))
    difference = compare_arms(table, "instructions", "drop-instruction")
    assert list(difference["step"]) == [2, 4, 6, "all"] and set(difference["test"]) == {"paired t"}
    at6 = table[table["step"] == 6].set_index(["arm", "seed"])["best_raw"]
    expected = stats.ttest_rel(at6["instructions"].sort_index(), at6["drop-instruction"].sort_index())
    assert difference.iloc[2]["p"] == pytest.approx(expected.pvalue)
    one_seed = compare_arms(table[table["seed"] == 0], "instructions", "drop-instruction")
    assert set(one_seed["test"]) == {"none (< 2 seeds)"} and one_seed["p"].isna().all()
    profiles = layer_profiles(out, steps=[0, 6])  # one layer row per checkpoint for this one-row benchmark
    assert len(profiles) == 4 * 2 and set(profiles["step"]) == {0, 6}
    merged = profiles.merge(table, on=["arm", "seed", "step", "benchmark"])
    np.testing.assert_array_equal(merged["raw"], merged["best_raw"])
    losses = training_losses(out)
    assert len(losses) == 4 * N_STEPS
    figure = trajectory_curves(table, summary)
    (panel,) = figure.axes
    assert panel.get_title().startswith(BENCHMARK) and panel.get_xlabel() == "optimizer step"
    assert len(panel.lines) == 1 + 4 + 2  # the base, one thin line per (arm, seed), one mean curve per arm
    assert len(trajectory_losses(losses).axes[0].lines) == 4  # one loss curve per (arm, seed)


def test_study_run_on_a_trajectory_file_resumes_it_and_writes_its_report(local_run, trajectory_file):
    out, _ = local_run
    result = CliRunner().invoke(study_app, ["run", str(trajectory_file), "--out", str(out)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "0 tuning steps and 0 checkpoint × benchmark scorings now" in said  # all finished before
    page = read_page(out / "report.html")
    assert page.sections == ["design", "curves", "loss", "checkpoints"] and len(page.figures) == 2
    assert "n = 2 seed(s) per arm" in page.text and (out / "trajectory-loss.png").stat().st_size > 5000


def test_ray_executor_gives_the_same_numbers(local_run, trajectory_file, tmp_path):
    ray = pytest.importorskip("ray")
    out, _ = local_run
    ray.init(
        num_cpus=2,
        object_store_memory=80 * 2**20,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"worker_process_setup_hook": _benchmark_hook()},
    )
    try:
        on_ray = run_trajectory(load_trajectory(trajectory_file), tmp_path / "ray", executor="ray", progress=False)
    finally:
        ray.shutdown()
    assert (on_ray.done, on_ray.failed, on_ray.scored) == (5, 0, 13)
    columns = ["arm", "seed", "step", "tokens_seen", "best_raw", "fingerprint"]
    pd.testing.assert_frame_equal(trajectory_table(tmp_path / "ray")[columns], trajectory_table(out)[columns])


_DRIVER = """
import sys, time
sys.path.insert(0, sys.argv[3])
from tests.study.test_trajectory import _benchmark_hook
_benchmark_hook()()
import tuneshift.tune.train as train
from tuneshift.study.trajectory import load_trajectory, run_trajectory
real = train.token_losses
def slow(*args, **kwargs):  # 0.3 s per training step: the kill lands mid-tuning, not between runs
    time.sleep(0.3)
    return real(*args, **kwargs)
train.token_losses = slow
run_trajectory(load_trajectory(sys.argv[1]), sys.argv[2], progress=False)
"""


def test_sigkill_mid_tuning_resumes_without_redoing_checkpoints(trajectory_file, local_run, tmp_path):
    out = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    root = Path(__file__).parents[2]
    driver = subprocess.Popen([sys.executable, "-c", _DRIVER, str(trajectory_file), str(out), str(root)], env=env)
    second = out / "runs" / "drop-instruction-seed0"  # the base, then instructions-seed0, then this run
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and driver.poll() is None:
        if (second / "checkpoints" / "step-000002").exists():
            break
        time.sleep(0.02)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    assert not (second / "tuneshift-tune.json").exists(), "the driver was to be killed while tuning this run"
    state = second / "checkpoint" / "state.pt"
    resumed_from = torch.load(state, weights_only=True)["step"] if state.exists() else 0
    saved = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/checkpoints/step-*/tuneshift-checkpoint.json")}
    scored = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/scored/step-*.json")}
    assert len(scored) >= 4  # the base and instructions-seed0's three checkpoints were scored before the kill

    rerun = run_trajectory(load_trajectory(trajectory_file), out, progress=False)
    # counted: only the steps after the resume state and the scorings not finished before the kill were done
    assert rerun.failed == 0 and rerun.tuned_steps == 4 * N_STEPS - N_STEPS - resumed_from
    assert rerun.scored == 13 - len(scored)
    for path, mtime in {**saved, **scored}.items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was redone"
    columns = ["arm", "seed", "step", "tokens_seen", "best_raw", "fingerprint"]
    pd.testing.assert_frame_equal(trajectory_table(out)[columns], trajectory_table(local_run[0])[columns])


def _contains(sequence: list[int], sub: list[int]) -> bool:
    return any(sequence[i : i + len(sub)] == sub for i in range(len(sequence) - len(sub) + 1))


def test_ablation_arms_train_on_no_instruction_token(tiny_models):
    """Token by token: each instruction's inner words (its first and last word merge with the neighbouring text) are
    in every `instructions` sequence and in no `drop-instruction` or `plain-lm` one; plain-lm reads exactly the
    drop-instruction tokens, with loss on all of them."""
    from tuneshift.study.trajectory import ARMS

    tokenizer = tiny_models["gpt2"].tokenizer  # byte-level: every character has tokens, none is <unk>
    dataset = load_dataset("seed-tasks")
    encoded = {
        arm: encode_dataset(dataset, tokenizer, TuneOptions(max_length=100_000, **options), encoder_decoder=False)
        for arm, options in ARMS.items()
    }
    checked = 0
    for i, example in enumerate(dataset.examples):
        text = example.instruction.strip()
        if text.count(" ") < 3:
            continue  # too short to hold an inner span
        inner_text = text[text.index(" ") : text.rindex(" ")]
        if inner_text.strip() in example.input or inner_text.strip() in example.output:
            continue  # the input or the response repeats it: kept on purpose
        inner = tokenizer(inner_text, add_special_tokens=False)["input_ids"]
        assert _contains(encoded["instructions"][i].input_ids, inner)
        assert not _contains(encoded["drop-instruction"][i].input_ids, inner)
        assert not _contains(encoded["plain-lm"][i].input_ids, inner)
        checked += 1
    assert checked > 150
    for plain, dropped in zip(encoded["plain-lm"], encoded["drop-instruction"], strict=True):
        assert plain.input_ids == dropped.input_ids and plain.labels == plain.input_ids
        assert IGNORE in dropped.labels or not dropped.prompt  # the ablation still has no loss on its input


def test_bad_files_are_refused_before_work(tiny_model_dirs, tmp_path):
    base = {"base": str(tiny_model_dirs["llama"]), "arms": ["instructions"], "steps": 6, "save_every": 2}
    too_far = _write(tmp_path / "far.yaml", base | {"save_every": 7})
    with pytest.raises(InvalidInputError, match=r"far.yaml:\d+: a checkpoint interval \(7\) larger than the run"):
        load_trajectory(too_far)
    unknown = _write(tmp_path / "arm.yaml", base | {"arms": ["instruction"]})
    with pytest.raises(InvalidInputError, match=r"unknown arm 'instruction'\. Built-in arms: instructions"):
        load_trajectory(unknown)
    bad_lr = _write(tmp_path / "lr.yaml", base | {"options": {"learning_rate": float("inf")}})
    with pytest.raises(ValueError, match="learning_rate"):
        load_trajectory(bad_lr)
    # every FinalDataset prompt is held out of training: an arm trained on FinalDataset has nothing left
    held = _write(tmp_path / "held.yaml", base | {"arms": ["instructions", {"name": "wu", "data": "finaldataset"}]})
    trajectory = load_trajectory(held)
    with pytest.raises(InvalidInputError, match="Arm 'wu': no training example is left"):
        plan_trajectory(trajectory, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    # a user arm: a data file (relative to the trajectory file) plus options
    (tmp_path / "mine.jsonl").write_text('{"instruction": "Say hi.", "output": "Hi there"}\n' * 3)
    user = _write(
        tmp_path / "user.yaml", base | {"arms": [{"name": "mine", "data": "mine.jsonl", "options": {"lora_rank": 2}}]}
    )
    run = load_trajectory(user).runs[0]
    assert run.name == "mine-seed0" and load_trajectory(user).options_for(run).lora_rank == 2
    # one of the three is a FinalDataset prompt (its instruction, spacing and case changed): held out and counted
    wu = load_dataset("finaldataset").examples[5]
    lines = [{"instruction": f"  {wu.instruction.upper()} ", "input": wu.input, "output": "x"}]
    lines += [{"instruction": f"Count to {n}.", "output": "1 2 3"} for n in (3, 4)]
    (tmp_path / "mine.jsonl").write_text("\n".join(json.dumps(line) for line in lines))
    plan = plan_trajectory(load_trajectory(user), tmp_path / "out").rows.set_index("run")
    assert (plan.loc["mine-seed0", "examples"], plan.loc["mine-seed0", "held_out"]) == (2, 1)


def test_dry_run_prints_the_plan_and_an_estimate(trajectory_file, tmp_path):
    app = typer.Typer()
    app.command()(trajectory_command)
    result = CliRunner().invoke(app, [str(trajectory_file), "--out", str(tmp_path / "dry"), "--dry-run"])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())  # rich wraps lines at the terminal width
    assert "2 arm(s) × 2 seed(s), 6 steps, checkpoints at [0, 2, 4, 6]" in output
    assert "To do: 24 tuning steps, 13 checkpoint × benchmark scorings." in output
    assert "Estimate:" in output and "training tokens/s" in output
    assert not (tmp_path / "dry").exists()
