"""`tuneshift study run`: many models × many benchmarks, locally or on a Ray cluster, resumable and failure-tolerant.

A study file names models (zoo names or mappings), benchmarks and options (documented with an example in
docs/study.md and ``tuneshift study run --help``; :data:`tuneshift.study.example.EXAMPLE`)::

    models:
      - flan-t5-small
      - {name: my-tuned, spec: /shared/models/my-tuned, base_model: t5-small, instruction_tuned: true}
    benchmarks: [Tuckute2024-ridge, Futrell2018-pearsonr]

Each (model, benchmark) is a *task*. Tasks are grouped by model into a :class:`~tuneshift.study.executors.ModelJob`:
one worker loads a model once and runs its unfinished benchmarks one after the other. An executor (``local``,
``ray``; :mod:`tuneshift.study.executors`) runs the jobs.

One resume system: the results store. Every task scores through :func:`tuneshift.benchmarks.score` into the study
directory itself (``DIR/units/``, ``DIR/scores.csv``, ``DIR/summary.json``: the layout of ``tuneshift score``, so a
study and a score can share one folder), and a task is finished exactly when the store holds its unit — same model
fingerprint (weights, config, tokenizer), dtype, benchmark version, options and data. To know a model's fingerprint
without loading it, ``DIR/fingerprints.json`` remembers the fingerprint measured for each checkpoint, keyed by
what identifies the checkpoint's own files (names, sizes and modification times of its weight, config and tokenizer
files; files tuneshift writes never enter, so an ``--out`` inside the model folder changes nothing). A checkpoint
not remembered is loaded and the store skips what it already holds. ``DIR/status/<hash>.json`` (one per task, named
by a hash of the model's name, spec and seed, never by the name itself) records state, time, host and errors for
progress, failures and time estimates; it never decides what is skipped. Failed tasks go to ``DIR/failures.csv``
with their cause; the other tasks go on.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import re
import statistics
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tuneshift._io import write_csv, write_json
from tuneshift._yaml import YamlMapping, clip, load_yaml, truncate
from tuneshift.errors import InvalidInputError, TuneshiftError
from tuneshift.study.executors import Executor, ModelJob, Outcomes, make_executor
from tuneshift.study.zoo import Zoo, check_fields, load_zoo

BYTES_PER_PARAMETER = {"float32": 4, "bfloat16": 2, "float16": 2}
#: Reading-time and capability benchmarks keep no per-layer activations: surprisal turns states into logits 2^26
#: at a time.
SURPRISAL_BYTES = 2**26 * 4
#: Stimuli assumed for a representation benchmark whose data is not here to count (the largest dataset has ~5,200).
UNCOUNTED_STIMULI = 5_000
STUDY_FIELDS = ("models", "benchmarks", "controls", "options", "benchmark_options", "zoo", "seed")
LOAD_OPTIONS = ("dtype", "device", "device_map", "cache", "num_cpus", "num_gpus")
#: Files of a checkpoint folder that identify it (weights, config, tokenizer): what its stamp covers.
CHECKPOINT_FILES = re.compile(
    r"(config|generation_config|tokenizer|tokenizer_config|special_tokens_map|added_tokens|vocab|preprocessor_config"
    r"|chat_template)\.json|merges\.txt|vocab\.txt|chat_template\.jinja|.*\.(safetensors|bin|gguf|model|tiktoken)"
    r"|.*\.(safetensors|bin)\.index\.json"
)
FAILURE_COLUMNS = ["model", "spec", "benchmark", "state", "error", "stage", "seconds", "host", "run_id", "traceback"]
#: A commented study file (docs/study.md and ``study run --help`` show it; a test loads it).


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
    def key(self) -> str:
        """A collision-free file-name-safe id (hash of name, spec and seed): any name is safe (``..``, ``a/b``)."""
        return hashlib.sha256(json.dumps(self._key()).encode()).hexdigest()[:16]


@dataclass
class Study:
    """A parsed, validated study file; `resolved` holds each benchmark's options instance."""

    models: list[ModelTask]
    benchmarks: list[str]
    options: dict[str, Any] = field(default_factory=dict)
    benchmark_options: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    resolved: dict[str, Any] = field(default_factory=dict)

    @property
    def dtype(self) -> str:
        return str(self.options.get("dtype", "float32"))


