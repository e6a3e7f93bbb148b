"""Alignment along the tuning run (Aw et al. 2023, Fig. 1D and 8): arms × seeds tuned with checkpoints, every
checkpoint scored on every benchmark, curves with seeds as the unit of replication.

A trajectory file::

    trajectory:
      base: gemma3-270m                 # any model argument
      data: seed-tasks                  # bundled set or a file (relative to this file); Alpaca JSON / JSONL / ...
      arms: [instructions, drop-instruction, plain-lm]   # built-in names, or {name, data, format, options}
      seeds: [0, 1]
      steps: 300
      save_every: 50
      options: {batch_size: 1, max_length: 128}          # tuning options (TuneOptions fields)
      holdout: finaldataset             # default; "none" trains on everything
    benchmarks: [Tuckute2024-ridge, Futrell2018-deltall]
    benchmark_options: {}
    options: {cache: true}              # scoring: dtype, device, cache

Arms (:data:`ARMS`): ``instructions`` (instruction and input → response, loss on the response), ``drop-instruction``
(the same examples in the same order with the instruction text removed, input kept: Aw et al.'s ablation) and
``plain-lm`` (the drop-instruction text as plain language modelling, loss on every token, no template: "saw more
text" without the instruction format). Every arm of a seed reads the examples in the same order.

Held out: training examples whose instruction (or instruction + input) is one of Wu et al.'s FinalDataset prompts
(bundled; the items the instruction-following analyses score) are removed before tuning, and counted in the plan and
in ``trajectory.json``.

Work: one job per (arm, seed) tuning run, plus one for the base (step 0), run by the study executors (local or Ray):
``DIR/runs/<arm>-seed<k>/`` is the tuning output (checkpoints, loss.csv; resumable), its ``results/`` the results
store of its checkpoints' scores, ``scored/step-N.json`` each checkpoint's finished benchmarks. A rerun resumes the
tuning from its last resume state and skips every checkpoint × benchmark already scored, without loading it.

Analysis: ``DIR/trajectory.csv`` (one row per arm, seed, step, benchmark: tokens seen, loss, scores),
:func:`summarize` (mean and t-interval over seeds per arm and step), :func:`compare_arms` (the difference between two
arms per step and over the whole run, seeds as the unit: paired t-test when both arms ran the same seeds); the
figures are :func:`tuneshift.report.figures.trajectory_curves` and ``trajectory_losses``, and the folder's report
:func:`tuneshift.report.write_trajectory_report`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import re
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tuneshift._io import write_csv, write_json
from tuneshift.errors import InvalidInputError

#: Built-in arms: the tuning options each sets.
ARMS: dict[str, dict[str, Any]] = {
    "instructions": {"drop_instruction": False, "loss_on": "response"},
    "drop-instruction": {"drop_instruction": True, "loss_on": "response"},
    "plain-lm": {"drop_instruction": True, "loss_on": "all", "chat_template": False},
}
HOLDOUTS = ("finaldataset", "none")
TRAJECTORY_FIELDS = ("base", "data", "format", "arms", "seeds", "steps", "save_every", "options", "holdout")
TOP_FIELDS = ("trajectory", "benchmarks", "benchmark_options", "options")
SCORE_OPTIONS = ("dtype", "device", "cache")
#: Tokens a benchmark reads per scoring, for the dry run's estimate (words × ~1.3 tokens; unknown ones: 20k).
READ_TOKENS = {"Futrell2018": 13_500, "Tuckute2024": 16_000, "Pereira2018": 12_000, "Blank2014": 13_000}
BASE_RUN = "base"
SCORES = ("best_raw", "honest_raw", "best_normalized")


@dataclass(frozen=True)
class Arm:
    """One way of tuning: a name, its data (None: the trajectory's) and the tuning options it sets."""

    name: str
    data: str | None = None
    format: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunSpec:
    """One tuning run (arm, seed), or the base (arm None): what a job does."""

    arm: Arm | None
    seed: int = 0

    @property
    def name(self) -> str:
        return BASE_RUN if self.arm is None else f"{self.arm.name}-seed{self.seed}"


@dataclass
class Trajectory:
    """A parsed trajectory file (see the module docstring)."""

    base: str
    data: str
    format: str | None
    arms: list[Arm]
    seeds: list[int]
    steps: int
    save_every: int
    tune_options: dict[str, Any]
    benchmarks: list[str]
    benchmark_options: dict[str, Any] = field(default_factory=dict)
    score_options: dict[str, Any] = field(default_factory=dict)
    holdout: str = "finaldataset"
    source: str = ""

    @property
    def checkpoint_steps(self) -> list[int]:
        """Scored steps: 0 (the base) and every `save_every` up to `steps`."""
        return [0, *range(self.save_every, self.steps + 1, self.save_every)]

    @property
    def runs(self) -> list[RunSpec]:
        """Seed-major (every arm of seed 0, then of seed 1, ...): a run stopped early holds whole comparisons."""
        return [RunSpec(arm, seed) for seed in self.seeds for arm in self.arms]

    def options_for(self, run: RunSpec):
        """The TuneOptions of one run (trajectory options, then the arm's, then seed, steps, save_every)."""
        from tuneshift.tune import TuneOptions

        merged = {**self.tune_options, **run.arm.options}
        return TuneOptions(**merged, seed=run.seed, max_steps=self.steps, save_every=self.save_every)

    def scoring_key(self) -> str:
        """Hash of what changes a checkpoint's scores besides its weights (benchmark options, dtype)."""
        payload = {"benchmark_options": self.benchmark_options, "dtype": self.score_options.get("dtype", "float32")}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]


