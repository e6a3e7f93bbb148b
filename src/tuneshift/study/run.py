"""`tuneshift study run`: many models × many benchmarks, locally or on a Ray cluster, resumable and failure-tolerant.

A study file names models (zoo names or specs), benchmarks and options::

    models:
      - flan-t5-small                       # a zoo name (its spec, size and pairing come from the zoo)
      - t5-small
      - {name: my-tuned, spec: /shared/models/my-tuned, base_model: t5-small, instruction_tuned: true}
    benchmarks: [Tuckute2024-ridge, Futrell2018-deltall]
    controls: true                          # also score each model's random-init control (same architecture)
    options: {dtype: float32, device: cpu}  # load options; benchmark options go under `benchmark_options:`
    zoo: [my-zoo.yaml]                      # extra zoo files, relative to the study file

Each (model, benchmark) is a *task*. Tasks are grouped by model: one worker loads a model once and runs its
unfinished tasks one after the other, so the load is paid once per model. A group declares the resources it needs
(CPUs, GPUs, memory = parameters × bytes per parameter of the dtype + the largest benchmark's activations, × 1.3),
which is what Ray packs groups by. Every task writes its results through ``tuneshift.benchmarks.score`` into its
model's folder ``DIR/models/<model>/`` (one writer per folder, so no two workers ever write one file), and a status
file ``DIR/tasks/<model>/<benchmark>.json`` (atomic) says done / failed; the driver merges every model's scores into
``DIR/scores.csv`` and ``DIR/summary.json`` as tasks finish, and writes failures to ``DIR/failures.csv``.

A rerun skips a task whose status file says done for the same model spec (and, for a local path, the same size and
modification time of its files), benchmark and options; a changed checkpoint or option runs again. Inside a task the
results store skips work already finished for the same model fingerprint and options. A failed task (out of
memory, missing weights or data) is recorded with its error and the other tasks go on.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from tuneshift._io import write_csv, write_json
from tuneshift.errors import InvalidInputError, InvalidParameterError
from tuneshift.study.zoo import Zoo, _LineLoader, load_zoo

BYTES_PER_PARAMETER = {"float32": 4, "bfloat16": 2, "float16": 2}
#: Stimuli (words read out at every layer) of each neural dataset, for the activation memory estimate.
NEURAL_STIMULI = {"Pereira2018": 627, "Blank2014": 1317, "Wehbe2014": 5176, "Tuckute2024": 1000, "Fedorenko2016": 416}
#: Reading-time benchmarks keep no per-layer activations: surprisal turns states into logits 2^26 at a time.
SURPRISAL_BYTES = 2**26 * 4
STUDY_FIELDS = ("models", "benchmarks", "controls", "options", "benchmark_options", "zoo", "seed")
LOAD_OPTIONS = ("dtype", "device", "device_map", "cache", "num_cpus", "num_gpus")


@dataclass(frozen=True, eq=False)
class ModelTask:
    """One model of a study and what scoring it takes."""

    name: str
    spec: str
    random_init: bool = False
    seed: int = 0
    params_b: float | None = None
    layers: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)  # zoo fields for the analysis (family, base_model, ...)

    def _key(self) -> tuple:
        return (self.name, self.spec, self.random_init, self.seed)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ModelTask) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    @property
    def slug(self) -> str:
        """A file-name-safe name (the model folder and task files)."""
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in self.name)


@dataclass
class Study:
    """A parsed study file."""

    models: list[ModelTask]
    benchmarks: list[str]
    options: dict[str, Any] = field(default_factory=dict)
    benchmark_options: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def dtype(self) -> str:
        return str(self.options.get("dtype", "float32"))

    def options_key(self) -> str:
        """Short hash of everything that changes the numbers (dtype, benchmark options, random-init seed)."""
        payload = {"dtype": self.dtype, "benchmark_options": self.benchmark_options}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


def load_study(path: str | os.PathLike, zoo_files: Iterable[str | os.PathLike] = ()) -> Study:
    """Parse and validate a study file; errors name the file, the line and the field."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"Study file {path} does not exist.")
    try:
        document = yaml.load(path.read_text(), Loader=_LineLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "context_mark", None) or getattr(error, "problem_mark", None)
        raise InvalidInputError(f"{path}:{mark.line + 1 if mark else 0}: not valid YAML ({error}).") from None
    if not isinstance(document, dict):
        raise InvalidInputError(f"{path}:1: a study file is a mapping with models: and benchmarks:.")
    for key in document:
        if key not in STUDY_FIELDS:
            line = document.key_lines.get(key, 0)
            raise InvalidInputError(f"{path}:{line}: unknown field {key!r}. Fields: {', '.join(STUDY_FIELDS)}.")
    extra_zoo = [path.parent / z for z in document.get("zoo") or []]
    zoo = load_zoo([*extra_zoo, *zoo_files])
    models = _models(document, zoo, path)
    benchmarks = document.get("benchmarks")
    if not isinstance(benchmarks, list) or not benchmarks or not all(isinstance(b, str) for b in benchmarks):
        line = document.key_lines.get("benchmarks", 1)
        raise InvalidInputError(f"{path}:{line}: `benchmarks:` must be a non-empty list of benchmark ids.")
    from tuneshift.benchmarks import BENCHMARKS

    for benchmark in benchmarks:
        BENCHMARKS.get(benchmark)  # UnknownNameError lists the ids
    options = dict(document.get("options") or {})
    unknown = set(options) - set(LOAD_OPTIONS)
    if unknown:
        line = document.key_lines.get("options", 1)
        raise InvalidInputError(
            f"{path}:{line}: unknown option(s) {sorted(unknown)}. Options: {', '.join(LOAD_OPTIONS)}."
        )
    if str(options.get("dtype", "float32")) not in BYTES_PER_PARAMETER:
        raise InvalidParameterError("options.dtype", f"one of {list(BYTES_PER_PARAMETER)}", options["dtype"], "")
    if document.get("controls"):
        seed = int(document.get("seed", 0))
        models += [
            dataclasses.replace(
                m,
                name=f"{m.name}:random-init(seed={seed})",
                random_init=True,
                seed=seed,
                fields={**m.fields, "control_of": m.name, "instruction_tuned": False, "base_model": None},
            )
            for m in models
        ]
    return Study(models, list(benchmarks), options, dict(document.get("benchmark_options") or {}), str(path))