def load_study(path: str | os.PathLike, zoo_files: Iterable[str | os.PathLike] = ()) -> Study:
    """Parse and validate a study file — YAML bounds first, then fields, zoo, models, benchmarks and benchmark
    options — so that whatever a run would refuse, loading refuses; errors name the file, the line and the field."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"Study file {path} does not exist. See `tuneshift study run --help` for an example.")
    document = load_yaml(path, what="study file")
    if not isinstance(document, YamlMapping):
        raise InvalidInputError(f"{path}:1: a study file is a mapping with models: and benchmarks:.")

    def where(key: str) -> str:
        return f"{path}:{document.key_lines.get(key, document.line)}"

    for key in document:
        if key not in STUDY_FIELDS:
            raise InvalidInputError(f"{where(key)}: unknown field {clip(key)}. Fields: {', '.join(STUDY_FIELDS)}.")
    zoo_field = document.get("zoo") or []
    if not isinstance(zoo_field, list) or not all(isinstance(z, str) for z in zoo_field):
        raise InvalidInputError(f"{where('zoo')}: `zoo:` is a list of zoo file paths (relative to the study file).")
    zoo = load_zoo([*(path.parent / z for z in zoo_field), *zoo_files])
    models = _models(document, zoo, path)
    benchmarks = document.get("benchmarks")
    if not isinstance(benchmarks, list) or not benchmarks or not all(isinstance(b, str) for b in benchmarks):
        raise InvalidInputError(f"{where('benchmarks')}: `benchmarks:` must be a non-empty list of benchmark ids.")
    if len(set(benchmarks)) != len(benchmarks):
        raise InvalidInputError(f"{where('benchmarks')}: a benchmark is listed twice; list each once.")
    options = document.get("options") or {}
    if not isinstance(options, dict):
        raise InvalidInputError(f"{where('options')}: `options:` is a mapping, e.g. {{dtype: float32}}.")
    unknown = sorted(map(str, set(options) - set(LOAD_OPTIONS)))
    if unknown:
        raise InvalidInputError(
            f"{where('options')}: unknown option(s) {clip(unknown)}. Options: {', '.join(LOAD_OPTIONS)}."
        )
    if str(options.get("dtype", "float32")) not in BYTES_PER_PARAMETER:
        raise InvalidInputError(
            f"{where('options')}: options.dtype {clip(options['dtype'])}; expected one of {list(BYTES_PER_PARAMETER)}."
        )
    seed = document.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidInputError(f"{where('seed')}: `seed:` is an integer, got {clip(seed)}.")
    benchmark_options = document.get("benchmark_options") or {}
    resolved = _resolve(benchmarks, benchmark_options, where("benchmarks"), where("benchmark_options"))
    if document.get("controls"):
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
    return Study(models, list(benchmarks), dict(options), dict(benchmark_options), str(path), resolved)


def _resolve(benchmarks: list[str], benchmark_options: Any, at_benchmarks: str, at_options: str) -> dict[str, Any]:
    """Each benchmark's options instance (:func:`tuneshift.benchmarks.run.resolve_options`), refused by line."""
    from tuneshift.benchmarks import BENCHMARKS
    from tuneshift.benchmarks.run import resolve_options

    if not isinstance(benchmark_options, dict):
        raise InvalidInputError(f"{at_options}: `benchmark_options:` is a mapping (benchmark id → its options).")
    try:
        chosen = [BENCHMARKS.get(b) for b in benchmarks]
    except TuneshiftError as error:
        raise InvalidInputError(f"{at_benchmarks}: {truncate(str(error))}") from None
    try:
        return resolve_options(chosen, benchmark_options)
    except (TuneshiftError, TypeError, ValueError) as error:
        raise InvalidInputError(f"{at_options}: benchmark_options: {truncate(str(error))}") from None