# --------------------------------------------------------------------------------------------------- parsing


def is_trajectory_file(path: str | os.PathLike) -> bool:
    """Is `path` a trajectory file (a mapping with `trajectory:`), which `tuneshift study run` runs as a trajectory?
    False for anything else, unreadable files included (the study loader names their problem)."""
    from tuneshift._yaml import load_yaml

    try:
        document = load_yaml(path, what="study file")
    except InvalidInputError:
        return False
    return isinstance(document, dict) and "trajectory" in document


def load_trajectory(path: str | os.PathLike) -> Trajectory:
    """Parse and check a trajectory file: every error names the file, the line and the field, before any work."""
    from tuneshift._yaml import load_yaml

    path = Path(path)
    document = load_yaml(path, what="trajectory file")
    where = f"{path}:{getattr(document, 'line', 1)}"
    if not isinstance(document, dict) or not isinstance(document.get("trajectory"), dict):
        raise InvalidInputError(f"{where}: a trajectory file is a mapping with `trajectory:` and `benchmarks:`.")
    _known(document, TOP_FIELDS, path)
    spec = document["trajectory"]
    _known(spec, TRAJECTORY_FIELDS, path)

    def line(mapping: dict, key: str) -> str:
        return f"{path}:{getattr(mapping, 'key_lines', {}).get(key, getattr(mapping, 'line', 1))}"

    base = spec.get("base")
    if not isinstance(base, str) or not base:
        raise InvalidInputError(f"{line(spec, 'base')}: `base:` names the model to tune (any model argument).")
    steps, save_every = spec.get("steps"), spec.get("save_every")
    for name, value in (("steps", steps), ("save_every", save_every)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInputError(f"{line(spec, name)}: `{name}:` must be a positive integer, got {value!r}.")
    if save_every > steps:
        raise InvalidInputError(
            f"{line(spec, 'save_every')}: a checkpoint interval ({save_every}) larger than the run ({steps} steps) "
            "saves nothing. Lower save_every or raise steps."
        )
    seeds = spec.get("seeds", [0])
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
    ):
        raise InvalidInputError(f"{line(spec, 'seeds')}: `seeds:` must be a non-empty list of integers.")
    if len(set(seeds)) != len(seeds):
        raise InvalidInputError(f"{line(spec, 'seeds')}: seeds must be distinct, got {seeds}.")
    data = _relative(spec.get("data", "seed-tasks"), path)
    arms = [_arm(item, path, line(spec, "arms")) for item in spec.get("arms") or []]
    if not arms:
        raise InvalidInputError(f"{line(spec, 'arms')}: `arms:` lists at least one arm: {', '.join(ARMS)}.")
    if len({a.name for a in arms}) != len(arms):
        raise InvalidInputError(f"{line(spec, 'arms')}: arm names must be distinct.")
    holdout = spec.get("holdout", "finaldataset")
    if holdout not in HOLDOUTS:
        raise InvalidInputError(f"{line(spec, 'holdout')}: `holdout:` is one of {HOLDOUTS}, got {holdout!r}.")
    benchmarks = document.get("benchmarks")
    if not isinstance(benchmarks, list) or not benchmarks or not all(isinstance(b, str) for b in benchmarks):
        raise InvalidInputError(f"{line(document, 'benchmarks')}: `benchmarks:` is a non-empty list of benchmark ids.")
    from tuneshift.benchmarks import BENCHMARKS

    for benchmark in benchmarks:
        BENCHMARKS.get(benchmark)  # UnknownNameError lists the ids
    score_options = dict(document.get("options") or {})
    unknown = sorted(set(score_options) - set(SCORE_OPTIONS))
    if unknown:
        raise InvalidInputError(f"{line(document, 'options')}: unknown option(s) {unknown}; options: {SCORE_OPTIONS}.")
    trajectory = Trajectory(
        base=base,
        data=data,
        format=spec.get("format"),
        arms=arms,
        seeds=seeds,
        steps=steps,
        save_every=save_every,
        tune_options=dict(spec.get("options") or {}),
        benchmarks=list(benchmarks),
        benchmark_options=dict(document.get("benchmark_options") or {}),
        score_options=score_options,
        holdout=holdout,
        source=str(path),
    )
    for run in trajectory.runs:  # every run's options checked now (InvalidParameterError names the option)
        try:
            trajectory.options_for(run)
        except TypeError as error:
            raise InvalidInputError(f"{line(spec, 'options')}: {error} (run {run.name}).") from None
    return trajectory