def _models(document: dict, zoo: Zoo, path: Path) -> list[ModelTask]:
    entries = document.get("models")
    line = document.key_lines.get("models", 1) if isinstance(document, dict) else 1
    if not isinstance(entries, list) or not entries:
        raise InvalidInputError(f"{path}:{line}: `models:` must be a non-empty list of zoo names or mappings.")
    models = []
    for item in entries:
        if isinstance(item, str):
            entry = zoo[item] if item in zoo else None
            fields = entry.row() if entry else {"model": item}
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            base = zoo[item["name"]].row() if item["name"] in zoo else {"model": item["name"]}
            fields = {**base, **{k: v for k, v in item.items() if k != "name"}}
        else:
            raise InvalidInputError(
                f"{path}:{getattr(item, 'line', line)}: a model is a zoo name or a mapping with `name:` (and `spec:`)."
            )
        name = fields.pop("model")
        spec = fields.get("spec") or (None if name in zoo else name)
        if not spec:
            raise InvalidInputError(
                f"{path}:{getattr(item, 'line', line)}: model {name!r} has no known checkpoint (the zoo lists no "
                f"spec). Give one: `- {{name: {name}, spec: /path/or/hub-id}}`."
            )
        models.append(
            ModelTask(name, str(spec), params_b=fields.get("params_b"), layers=fields.get("layers"), fields=fields)
        )
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise InvalidInputError(f"{path}:{line}: model names must be unique; got {names}.")
    return models


# ---------------------------------------------------------------------------------------------- resources & plan