def _models(document: YamlMapping, zoo: Zoo, path: Path) -> list[ModelTask]:
    entries = document.get("models")
    line = document.key_lines.get("models", 1)
    if not isinstance(entries, list) or not entries:
        raise InvalidInputError(f"{path}:{line}: `models:` must be a non-empty list of zoo names or mappings.")
    models = []
    for item in entries:
        at = f"{path}:{getattr(item, 'line', line)}"
        if isinstance(item, str) and item:
            fields = zoo[item].row() if item in zoo else {"model": item}
        elif isinstance(item, YamlMapping) and isinstance(item.get("name"), str) and item["name"]:
            name = item["name"]
            body = YamlMapping({k: v for k, v in item.items() if k != "name"})
            body.line, body.key_lines = item.line, item.key_lines
            own = check_fields(body, name, str(path))
            fields = {**(zoo[name].row() if name in zoo else {"model": name}), **own}
        else:
            raise InvalidInputError(f"{at}: a model is a zoo name or a mapping with `name:` (and `spec:`).")
        name = fields.pop("model")
        spec = fields.get("spec") or (None if name in zoo else name)
        if not spec:
            raise InvalidInputError(
                f"{at}: model {clip(name)} has no known checkpoint (the zoo lists no spec). Give one: "
                f"`- {{name: {clip(name)}, spec: /path/or/hub-id}}`."
            )
        models.append(
            ModelTask(name, str(spec), params_b=fields.get("params_b"), layers=fields.get("layers"), fields=fields)
        )
    names = [m.name for m in models]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidInputError(f"{path}:{line}: model names must be unique; listed twice: {clip(twice)}.")
    return models


# ---------------------------------------------------------------------------------------------- resources & plan


def estimate_memory(model: ModelTask, benchmarks: Iterable[str], dtype: str) -> int:
    """Bytes a worker needs for `model` on `benchmarks`: weights + the largest activation array, × 1.3 headroom.

    Parameters from the zoo (``params_b``), else read from the model's config on the meta device. Activations of a
    benchmark that reads representations (kind neural or similarity): (layers + 1) × stimuli × hidden × 4 bytes
    (readouts are float32), stimuli counted from the benchmark's datasets, hidden ≈ √(params / (12 · layers)) when
    unknown; of any other benchmark: one chunk of logits.
    """
    from tuneshift.benchmarks import BENCHMARKS

    params, layers, hidden = _shape(model)
    activations = [
        (layers + 1) * count_stimuli(b) * hidden * 4
        if BENCHMARKS.get(b).kind in ("neural", "similarity")
        else SURPRISAL_BYTES
        for b in benchmarks
    ]
    return int(1.3 * (params * BYTES_PER_PARAMETER[dtype] + max(activations, default=0)))


@functools.lru_cache(maxsize=64)
def count_stimuli(benchmark: str) -> int:
    """Stimuli a representation benchmark reads out: the largest of its datasets (those whose files are its data
    files), counted from the data; :data:`UNCOUNTED_STIMULI` when its data is not here."""
    from tuneshift.benchmarks import BENCHMARKS
    from tuneshift.data import DATASETS

    bench = BENCHMARKS.get(benchmark)
    if not bench.available():
        return UNCOUNTED_STIMULI
    files = set(bench.files())
    counts = [
        getattr(DATASETS.get(name).load(), "n_stimuli", 0)
        for name in DATASETS.names()
        if DATASETS.get(name).available() and set(DATASETS.get(name).paths()) <= files
    ]
    return max(counts, default=0) or UNCOUNTED_STIMULI


def _shape(model: ModelTask) -> tuple[float, int, int]:
    if model.params_b and model.layers:
        params, layers = model.params_b * 1e9, int(model.layers)
        return params, layers, int(math.sqrt(params / (12 * layers)))
    from tuneshift.models.load import describe_model

    info = describe_model(model.spec)
    params = float(str(info["parameters"]).replace(",", ""))
    layers = int(info["blocks (layers 1..N)"])
    return params, layers, int(info["hidden size"])