def _known(mapping: dict, allowed: Sequence[str], path: Path) -> None:
    for key in mapping:
        if key not in allowed:
            at = getattr(mapping, "key_lines", {}).get(key, 1)
            raise InvalidInputError(f"{path}:{at}: unknown field {key!r}. Fields: {', '.join(allowed)}.")


def _relative(data: object, path: Path) -> str:
    """A data file relative to the trajectory file, or a bundled set's name as it is."""
    from tuneshift.tune import BUNDLED

    if not isinstance(data, str) or not data:
        raise InvalidInputError(f"{path}: `data:` is a bundled set ({', '.join(BUNDLED)}) or a file.")
    if data in BUNDLED:
        return data
    candidate = Path(data).expanduser()
    return str(candidate if candidate.is_absolute() else path.parent / candidate)


def _arm(item: object, path: Path, where: str) -> Arm:
    if isinstance(item, str):
        if item not in ARMS:
            raise InvalidInputError(
                f"{where}: unknown arm {item!r}. Built-in arms: {', '.join(ARMS)}; a user arm is a mapping "
                "{name, data, format, options}."
            )
        return Arm(item, options=ARMS[item])
    if isinstance(item, dict) and isinstance(item.get("name"), str):
        extra = sorted(set(item) - {"name", "data", "format", "options", "like"})
        if extra:
            raise InvalidInputError(f"{where}: arm {item['name']!r} has unknown field(s) {extra}.")
        like = item.get("like", "instructions")
        if like not in ARMS:
            raise InvalidInputError(f"{where}: arm {item['name']!r}: `like:` is one of {', '.join(ARMS)}.")
        data = _relative(item["data"], path) if item.get("data") else None
        return Arm(item["name"], data, item.get("format"), {**ARMS[like], **dict(item.get("options") or {})})
    raise InvalidInputError(f"{where}: an arm is a built-in name or a mapping with `name:` (and data, options).")


# ------------------------------------------------------------------------------------------------------ data


def _normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


@functools.lru_cache(maxsize=1)
def held_out_prompts() -> frozenset[str]:
    """Normalised instructions and instruction + input prompts of Wu et al.'s FinalDataset (bundled)."""
    from tuneshift.tune import load_dataset

    examples = load_dataset("finaldataset").examples
    return frozenset(
        text for e in examples for text in (_normalize(e.instruction), _normalize(f"{e.instruction} {e.input}"))
    )