def estimate_memory(model: ModelTask, benchmarks: Iterable[str], dtype: str) -> int:
    """Bytes a worker needs for `model` on `benchmarks`: weights + the largest activation array, × 1.3 headroom.

    Parameters from the zoo (``params_b``), else read from the model's config on the meta device. Activations of a
    neural benchmark: (layers + 1) × stimuli × hidden × 4 bytes (readouts are float32), hidden ≈ √(params / (12 ·
    layers)) when unknown; of a reading-time benchmark: one chunk of logits.
    """
    params, layers, hidden = _shape(model)
    activations = [
        (layers + 1) * NEURAL_STIMULI[stem] * hidden * 4 if stem in NEURAL_STIMULI else SURPRISAL_BYTES
        for stem in (b.split("-")[0].split(".")[0] for b in benchmarks)
    ]
    return int(1.3 * (params * BYTES_PER_PARAMETER[dtype] + max(activations, default=0)))


def _shape(model: ModelTask) -> tuple[float, int, int]:
    if model.params_b and model.layers:
        params, layers = model.params_b * 1e9, int(model.layers)
        return params, layers, int(math.sqrt(params / (12 * layers)))
    from tuneshift.models.load import describe_model

    info = describe_model(model.spec)
    params = float(str(info["parameters"]).replace(",", ""))
    layers = int(info["blocks (layers 1..N)"])
    return params, layers, int(info["hidden size"])