def checkpoint_stamp(spec: str) -> str | None:
    """What identifies a checkpoint's files without loading it (None when nothing local does): for a folder, the
    names, sizes and modification times of its weight/config/tokenizer files (:data:`CHECKPOINT_FILES`; files
    tuneshift writes never match); for a file, its own; for a hub id, its cached snapshot (the commit)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and CHECKPOINT_FILES.fullmatch(p.name))
    elif path.is_file():
        files = [path]
    else:
        return _hub_snapshot(spec)
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return json.dumps([str(path.resolve()), stats])


def _hub_snapshot(spec: str) -> str | None:
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(spec, "config.json")
    except Exception:  # not a hub id (a catalog name, a typo): nothing identifies it without loading
        return None
    return str(Path(cached).parent) if isinstance(cached, str) else None


def memo_key(model: ModelTask, dtype: str) -> str | None:
    """Key of `model`'s remembered fingerprint: its checkpoint stamp, random init and seed, dtype."""
    stamp = checkpoint_stamp(model.spec)
    if stamp is None:
        return None
    blob = json.dumps([stamp, model.random_init, model.seed if model.random_init else None, dtype])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Task:
    model: ModelTask
    benchmark: str

    def status_path(self, out: Path) -> Path:
        """Run status of this task (state, time, host, error): named by hashes, never by the model's name."""
        return out / "status" / f"{self.model.key}-{self.benchmark}.json"


@dataclass
class Plan:
    """The tasks of a study and which the results store holds already (for models whose fingerprint is known)."""

    study: Study
    out: Path
    tasks: list[Task]
    finished: set[Task]
    unreadable: dict[str, str] = field(default_factory=dict)  # model name → why its config cannot be read

    @functools.cached_property
    def memory(self) -> dict[str, int]:
        """Model name → estimated bytes (computed on first use: the local executor never needs it). A model whose
        config cannot be read gets 0 (and a line in :meth:`problems`): its tasks then fail at load time and are
        reported like any other failure."""
        memory = {}
        for model in self.study.models:
            try:
                memory[model.name] = estimate_memory(model, self.study.benchmarks, self.study.dtype)
            except Exception as error:  # the load in the worker reports the real error, as a failed task
                memory[model.name] = 0
                self.unreadable[model.name] = truncate(f"{type(error).__name__}: {error}".splitlines()[0])
        return memory

    def problems(self) -> list[str]:
        """What would make tasks fail, found without loading a model: configs that cannot be read, data not here."""
        from tuneshift.benchmarks import BENCHMARKS

        self.memory  # noqa: B018 (fills self.unreadable)
        lines = [f"{clip(name)}: its config cannot be read ({error})" for name, error in self.unreadable.items()]
        return lines + [
            f"{b}: its data is not on this machine (`tuneshift data list`, `tuneshift data fetch`)"
            for b in self.study.benchmarks
            if not BENCHMARKS.get(b).available()
        ]

    @property
    def pending(self) -> list[Task]:
        return [t for t in self.tasks if t not in self.finished]

    def jobs(self, sized: bool) -> list[ModelJob]:
        """One job per model with pending tasks; memory estimated when `sized` (Ray packs by it)."""
        options = self.study.options
        gpus = float(options.get("num_gpus", 1 if str(options.get("device")) == "cuda" else 0))
        cpus = float(options.get("num_cpus", 1))
        jobs = []
        for model in self.study.models:
            benchmarks = tuple(t.benchmark for t in self.pending if t.model == model)
            if benchmarks:
                jobs.append(ModelJob(model, benchmarks, self.memory[model.name] if sized else 0, cpus, gpus))
        return jobs

    def describe(self) -> pd.DataFrame:
        """One row per model: tasks, pending tasks, estimated memory (GB), estimated seconds of pending tasks."""
        estimates = self.estimate_seconds()
        rows = []
        for model in self.study.models:
            mine = [t for t in self.tasks if t.model == model]
            pending = [t for t in mine if t not in self.finished]
            known = [estimates[t] for t in pending if t in estimates]
            rows.append(
                {
                    "model": model.name,
                    "spec": model.spec + (" (random init)" if model.random_init else ""),
                    "tasks": len(mine),
                    "pending": len(pending),
                    "memory_gb": self.memory[model.name] / 1e9,
                    "seconds": sum(known) if len(known) == len(pending) and pending else float("nan"),
                }
            )
        return pd.DataFrame(rows)

    def estimate_seconds(self) -> dict[Task, float]:
        """Seconds each pending task should take, from the throughput measured by earlier runs in this folder:
        per benchmark, the median seconds per billion parameters of its finished tasks × this model's size. Tasks
        of a benchmark never measured here have no estimate."""
        rates: dict[str, list[float]] = {}
        for path in (self.out / "status").glob("*.json"):
            status = _read_status(path)
            if status.get("state") == "done" and status.get("seconds") and status.get("n_parameters"):
                rates.setdefault(status["benchmark"], []).append(status["seconds"] / (status["n_parameters"] / 1e9))
        estimates = {}
        for task in self.pending:
            if task.benchmark in rates:
                try:
                    params = _shape(task.model)[0]
                except Exception:  # config unreadable: the task will fail at load, no estimate
                    continue
                estimates[task] = statistics.median(rates[task.benchmark]) * params / 1e9
        return estimates