def arm_dataset(trajectory: Trajectory, arm: Arm):
    """The arm's training examples with the held-out prompts removed; refused when none is left."""
    from tuneshift.tune import load_dataset

    dataset = load_dataset(arm.data or trajectory.data, arm.format if arm.data else trajectory.format)
    if trajectory.holdout == "none":
        return dataset
    held = held_out_prompts()
    kept = [
        e
        for e in dataset.examples
        if _normalize(e.instruction) not in held and _normalize(f"{e.instruction} {e.input}") not in held
    ]
    removed = len(dataset.examples) - len(kept)
    if not kept:
        raise InvalidInputError(
            f"Arm {arm.name!r}: no training example is left in {dataset.path} after holding out the "
            f"{len(dataset.examples)} that are Wu et al.'s FinalDataset prompts (what the instruction-following "
            "analyses score). Train on other data, or set `holdout: none` knowingly."
        )
    digest = hashlib.sha256(f"{dataset.sha256}:holdout={trajectory.holdout}:{removed}".encode()).hexdigest()
    filtered = dataclasses.replace(dataset, examples=kept, sha256=digest)
    filtered.held_out = removed  # type: ignore[attr-defined]  (reported in the plan)
    return filtered


# ------------------------------------------------------------------------------------------------------ plan


@dataclass
class TrajectoryPlan:
    """What a run will do: per run, the examples, held-out count, steps to tune and checkpoints to score."""

    trajectory: Trajectory
    out: Path
    rows: pd.DataFrame

    def describe(self) -> str:
        t = self.trajectory
        lines = [
            f"Trajectory of {t.base}: {len(t.arms)} arm(s) × {len(t.seeds)} seed(s), {t.steps} steps, checkpoints at "
            f"{t.checkpoint_steps} (0 = the base), benchmarks {', '.join(t.benchmarks)}.",
            self.rows.to_string(index=False),
        ]
        held = self.rows["held_out"].max()
        if t.holdout != "none":
            lines.append(
                f"Held out from training: {held} example(s) whose prompt is one of Wu et al.'s FinalDataset prompts."
            )
        tune_left, score_left = int(self.rows["steps_to_tune"].sum()), int(self.rows["scorings_to_do"].sum())
        lines.append(f"To do: {tune_left} tuning steps, {score_left} checkpoint × benchmark scorings.")
        return "\n".join(lines)


def plan_trajectory(trajectory: Trajectory, out_dir: str | os.PathLike) -> TrajectoryPlan:
    """Every run's data (read and filtered now, so an empty arm is refused before work), what is finished already."""
    out = Path(out_dir)
    rows = []
    datasets = {arm.name: arm_dataset(trajectory, arm) for arm in trajectory.arms}
    for run in [RunSpec(None), *trajectory.runs]:
        steps = [0] if run.arm is None else trajectory.checkpoint_steps[1:]
        done_steps = _done_steps(out, run, trajectory) if run.arm is not None else 0
        scored = _scored(out / "runs" / run.name, trajectory)
        dataset = datasets[run.arm.name] if run.arm else None
        rows.append(
            {
                "run": run.name,
                "examples": len(dataset.examples) if dataset else 0,
                "held_out": getattr(dataset, "held_out", 0) if dataset else 0,
                "steps_to_tune": 0 if run.arm is None else trajectory.steps - done_steps,
                "checkpoints": len(steps),
                "scorings_to_do": sum(len(set(trajectory.benchmarks) - scored.get(step, set())) for step in steps),
            }
        )
    return TrajectoryPlan(trajectory, out, pd.DataFrame(rows))


def _done_steps(out: Path, run: RunSpec, trajectory: Trajectory) -> int:
    """Steps a previous run of `run` finished (its record, else its resume state's step, else its checkpoints)."""
    from tuneshift.tune import RECORD, list_checkpoints

    folder = out / "runs" / run.name
    if (folder / RECORD).exists():
        return trajectory.steps
    saved = [c["step"] for c in list_checkpoints(folder)]
    return max(saved, default=0)


def estimate_seconds(plan: TrajectoryPlan, *, measure_steps: int = 2) -> dict[str, float]:
    """Estimated wall time: tuning from `measure_steps` steps timed on this machine with the first run's options,
    scoring from the forward throughput (≈ 3 × the training throughput) and the tokens each benchmark reads."""
    import tempfile

    from tuneshift.tune import tune

    t = plan.trajectory
    first = t.runs[0]
    options = dataclasses.replace(t.options_for(first), max_steps=measure_steps, save_every=None)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        dataset = arm_dataset(t, first.arm)
        tune(t.base, Path(tmp) / "probe", dataset=dataset, options=options, progress=False, on_step=rows.append)
    steady = rows[1:] or rows
    tokens_per_s = sum(r["tokens"] for r in steady) / sum(r["tokens"] / r["tokens_per_s"] for r in steady)
    seconds_per_step = sum(r["tokens"] / r["tokens_per_s"] for r in steady) / len(steady)
    read = sum(READ_TOKENS.get(b.split("-")[0].split(".")[0], 20_000) for b in t.benchmarks)
    per_checkpoint = read / (3 * tokens_per_s)
    tuning = seconds_per_step * float(plan.rows["steps_to_tune"].sum())
    scoring = per_checkpoint * float(plan.rows["scorings_to_do"].sum()) / len(t.benchmarks)
    return {
        "tokens_per_s": tokens_per_s,
        "seconds_per_step": seconds_per_step,
        "scoring_s_per_checkpoint": per_checkpoint,
        "tuning_s": tuning,
        "scoring_s": scoring,
        "total_s": tuning + scoring,
    }