def _spec_stamp(spec: str) -> str:
    """What identifies the checkpoint without loading it: for a local path, its files' names, sizes and mtimes."""
    path = Path(spec)
    if not path.exists():
        return spec
    files = sorted(p for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file())
    stats = [
        (str(p.relative_to(path) if path.is_dir() else p.name), p.stat().st_size, p.stat().st_mtime_ns) for p in files
    ]
    return hashlib.sha256(json.dumps([str(path.resolve()), stats]).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Task:
    model: ModelTask
    benchmark: str

    def status_path(self, out: Path) -> Path:
        return out / "tasks" / self.model.slug / f"{self.benchmark}.json"


@dataclass
class Plan:
    """The tasks of a study, which are finished already, and the resources of each model group."""

    study: Study
    out: Path
    tasks: list[Task]
    finished: set[Task]

    @functools.cached_property
    def memory(self) -> dict[str, int]:
        """Model name → estimated bytes (computed on first use: the local executor never needs it). A model whose
        config cannot be read gets 0: its task then fails at load time and is reported like any other failure."""
        memory = {}
        for model in self.study.models:
            try:
                memory[model.name] = estimate_memory(model, self.study.benchmarks, self.study.dtype)
            except Exception:  # the load in the worker reports the real error, as a failed task
                memory[model.name] = 0
        return memory

    @property
    def pending(self) -> list[Task]:
        return [t for t in self.tasks if t not in self.finished]

    def describe(self) -> pd.DataFrame:
        """One row per model: tasks, pending tasks, estimated memory (GB)."""
        rows = []
        for model in self.study.models:
            mine = [t for t in self.tasks if t.model == model]
            rows.append(
                {
                    "model": model.name,
                    "spec": model.spec + (" (random init)" if model.random_init else ""),
                    "tasks": len(mine),
                    "pending": sum(t not in self.finished for t in mine),
                    "memory_gb": self.memory[model.name] / 1e9,
                }
            )
        return pd.DataFrame(rows)


def plan_study(study: Study, out_dir: str | os.PathLike) -> Plan:
    """Every (model, benchmark) task, the ones a previous run finished (status file, same spec and options)."""
    out = Path(out_dir)
    tasks = [Task(m, b) for m in study.models for b in study.benchmarks]
    key = study.options_key()
    stamps = {m.name: _spec_stamp(m.spec) for m in study.models}
    finished = set()
    for task in tasks:
        status = _read_status(task.status_path(out))
        if status.get("state") == "done" and status.get("options_key") == key:
            if status.get("spec_stamp") == stamps[task.model.name]:
                finished.add(task)
    return Plan(study, out, tasks, finished)


def _read_status(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


# ------------------------------------------------------------------------------------------------------- workers


def run_model_tasks(
    model: ModelTask,
    benchmarks: list[str],
    out_dir: str,
    options: dict[str, Any],
    benchmark_options: dict[str, Any],
    options_key: str,
    run_id: str,
    on_event: Callable[[str, str, dict], None] | None = None,
) -> list[dict]:
    """Load `model` once and run each benchmark into ``out_dir/models/<model>/``; one status file per task.

    Returns one outcome per benchmark: {model, benchmark, state: done|failed, seconds, error}. Never raises for a
    task's failure: a load failure fails all of the model's tasks, a benchmark failure only its own.
    """
    out = Path(out_dir)
    stamp = _spec_stamp(model.spec)
    outcomes = []

    def record(benchmark: str, state: str, **extra: Any) -> dict:
        status = {
            "model": model.name, "spec": model.spec, "benchmark": benchmark, "state": state, "run_id": run_id,
            "options_key": options_key, "spec_stamp": stamp, "host": os.uname().nodename, "time": time.time(), **extra,
        }  # fmt: skip
        write_json(Task(model, benchmark).status_path(out), status)
        if on_event:
            on_event(state, benchmark, status)
        return status

    try:
        from tuneshift.models import load_model

        load_options = {k: options[k] for k in ("dtype", "device", "device_map") if k in options}
        loaded = load_model(model.spec, random_init=model.random_init, seed=model.seed, **load_options)
        loaded.name = model.name
    except Exception as error:
        message = f"{type(error).__name__}: {error}"
        return [record(b, "failed", error=message, stage="load", seconds=0.0) for b in benchmarks]
    for benchmark in benchmarks:
        record(benchmark, "running")
        start = time.perf_counter()
        try:
            _score(loaded, benchmark, out / "models" / model.slug, options, benchmark_options.get(benchmark))
            outcomes.append(record(benchmark, "done", seconds=time.perf_counter() - start))
        except Exception as error:
            tail = traceback.format_exc(limit=-3)
            message = f"{type(error).__name__}: {error}"
            outcomes.append(
                record(benchmark, "failed", error=message, traceback=tail, seconds=time.perf_counter() - start)
            )
    del loaded
    return outcomes


def _score(model: Any, benchmark: str, out: Path, options: dict[str, Any], benchmark_options: dict | None) -> None:
    """One task through the results store (``tuneshift.benchmarks.score``), passing options where it takes them."""
    import inspect

    from tuneshift.benchmarks import score

    kwargs: dict[str, Any] = {"cache": bool(options.get("cache", True)), "progress": False}
    if benchmark_options and "options" in inspect.signature(score).parameters:
        kwargs["options"] = {benchmark: benchmark_options}
    score(model, [benchmark], out, **kwargs)


# -------------------------------------------------------------------------------------------------------- driver


@dataclass
class StudyOutcome:
    """What a run did: tasks skipped (finished before), done now, failed now, and the wall time."""

    skipped: int
    done: int
    failed: int
    seconds: float
    failures: pd.DataFrame


class _Progress:
    """done / running / failed counts with an ETA, one line per event (works on a terminal and in a log alike)."""

    def __init__(self, total: int, skipped: int, enabled: bool):
        self.total, self.skipped, self.enabled = total, skipped, enabled
        self.done = self.failed = 0
        self.running: set[str] = set()
        self.start, self.start_wall = time.monotonic(), time.time()

    def event(self, state: str, task: str, seconds: float | None = None) -> None:
        if state == "running":
            self.running.add(task)
        else:
            self.running.discard(task)
            self.done += state == "done"
            self.failed += state == "failed"
        if not self.enabled:
            return
        finished = self.done + self.failed
        left = self.total - self.skipped - finished
        eta = f"ETA {left * (time.monotonic() - self.start) / finished:.0f} s" if finished else "ETA unknown"
        took = f" ({seconds:.1f} s)" if seconds else ""
        print(
            f"[study] {state:7s} {task}{took} | done {self.done + self.skipped}/{self.total} "
            f"(skipped {self.skipped}), running {len(self.running)}, failed {self.failed}, {eta}",
            file=sys.stderr,
            flush=True,
        )


def run_study(
    study: Study,
    out_dir: str | os.PathLike,
    *,
    executor: str = "local",
    address: str | None = None,
    progress: bool = True,
    ray_init: dict[str, Any] | None = None,
) -> StudyOutcome:
    """Run every unfinished task of `study` into `out_dir` (see the module docstring); merge and report."""
    if executor not in ("local", "ray"):
        raise InvalidParameterError("executor", "local or ray", executor)
    out = Path(out_dir)
    plan = plan_study(study, out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "study.json", _study_record(study))
    run_id = uuid.uuid4().hex[:12]
    tracker = _Progress(len(plan.tasks), len(plan.finished), progress)
    start = time.monotonic()
    groups = {m.name: [t.benchmark for t in plan.pending if t.model == m] for m in study.models}
    groups = {name: benchmarks for name, benchmarks in groups.items() if benchmarks}
    by_name = {m.name: m for m in study.models}
    common = (str(out), study.options, study.benchmark_options, study.options_key(), run_id)
    outcomes: list[dict] = []
    if executor == "local":
        for name, benchmarks in groups.items():

            def on_event(state: str, benchmark: str, status: dict, name: str = name) -> None:
                tracker.event(state, f"{name} × {benchmark}", status.get("seconds"))

            outcomes += run_model_tasks(by_name[name], benchmarks, *common, on_event=on_event)
            merge_results(out)
    else:
        outcomes = _run_on_ray(plan, groups, by_name, common, tracker, address, ray_init or {})
    failures = pd.DataFrame(
        [o for o in outcomes if o["state"] == "failed"],
        columns=["model", "spec", "benchmark", "state", "error", "stage", "seconds", "host", "run_id", "traceback"],
    )
    _write_failures(out, failures, [(o["model"], o["benchmark"]) for o in outcomes if o["state"] == "done"])
    merge_results(out)
    done = sum(o["state"] == "done" for o in outcomes)
    return StudyOutcome(len(plan.finished), done, len(outcomes) - done, time.monotonic() - start, failures)


def _run_on_ray(plan: Plan, groups, by_name, common, tracker: _Progress, address, ray_init) -> list[dict]:
    """One Ray task per model group, sized by its memory (and GPUs); progress polled from the status files."""
    try:
        import ray
    except ImportError:
        raise InvalidParameterError(
            "executor", "an installed Ray for --executor ray", "ray", "pip install 'tuneshift[sweep]'"
        ) from None
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, ignore_reinit_error=True, include_dashboard=False, log_to_driver=False, **ray_init)
    try:
        remote = ray.remote(run_model_tasks)
        gpus = float(plan.study.options.get("num_gpus", 1 if str(plan.study.options.get("device")) == "cuda" else 0))
        cpus = float(plan.study.options.get("num_cpus", 1))
        refs = {
            remote.options(num_cpus=cpus, num_gpus=gpus, memory=plan.memory[name], max_retries=0).remote(
                by_name[name], benchmarks, *common
            ): name
            for name, benchmarks in groups.items()
        }
        seen: dict[Path, str] = {}
        outcomes: list[dict] = []
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, timeout=0.5)
            _poll_status(plan, groups, seen, tracker)
            for ref in ready:
                name = refs[ref]
                try:
                    outcomes += ray.get(ref)
                except Exception as error:
                    outcomes += _lost_tasks(plan, name, groups[name], error)
                merge_results(plan.out)
        _poll_status(plan, groups, seen, tracker)
        return outcomes
    finally:
        if started_here:
            ray.shutdown()