def plan_study(study: Study, out_dir: str | os.PathLike) -> Plan:
    """Every (model, benchmark) task; finished = the results store in `out_dir` holds its unit (for models whose
    fingerprint ``fingerprints.json`` remembers for the same checkpoint files; others are loaded to find out)."""
    out = Path(out_dir)
    tasks = [Task(m, b) for m in study.models for b in study.benchmarks]
    remembered = _read_status(out / "fingerprints.json")
    finished = set()
    if (out / "units").is_dir() and remembered:
        from tuneshift.benchmarks.store import ResultStore

        store = ResultStore(out)
        for task in tasks:
            known = remembered.get(memo_key(task.model, study.dtype) or "")
            if known and _stored(store, task, known["fingerprint"], known["variant"], study.resolved):
                finished.add(task)
    return Plan(study, out, tasks, finished)


def _stored(store: Any, task: Task, fingerprint: str, variant: dict, resolved: dict[str, Any]) -> bool:
    """Whether `store` holds the unit `tuneshift.benchmarks.score` would write for `task` (the store decides)."""
    from tuneshift.benchmarks import BENCHMARKS
    from tuneshift.benchmarks import options as opts
    from tuneshift.benchmarks.run import DEFAULT_VARIANT
    from tuneshift.benchmarks.store import data_digest, label, unit_key

    bench = BENCHMARKS.get(task.benchmark)
    options = opts.keyed(resolved[task.benchmark])
    key = unit_key(fingerprint, variant, bench.identifier, options, data_digest(bench.files()), bench.version)
    model = label(task.model.name, {k: v for k, v in variant.items() if DEFAULT_VARIANT.get(k) != v})
    return store.find(bench.identifier, key, model) is not None