# ------------------------------------------------------------------------------------------------------- work


def _scored(folder: Path, trajectory: Trajectory) -> dict[int, set[str]]:
    """Step → benchmarks already scored (same scoring options) for the run in `folder`."""
    found: dict[int, set[str]] = {}
    for path in (folder / "scored").glob("step-*.json") if (folder / "scored").is_dir() else []:
        record = _read_json(path)
        if record.get("scoring_key") == trajectory.scoring_key():
            found[int(record["step"])] = set(record.get("benchmarks", {}))
    return found


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def run_job(job, trajectory: Trajectory, out_dir: str, on_event: Callable | None = None) -> list[dict]:
    """One job of the study executors: tune `job.model` (a RunSpec; the base: nothing to tune) with checkpoints, then
    score every checkpoint not yet scored. Returns one outcome; never raises for the run's own failure."""
    run: RunSpec = job.model
    start = time.perf_counter()
    if on_event:
        on_event("running", {"model": run.name})
    try:
        counts = tune_and_score(run, trajectory, Path(out_dir))
        state, extra = "done", {"scored": counts["scored"], "tuned_steps": counts["tuned_steps"]}
    except Exception as error:
        state = "failed"
        extra = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc(limit=-3)}
    outcome = {"model": run.name, "benchmark": "+".join(job.benchmarks), "state": state, **extra}
    outcome["seconds"] = time.perf_counter() - start
    if on_event:
        on_event(state, outcome)
    return [outcome]


def tune_and_score(run: RunSpec, trajectory: Trajectory, out: Path) -> dict[str, int]:
    """Tune one run (resuming) and score its checkpoints; the base run scores the base. Returns counts of the
    tuning steps done and the checkpoint × benchmark scorings done now (what a resumed run redid)."""
    from tuneshift.tune import list_checkpoints, tune

    folder = out / "runs" / run.name
    tuned_steps = 0
    if run.arm is None:
        manifests = [{"step": 0, "path": None, "tokens_seen": 0, "loss": None}]
    else:
        rows: list[dict] = []
        tune(
            trajectory.base,
            folder,
            dataset=arm_dataset(trajectory, run.arm),
            options=trajectory.options_for(run),
            progress=False,
            on_step=rows.append,
            final_model=False,
            run_name=run.name,
        )
        tuned_steps = len(rows)
        manifests = [m for m in list_checkpoints(folder) if m["step"] in trajectory.checkpoint_steps]
    scored = 0
    done = _scored(folder, trajectory)
    for manifest in manifests:
        todo = [b for b in trajectory.benchmarks if b not in done.get(manifest["step"], set())]
        if todo:
            scored += _score_checkpoint(run, manifest, todo, trajectory, folder)
    return {"tuned_steps": tuned_steps, "scored": scored}