def _poll_status(plan: Plan, groups: dict, seen: dict[Path, str], tracker: _Progress) -> None:
    for name, benchmarks in groups.items():
        for benchmark in benchmarks:
            task = Task(next(m for m in plan.study.models if m.name == name), benchmark)
            path = task.status_path(plan.out)
            status = _read_status(path)
            state = status.get("state")
            if state and seen.get(path) != state and status.get("time", 0) >= tracker.start_wall:
                tracker.event(state, f"{name} × {benchmark}", status.get("seconds"))
                seen[path] = state


def _lost_tasks(plan: Plan, name: str, benchmarks: list[str], error: Exception) -> list[dict]:
    model = next(m for m in plan.study.models if m.name == name)
    lost = []
    for benchmark in benchmarks:
        status = _read_status(Task(model, benchmark).status_path(plan.out))
        if status.get("state") == "done":
            lost.append(status)
        else:
            lost.append(
                {
                    "model": name,
                    "spec": model.spec,
                    "benchmark": benchmark,
                    "state": "failed",
                    "error": f"worker lost: {type(error).__name__}: {error}"[:2000],
                    "stage": "worker",
                }
            )
    return lost


def _write_failures(out: Path, failures: pd.DataFrame, done_now: list[tuple[str, str]]) -> None:
    """failures.csv: this run's failures plus earlier ones not fixed since (a task done now leaves the file)."""
    path = out / "failures.csv"
    earlier = pd.read_csv(path) if path.exists() else failures.iloc[:0]
    if len(earlier):
        fixed = earlier.apply(lambda r: (r["model"], r["benchmark"]) in set(done_now), axis=1)
        rerun = earlier.apply(
            lambda r: ((failures["model"] == r["model"]) & (failures["benchmark"] == r["benchmark"])).any(), axis=1
        )
        earlier = earlier[~fixed & ~rerun]
    table = pd.concat([earlier, failures], ignore_index=True) if len(earlier) else failures
    write_csv(path, table)