def _read_status(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


# ------------------------------------------------------------------------------------------------------- workers


@dataclass(frozen=True)
class JobSettings:
    """What every job of one run shares (sent to each worker)."""

    out: str
    options: dict[str, Any]
    resolved: dict[str, Any]  # benchmark id → its options instance
    run_id: str


def run_model_job(
    job: ModelJob, settings: JobSettings, on_event: Callable[[str, dict], None] | None = None
) -> Outcomes:
    """Load `job.model` once and score each of its benchmarks into the study's results store; one status file per
    task. Returns one outcome per benchmark (state done / skipped / failed, seconds, error, and the model's
    fingerprint for ``fingerprints.json``); never raises for a task's failure: a load failure fails all of the
    model's tasks, a benchmark failure only its own."""
    out, model = Path(settings.out), job.model
    identity: dict[str, Any] = {"memo": memo_key(model, str(settings.options.get("dtype", "float32")))}

    def record(benchmark: str, state: str, **extra: Any) -> dict:
        status = {
            "model": model.name, "spec": model.spec, "benchmark": benchmark, "state": state, "run_id": settings.run_id,
            "host": os.uname().nodename, "pid": os.getpid(), "time": time.time(), **identity, **extra,
        }  # fmt: skip
        write_json(Task(model, benchmark).status_path(out), status)
        if on_event:
            on_event(state, status)
        return status

    try:
        from tuneshift.models import load_model

        load_options = {k: settings.options[k] for k in ("dtype", "device", "device_map") if k in settings.options}
        for benchmark in job.benchmarks:
            record(benchmark, "loading")
        loaded = load_model(model.spec, random_init=model.random_init, seed=model.seed, **load_options)
        loaded.name = model.name
        identity.update(fingerprint=loaded.fingerprint, variant=loaded.variant, n_parameters=loaded.n_parameters)
    except Exception as error:
        message = truncate(f"{type(error).__name__}: {error}")
        return [record(b, "failed", error=message, stage="load", seconds=0.0) for b in job.benchmarks]
    from tuneshift.benchmarks import score
    from tuneshift.benchmarks.store import ResultStore

    outcomes = []
    for benchmark in job.benchmarks:
        task = Task(model, benchmark)
        if _stored(ResultStore(out), task, identity["fingerprint"], identity["variant"], settings.resolved):
            outcomes.append(record(benchmark, "skipped", seconds=0.0))
            continue
        record(benchmark, "running")
        start = time.perf_counter()
        try:
            options = {benchmark: settings.resolved[benchmark]}
            score(
                loaded,
                [benchmark],
                out,
                options=options,
                cache=bool(settings.options.get("cache", True)),
                progress=False,
            )
            outcomes.append(record(benchmark, "done", seconds=time.perf_counter() - start))
        except Exception as error:
            message = truncate(f"{type(error).__name__}: {error}")
            tail = traceback.format_exc(limit=-3)
            outcomes.append(
                record(
                    benchmark,
                    "failed",
                    error=message,
                    stage="score",
                    traceback=tail,
                    seconds=time.perf_counter() - start,
                )
            )
    del loaded
    return outcomes


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

    def event(self, state: str, status: dict) -> None:
        task = f"{status['model']} × {status['benchmark']}"
        if state in ("loading", "running"):
            self.running.add(task)
            if state == "loading":
                return
        else:
            self.running.discard(task)
            self.done += state == "done"
            self.skipped += state == "skipped"
            self.failed += state == "failed"
        if not self.enabled:
            return
        finished = self.done + self.failed
        left = self.total - self.skipped - finished
        eta = f"ETA {left * (time.monotonic() - self.start) / finished:.0f} s" if finished else "ETA unknown"
        took = f" ({status['seconds']:.1f} s)" if status.get("seconds") else ""
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
    executor: str | Executor = "local",
    address: str | None = None,
    progress: bool = True,
    ray_init: dict[str, Any] | None = None,
) -> StudyOutcome:
    """Run every unfinished task of `study` into `out_dir` (see the module docstring) with `executor` (a name in
    :data:`tuneshift.study.executors.EXECUTORS`, or an instance); failures go to ``failures.csv``."""
    out = Path(out_dir)
    plan = plan_study(study, out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "study.json", _study_record(study))
    run_id = uuid.uuid4().hex[:12]
    tracker = _Progress(len(plan.tasks), len(plan.finished), progress)
    seen: dict[Path, str] = {}

    def poll() -> None:  # engines that run work elsewhere: progress from the status files
        for task in plan.pending:
            status = _read_status(task.status_path(out))
            state = status.get("state")
            if status.get("run_id") == run_id and seen.get(task.status_path(out)) != state:
                seen[task.status_path(out)] = state
                tracker.event(state, status)

    start = time.monotonic()
    work = functools.partial(run_model_job, settings=JobSettings(str(out), study.options, study.resolved, run_id))
    if isinstance(executor, str):
        settings = {"address": address, "init": ray_init}
        engine = make_executor(executor, work, on_event=tracker.event, **settings)
    else:
        engine = executor
    outcomes: list[dict] = []
    with engine:
        for job in plan.jobs(engine.sized):
            engine.submit(job)
        for job, result in engine.gather(on_wait=poll):
            mine = _lost(out, job, result) if isinstance(result, Exception) else result
            _remember(out, mine)
            outcomes += mine
    failures = pd.DataFrame([o for o in outcomes if o["state"] == "failed"], columns=FAILURE_COLUMNS)
    _write_failures(out, failures, [(o["model"], o["benchmark"]) for o in outcomes if o["state"] != "failed"])
    done = sum(o["state"] == "done" for o in outcomes)
    skipped = len(plan.finished) + sum(o["state"] == "skipped" for o in outcomes)
    return StudyOutcome(skipped, done, len(failures), time.monotonic() - start, failures)