def _score_checkpoint(run: RunSpec, manifest: dict, benchmarks: list[str], trajectory: Trajectory, folder: Path) -> int:
    """Score one checkpoint (the base for step 0) on `benchmarks` into the run's results store; its record in
    ``scored/step-N.json`` gains each benchmark as it finishes."""
    from tuneshift.benchmarks import score
    from tuneshift.benchmarks.store import ResultStore
    from tuneshift.models import load_model
    from tuneshift.tune import load_checkpoint

    load = {k: trajectory.score_options[k] for k in ("dtype", "device") if k in trajectory.score_options}
    started = time.perf_counter()
    if manifest["path"] is None:
        subject = load_model(trajectory.base, **load)
        subject.name = f"{subject.name}@0"
    else:
        subject = load_checkpoint(manifest["path"], **load)
    load_seconds = time.perf_counter() - started
    record_path = folder / "scored" / f"step-{manifest['step']:06d}.json"
    record = _read_json(record_path)
    if record.get("scoring_key") != trajectory.scoring_key():
        record = {}
    record |= {
        "run": run.name,
        "arm": run.arm.name if run.arm else None,
        "seed": run.seed if run.arm else None,
        "step": manifest["step"],
        "tokens_seen": manifest.get("tokens_seen", 0),
        "loss_tokens_seen": manifest.get("loss_tokens_seen", 0),
        "loss": manifest.get("mean_loss_since_last_checkpoint"),
        "fingerprint": subject.fingerprint,
        "model": subject.name,
        "scoring_key": trajectory.scoring_key(),
        "load_s": load_seconds,
    }
    record.setdefault("benchmarks", {})
    store_dir = folder / "results"
    for benchmark in benchmarks:
        begun = time.perf_counter()
        options = trajectory.benchmark_options.get(benchmark)
        rows = score(
            subject,
            [benchmark],
            store_dir,
            options={benchmark: options} if options else None,
            cache=bool(trajectory.score_options.get("cache", True)),
            progress=False,
        )
        key = str(rows["unit_key"].iloc[0])
        unit = next(u for u in ResultStore(store_dir).units() if u.key == key)
        summary = {name: unit.summary.get(name) for name in (*SCORES, "best_layer")}
        record["benchmarks"][benchmark] = summary | {"unit_key": key, "seconds": time.perf_counter() - begun}
        write_json(record_path, record)
    return len(benchmarks)


# ------------------------------------------------------------------------------------------------------ driver


@dataclass
class TrajectoryOutcome:
    """What a run did: runs finished and failed, scorings and tuning steps done now, wall time, the table."""

    done: int
    failed: int
    scored: int
    tuned_steps: int
    seconds: float
    failures: list[dict]
    table: pd.DataFrame


def run_trajectory(
    trajectory: Trajectory,
    out_dir: str | os.PathLike,
    *,
    executor: str = "local",
    address: str | None = None,
    progress: bool = True,
    ray_init: dict[str, Any] | None = None,
) -> TrajectoryOutcome:
    """Tune every (arm, seed) and score every checkpoint (the base as step 0) through the study executors, then
    write ``trajectory.csv`` and ``trajectory.json``. Data is read and checked (empty arms refused) before work."""
    from tuneshift.study.executors import ModelJob, make_executor

    out = Path(out_dir)
    plan = plan_trajectory(trajectory, out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "trajectory.json", _record(trajectory, plan))
    start = time.monotonic()
    work = functools.partial(run_job, trajectory=trajectory, out_dir=str(out))
    outcomes: list[dict] = []

    def report(state: str, outcome: dict) -> None:
        if progress:
            took = f" in {outcome.get('seconds', 0):.0f} s" if state != "running" else ""
            print(f"[trajectory] {outcome['model']}: {state}{took}", file=sys.stderr, flush=True)

    settings = {"address": address, "init": ray_init} if executor == "ray" else {}
    with make_executor(executor, work, on_event=report, **settings) as engine:
        for run in [RunSpec(None), *trajectory.runs]:
            engine.submit(ModelJob(run, tuple(trajectory.benchmarks)))
        for job, result in engine.gather():
            if isinstance(result, Exception):
                result = [{"model": job.name, "state": "failed", "error": f"worker lost: {result}"}]
                report("failed", result[0])
            outcomes += result
    write_analysis(out)
    table = trajectory_table(out)
    failures = [o for o in outcomes if o["state"] == "failed"]
    return TrajectoryOutcome(
        done=len(outcomes) - len(failures),
        failed=len(failures),
        scored=sum(o.get("scored", 0) for o in outcomes),
        tuned_steps=sum(o.get("tuned_steps", 0) for o in outcomes),
        seconds=time.monotonic() - start,
        failures=failures,
        table=table,
    )


def _record(trajectory: Trajectory, plan: TrajectoryPlan) -> dict:
    record = dataclasses.asdict(trajectory)
    record["checkpoint_steps"] = trajectory.checkpoint_steps
    record["plan"] = plan.rows.to_dict(orient="records")
    record["holdout_note"] = (
        "training examples whose instruction (or instruction + input) is one of Wu et al.'s FinalDataset prompts "
        "were removed before tuning"
        if trajectory.holdout != "none"
        else "nothing held out"
    )
    return record


# ---------------------------------------------------------------------------------------------------- analysis