def _study_record(study: Study) -> dict:
    return {
        "source": study.source,
        "benchmarks": study.benchmarks,
        "options": study.options,
        "benchmark_options": study.benchmark_options,
        "options_key": study.options_key(),
        "models": [
            {
                "name": m.name,
                "slug": m.slug,
                "spec": m.spec,
                "random_init": m.random_init,
                "seed": m.seed,
                **{k: v for k, v in m.fields.items() if k not in ("spec", "reported", "defined_at")},
            }
            for m in study.models
        ],
    }


# -------------------------------------------------------------------------------------------------------- merge


def merge_results(out_dir: str | os.PathLike) -> pd.DataFrame:
    """``DIR/scores.csv`` and ``DIR/summary.json`` assembled from every model folder (the driver is the one writer)."""
    out = Path(out_dir)
    frames, summary = [], {}
    for folder in sorted((out / "models").glob("*")):
        scores = folder / "scores.csv"
        if scores.exists():
            frames.append(pd.read_csv(scores))
        if (folder / "summary.json").exists():
            summary.update(json.loads((folder / "summary.json").read_text()))
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if frames:
        write_csv(out / "scores.csv", table)
        write_json(out / "summary.json", summary)
    return table


def model_table(out_dir: str | os.PathLike, *, score: str = "best_raw", include_controls: bool = False) -> pd.DataFrame:
    """The model table of a finished study for :mod:`tuneshift.study.stats`: one row per model with its zoo fields
    and, per benchmark, its `score` from summary.json (``best_raw`` as the paper reports, or ``honest_raw``)."""
    out = Path(out_dir)
    record = json.loads((out / "study.json").read_text())
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
    rows = []
    for model in record["models"]:
        if model.get("random_init") and not include_controls:
            continue
        row = {k: v for k, v in model.items() if k not in ("slug", "seed", "name")}
        row = {"model": model["name"], "instruction_tuned": bool(row.pop("instruction_tuned", False)), **row}
        for benchmark, values in summary.get(model["name"], {}).items():
            row[benchmark] = values.get(score)
        rows.append(row)
    return pd.DataFrame(rows)