def _lost(out: Path, job: ModelJob, error: Exception) -> list[dict]:
    """Outcomes of a job whose worker was lost: tasks its status says finished keep their state; the others fail
    with the cause (and the task the worker was on when it died)."""
    cause = truncate(f"{type(error).__name__}: {error}".splitlines()[0])
    outcomes = []
    for benchmark in job.benchmarks:
        status = _read_status(Task(job.model, benchmark).status_path(out))
        if status.get("state") in ("done", "skipped"):
            outcomes.append(status)
            continue
        during = f" while {status['state']} this task" if status.get("state") in ("loading", "running") else ""
        outcomes.append(
            {
                "model": job.model.name,
                "spec": job.model.spec,
                "benchmark": benchmark,
                "state": "failed",
                "error": f"worker lost{during} (tried twice): {cause}",
                "stage": "worker",
                "host": status.get("host", ""),
                "seconds": 0.0,
            }
        )
    return outcomes


def _remember(out: Path, outcomes: list[dict]) -> None:
    """Record the fingerprint each loaded checkpoint had, so the next plan knows it without loading the model."""
    found = {o["memo"]: {"fingerprint": o["fingerprint"], "variant": o["variant"], "model": o["model"]}
             for o in outcomes if o.get("memo") and o.get("fingerprint")}  # fmt: skip
    if found:
        write_json(out / "fingerprints.json", {**_read_status(out / "fingerprints.json"), **found})


def _write_failures(out: Path, failures: pd.DataFrame, finished_now: list[tuple[str, str]]) -> None:
    """failures.csv: this run's failures plus earlier ones not fixed since (a task finished now leaves the file)."""
    path = out / "failures.csv"
    earlier = pd.read_csv(path) if path.exists() else failures.iloc[:0]
    if len(earlier):
        settled = set(finished_now) | set(zip(failures["model"], failures["benchmark"], strict=True))
        earlier = earlier[[pair not in settled for pair in zip(earlier["model"], earlier["benchmark"], strict=True)]]
    table = pd.concat([earlier, failures], ignore_index=True) if len(earlier) else failures
    write_csv(path, table)


def _study_record(study: Study) -> dict:
    return {
        "source": study.source,
        "benchmarks": study.benchmarks,
        "options": study.options,
        "benchmark_options": study.benchmark_options,
        "models": [
            {
                "name": m.name,
                "key": m.key,
                "spec": m.spec,
                "random_init": m.random_init,
                "seed": m.seed,
                **{k: v for k, v in m.fields.items() if k not in ("spec", "reported", "defined_at")},
            }
            for m in study.models
        ],
    }


# -------------------------------------------------------------------------------------------------------- tables


def model_table(out_dir: str | os.PathLike, *, score: str = "best_raw", include_controls: bool = False) -> pd.DataFrame:
    """The model table of a finished study for :mod:`tuneshift.study.stats`: one row per model with its zoo fields
    and, per benchmark, its `score` from summary.json (``best_raw`` as the paper reports, or ``honest_raw``) — as
    the results store has it (rebuilt when older than its units; in memory when the folder is read-only)."""
    from tuneshift.benchmarks.store import UNITS, ResultStore, label

    out = Path(out_dir)
    record = json.loads((out / "study.json").read_text())
    if any((out / UNITS).glob("*.json")):
        summary = ResultStore.reading(out).tables()[1]
    else:
        summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
    dtype = record.get("options", {}).get("dtype", "float32")
    rows = []
    for model in record["models"]:
        if model.get("random_init") and not include_controls:
            continue
        row = {k: v for k, v in model.items() if k not in ("key", "slug", "seed", "name")}
        row = {"model": model["name"], "instruction_tuned": bool(row.pop("instruction_tuned", False)), **row}
        results = summary.get(label(model["name"], {"dtype": dtype} if dtype != "float32" else {}), {})
        for benchmark, values in results.items():
            row[benchmark] = values.get(score)
        rows.append(row)
    return pd.DataFrame(rows)