def trajectory_table(out_dir: str | os.PathLike) -> pd.DataFrame:
    """One row per (arm, seed, step, benchmark) from the runs' scored records: tokens_seen, loss (mean training loss
    over the steps since the previous checkpoint, nats per loss token) and the scores. The base (step 0) is
    repeated for every arm and seed, so that each curve starts from it."""
    out = Path(out_dir)
    record = _read_json(out / "trajectory.json")
    rows = []
    records = [_read_json(p) for p in sorted((out / "runs").glob("*/scored/step-*.json"))]
    base = [r for r in records if r.get("run") == BASE_RUN]
    runs = sorted({(r["arm"], r["seed"]) for r in records if r.get("arm") is not None})
    for arm, seed in runs:
        mine = [r for r in records if r.get("arm") == arm and r.get("seed") == seed]
        for entry in base + mine:
            for benchmark, values in entry.get("benchmarks", {}).items():
                rows.append(
                    {
                        "arm": arm,
                        "seed": seed,
                        "step": entry["step"],
                        "tokens_seen": entry.get("tokens_seen", 0),
                        "loss": entry.get("loss"),
                        "benchmark": benchmark,
                        **{name: values.get(name) for name in (*SCORES, "best_layer")},
                        "fingerprint": entry.get("fingerprint"),
                        "base": record.get("base"),
                    }
                )
    columns = ["arm", "seed", "step", "tokens_seen", "loss", "benchmark", *SCORES, "best_layer", "fingerprint", "base"]
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values(["benchmark", "arm", "seed", "step"]).reset_index(drop=True)


def layer_profiles(out_dir: str | os.PathLike, steps: Sequence[int] | None = None) -> pd.DataFrame:
    """Per-layer scores of the checkpoints at `steps` (default: all): arm, seed, step, benchmark, layer, raw,
    normalized — read from each run's results store through the unit each checkpoint's record names."""
    from tuneshift.benchmarks.store import ResultStore

    out = Path(out_dir)
    frames = []
    table = trajectory_table(out)
    wanted = table if steps is None else table[table["step"].isin(list(steps))]
    for folder in sorted((out / "runs").glob("*")):
        units = {u.key: u for u in ResultStore(folder / "results", read_only=True).units()}
        for path in sorted((folder / "scored").glob("step-*.json")):
            record = _read_json(path)
            for benchmark, values in record.get("benchmarks", {}).items():
                unit = units.get(values.get("unit_key"))
                if unit is None:
                    continue
                rows = wanted[(wanted["step"] == record["step"]) & (wanted["benchmark"] == benchmark)]
                if record.get("arm") is not None:
                    rows = rows[(rows["arm"] == record["arm"]) & (rows["seed"] == record["seed"])]
                for _, row in rows.iterrows():
                    scores = unit.scores[["layer", "raw", "normalized"]]
                    frames.append(
                        scores.assign(arm=row["arm"], seed=row["seed"], step=row["step"], benchmark=benchmark)
                    )
    columns = ["arm", "seed", "step", "benchmark", "layer", "raw", "normalized"]
    if not frames:
        return pd.DataFrame(columns=columns)
    profiles = pd.concat(frames, ignore_index=True)[columns]
    return profiles.sort_values(["benchmark", "arm", "seed", "step", "layer"]).reset_index(drop=True)


def summarize(table: pd.DataFrame, *, score: str = "best_raw", confidence: float = 0.95) -> pd.DataFrame:
    """Per (benchmark, arm, step): seeds, mean, sd and the t-interval of `score` over seeds (NaN with one seed),
    mean tokens seen and mean loss."""
    from scipy import stats

    def one(group: pd.DataFrame) -> pd.Series:
        values = group[score].to_numpy(float)
        n = int(np.isfinite(values).sum())
        mean = float(np.nanmean(values)) if n else np.nan
        sd = float(np.nanstd(values, ddof=1)) if n > 1 else np.nan
        half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / np.sqrt(n)) if n > 1 else np.nan
        return pd.Series(
            {
                "n_seeds": n,
                "mean": mean,
                "sd": sd,
                "ci_low": mean - half,
                "ci_high": mean + half,
                "tokens_seen": float(group["tokens_seen"].mean()),
                "loss": float(group["loss"].mean()) if group["loss"].notna().any() else np.nan,
            }
        )

    keys = ["benchmark", "arm", "step"]
    return table.groupby(keys).apply(one, include_groups=False).reset_index()


def compare_arms(table: pd.DataFrame, arm: str, other: str, *, score: str = "best_raw") -> pd.DataFrame:
    """`arm` − `other` per (benchmark, step ≥ 1) and over the whole run (``step`` "all": each seed's mean over its
    checkpoints after the base), with seeds as the unit: a paired t-test when both arms ran the same seeds (a seed
    fixes the data order and the LoRA initialisation), Welch's otherwise; NaN statistics with fewer than 2 seeds."""
    from scipy import stats

    rows = []
    tuned = table[table["step"] > 0]
    for benchmark, frame in tuned.groupby("benchmark"):
        per_seed = frame.pivot_table(index=["arm", "seed"], columns="step", values=score)
        whole = per_seed.mean(axis=1).rename("all")
        per_seed = per_seed.join(whole)
        for step in per_seed.columns:
            a = per_seed.loc[arm, step] if arm in per_seed.index.get_level_values(0) else pd.Series(dtype=float)
            b = per_seed.loc[other, step] if other in per_seed.index.get_level_values(0) else pd.Series(dtype=float)
            a, b = a.dropna(), b.dropna()
            paired = sorted(a.index) == sorted(b.index)
            if paired and len(a) > 1:
                test = stats.ttest_rel(a.sort_index(), b.sort_index())
            elif len(a) > 1 and len(b) > 1:
                test = stats.ttest_ind(a, b, equal_var=False)
            else:
                test = None
            rows.append(
                {
                    "benchmark": benchmark,
                    "step": step,
                    "arm": arm,
                    "other": other,
                    "difference": float(a.mean() - b.mean()) if len(a) and len(b) else np.nan,
                    "n_seeds": min(len(a), len(b)),
                    "test": ("paired t" if paired else "Welch t") if test is not None else "none (< 2 seeds)",
                    "t": float(test.statistic) if test is not None else np.nan,
                    "p": float(test.pvalue) if test is not None else np.nan,
                }
            )
    return pd.DataFrame(rows)


def training_losses(out_dir: str | os.PathLike) -> pd.DataFrame:
    """Every run's per-step training loss (from its loss.csv, or its resume state while it runs): arm, seed, step,
    tokens (cumulative), loss."""
    frames = []
    for run_dir in sorted((Path(out_dir) / "runs").glob("*-seed*")):
        path = run_dir / "loss.csv"
        if path.exists():
            frame = pd.read_csv(path)
            arm, _, seed = run_dir.name.rpartition("-seed")
            frames.append(
                frame.assign(arm=arm, seed=int(seed), tokens_seen=frame["tokens"].cumsum())[
                    ["arm", "seed", "step", "tokens_seen", "loss"]
                ]
            )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["arm", "seed", "step", "loss"])


def write_analysis(out_dir: str | os.PathLike, *, score: str = "best_raw") -> dict[str, Path]:
    """trajectory.csv, trajectory_summary.csv, arm_differences.csv (every pair of arms), trajectory.png (the curves,
    :func:`tuneshift.report.figures.trajectory_curves`) and trajectory-loss.png (the training losses) in `out_dir`,
    from its finished checkpoints. Returns the paths written."""
    from tuneshift._io import atomic_path
    from tuneshift.report.figures import trajectory_curves, trajectory_losses

    out = Path(out_dir)
    table = trajectory_table(out)
    if not len(table):
        return {}
    summary = summarize(table, score=score)
    arms = sorted(table["arm"].unique())
    pairs = [compare_arms(table, a, b, score=score) for i, a in enumerate(arms) for b in arms[i + 1 :]]
    paths = {
        "table": out / "trajectory.csv",
        "summary": out / "trajectory_summary.csv",
        "differences": out / "arm_differences.csv",
    }
    write_csv(paths["table"], table)
    write_csv(paths["summary"], summary)
    write_csv(paths["differences"], pd.concat(pairs, ignore_index=True) if pairs else pd.DataFrame())
    losses = training_losses(out)
    drawn = {"figure": ("trajectory.png", trajectory_curves(table, summary, score=score))}
    if len(losses):
        drawn["loss_figure"] = ("trajectory-loss.png", trajectory_losses(losses))
    for key, (name, figure) in drawn.items():
        with atomic_path(out / name) as tmp:
            figure.savefig(tmp, format="png", dpi=120)
        paths[key] = out / name
    return paths
