"""Everything the report shows, read once from a run directory.

Score results come through the results store (:func:`_score_results`, the one place that knows their files), opened
read-only where the folder cannot be written (:meth:`ResultStore.reading`: nothing is written there); the
tables of `compare` / `study` and the outputs of `tuneshift explain` are read as they were written. A partial
directory (an interrupted study) is fine: what is there is read, and what is absent is listed in
:attr:`Run.missing` (model × benchmark units not finished or failed) and :attr:`Run.unreadable`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tuneshift.errors import DataNotFoundError, InvalidInputError

STUDY_TABLES = ("compare", "effects", "effects_summary", "correlations", "table2", "models", "failures")
INTERNALS_FILES = (
    "instruction_scores.csv",
    "internals_samples.csv",
    "ffn_shares.csv",
    "heads_tuned.tsv",
    "heads_base.tsv",
    "verbs_tests.csv",
    "attribution.npy",
)
SUMMARY_FIELDS = ("best_layer", "best_raw", "best_normalized", "ceiling", "honest_raw", "honest_normalized")
SEARCH_DEPTH = 3  # internals folders may sit one or two levels below the run directory (compare --internals)
SKIPPED_FOLDERS = {"units", "models", "tasks", "cache", ".git"}  # score units and study task files, never internals


@dataclass
class Internals:
    """The files one `tuneshift explain ...` output folder holds (each None / empty when absent)."""

    directory: Path
    instruction_scores: pd.DataFrame | None = None  # id, source, model, score, n_instruction_tokens, ...
    instruction_summary: pd.DataFrame | None = None  # source, comparison, group, mean, n, p_value
    attribution: tuple[np.ndarray, dict] | None = None  # (prompt × response matrix, tokens.json)
    heatmaps: list[Path] = field(default_factory=list)  # attribution PNGs `explain` drew for chosen samples
    ffn_shares: pd.DataFrame | None = None
    ffn_compare: pd.DataFrame | None = None
    heads: dict[str, pd.DataFrame] = field(default_factory=dict)  # role (tuned/base) → paper-format TSV
    verbs_tests: pd.DataFrame | None = None
    verbs_shares: pd.DataFrame | None = None


@dataclass
class Run:
    """A run directory as the report sees it.

    scores: one row per model × benchmark × layer (``model, benchmark, layer, raw, ceiling, normalized`` + extras).
    summary: one row per finished model × benchmark (:data:`SUMMARY_FIELDS` + any scalar extras such as ci_low).
    details: (model, benchmark) → the non-scalar summary entries (per-story scores, honest layers per split, ...).
    methods: how the numbers were obtained, as the results store records it (models, benchmarks, environment).
    tables: the study's tables that are present, by file stem (``compare``, ``effects``, ``correlations``, ...).
    """

    directory: Path
    scores: pd.DataFrame
    summary: pd.DataFrame
    details: dict[tuple[str, str], dict]
    methods: dict
    tables: dict[str, pd.DataFrame]
    compare: dict | None
    study: dict | None  # study.json: the study's models (spec, zoo fields, seed), benchmarks and options
    internals: list[Internals]
    missing: pd.DataFrame  # model, benchmark, status ("failed" | "not finished")
    unreadable: dict[str, str]  # file (or figure) → why it could not be read (or drawn)
    units: dict[tuple[str, str], Any] = field(default_factory=dict)  # (model, benchmark) → store Unit
    extras: dict[str, Any] = field(default_factory=dict)  # localize / tune outputs, by name
    store: Any = None  # the results store the units were read from (None: the folder keeps no units)

    def honest_layers(self, model: str, benchmark: str) -> list[int]:
        """Layers the honest protocol chose in each outer split (all datasets of the benchmark), [] if unknown."""
        return _collect(self.details.get((model, benchmark), {}), "honest_layers_per_split")

    @property
    def controls(self) -> set[str]:
        """Models that are random-init controls (as their unit, compare.json or study.json records them)."""
        described = [unit.provenance.get("subject", {}) | {"name": name} for (name, _), unit in self.units.items()]
        roles = (self.compare or {}).get("models", {})
        described += [info | {"name": info.get("name", role)} for role, info in roles.items()]
        described += (self.study or {}).get("models", [])
        return {str(info["name"]) for info in described if info.get("random_init") in (True, "true", "True", 1)}

    def values(self, model: str, benchmark: str) -> Any:
        """The per-unit values (xarray Dataset) the unit of `model` × `benchmark` kept, or None (an unreadable
        file is listed on the page)."""
        unit = self.units.get((model, benchmark))
        if unit is None or not unit.provenance.get("values"):
            return None
        from tuneshift.benchmarks.store import ResultStore

        try:
            return (self.store or ResultStore.reading(self.directory)).values(unit)
        except (InvalidInputError, OSError, ValueError) as error:
            self.unreadable[f"values of {model} on {benchmark}"] = str(error)
            return None


def load_run(directory: str | Path) -> Run:
    """Read everything the report can show from `directory` (see the module docstring)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataNotFoundError(f"{directory}: no such run directory. Give the --out folder of score/compare/study.")
    unreadable: dict[str, str] = {}
    store = _store(directory)
    scores, summary, details, methods = _score_results(directory, store)
    tables = {}
    for stem in STUDY_TABLES:
        table = _read_table(directory / f"{stem}.csv", unreadable)
        if table is not None:
            tables[stem] = table
    if "compare" in tables:  # a compare.csv of any tuneshift version, under today's column names
        from tuneshift.study.compare import with_current_names

        tables["compare"] = with_current_names(tables["compare"])
    compare = _read_json(directory / "compare.json", unreadable)
    internals = [_read_internals(folder, unreadable) for folder in _internals_folders(directory)]
    if scores.empty and not tables and compare is None and not internals and not (directory / "study.json").exists():
        raise InvalidInputError(
            f"{directory}: none of scores.csv, summary.json, {', '.join(f'{s}.csv' for s in STUDY_TABLES)}, "
            "compare.json or `tuneshift explain` outputs is here. Point `tuneshift report` at the --out folder of "
            "`tuneshift score`, `compare`, `study run` or `explain`."
        )
    study = _read_json(directory / "study.json", unreadable)
    if study:
        methods = _with_study_record(methods, study)
    if compare and isinstance(compare.get("models"), dict):
        methods = _with_described_models(methods, compare["models"])
    tasks = _task_states(directory)
    if len(tasks):
        methods = _with_wall_times(methods, tasks)
    missing = _missing(summary, tables.get("failures"), _planned(study), tasks)
    run = Run(directory, scores, summary, details, methods, tables, compare, study, internals, missing, unreadable)
    run.units, run.store = _units(summary, store), store
    return run


# ---------------------------------------------------------------------------------------- score results (adapter)
def _store(directory: Path) -> Any:
    """The results store of `directory` when it keeps per-unit results (``units/*.json``), else None; read-only
    when the folder cannot be written."""
    if not any((directory / "units").glob("*.json")):
        return None
    from tuneshift.benchmarks.store import ResultStore

    return ResultStore.reading(directory)


def _score_results(directory: Path, store: Any = None) -> tuple[pd.DataFrame, pd.DataFrame, dict, dict]:
    """(scores, summary, details, methods) of the run: the one function that knows how score results are stored.

    Reads ``scores.csv`` + ``summary.json`` (the format of `tuneshift.benchmarks.run`).
    """
    scores, raw_summary = _score_tables(directory, store)
    rows, details = [], {}
    for model, benchmarks in raw_summary.items():
        for benchmark, entry in benchmarks.items():
            scalars = {key: value for key, value in entry.items() if not isinstance(value, dict | list)}
            rows.append({"model": model, "benchmark": benchmark, **scalars})
            details[(model, benchmark)] = {k: v for k, v in entry.items() if isinstance(v, dict | list)}
    summary = pd.DataFrame(rows, columns=list(dict.fromkeys(["model", "benchmark", *SUMMARY_FIELDS, *_keys(rows)])))
    return scores, summary, details, _methods_from_tables(scores, summary, details)


def _score_tables(directory: Path, store: Any = None) -> tuple[pd.DataFrame, dict]:
    """scores.csv and summary.json. With per-unit results (`store`) they come through the results store, which
    rebuilds them when they are damaged or older than the units (:mod:`tuneshift.benchmarks.store`; in memory when
    the folder is read-only); without, they are read as they are, and a damaged one is named."""
    scores_path, summary_path = directory / "scores.csv", directory / "summary.json"
    if store is not None:
        return store.tables()
    try:
        scores = pd.read_csv(scores_path) if scores_path.exists() else pd.DataFrame()
        return scores, json.loads(summary_path.read_text()) if summary_path.exists() else {}
    except (ValueError, pd.errors.ParserError) as error:
        raise InvalidInputError(
            f"{directory}: scores.csv or summary.json cannot be read ({error}); run the command that wrote "
            "them again (finished work is reused)."
        ) from None


def _units(summary: pd.DataFrame, store: Any) -> dict[tuple[str, str], Any]:
    """(model, benchmark) → the store's Unit behind each summary row (matched by the row's ``unit_key``; ``unit``
    in tables written before the rename), when the directory keeps per-unit results."""
    column = next((c for c in ("unit_key", "unit") if c in summary), None)  # the store's name for the key
    if store is None or summary.empty or column is None:
        return {}
    by_key = {unit.key: unit for unit in store.units()}
    rows = zip(summary["model"], summary["benchmark"], summary[column], strict=True)
    return {(model, benchmark): by_key[key] for model, benchmark, key in rows if key in by_key}


def _keys(rows: list[dict]) -> list[str]:
    return [key for row in rows for key in row]


def _methods_from_tables(scores: pd.DataFrame, summary: pd.DataFrame, details: dict) -> dict:
    """Methods metadata recoverable from the score files themselves (per-model columns, per-benchmark counts)."""
    model_columns = [c for c in ("fingerprint", "source", "dtype", "device", "quantization", "options") if c in scores]
    models = (
        scores.groupby("model", sort=False)[model_columns].first().reset_index().to_dict("records")
        if model_columns and not scores.empty
        else [{"model": m} for m in dict.fromkeys(summary.get("model", []))]
    )
    benchmarks = {}
    for (_, benchmark), entry in details.items():
        info = benchmarks.setdefault(benchmark, {})
        for key in ("n_stimuli", "n_neuroids", "n_dropped_neuroids", "median_alpha", "context", "sentences"):
            for value in _collect_values(entry, key):
                info.setdefault(key, value)
    for row in summary.to_dict("records"):
        info = benchmarks.setdefault(row["benchmark"], {})
        for key in ("context", "sentences", "n_words", "wall_time_s"):
            if key in row and pd.notna(row[key]):
                info.setdefault(key, row[key])
    return {"models": models, "benchmarks": benchmarks, "environment": {}}


def _with_study_record(methods: dict, study: dict) -> dict:
    """Add what study.json records: each model's spec, zoo fields and seed, and the study's load/readout options."""
    recorded = {row["model"]: row for row in methods["models"]}
    models = [
        {**{k: v for k, v in model.items() if k not in ("name", "slug")}, **recorded.get(model["name"], {})}
        | {"model": model["name"]}
        for model in study.get("models", [])
    ]
    known = {row["model"] for row in models}
    settings = {key: study[key] for key in ("source", "options", "benchmark_options", "options_key") if study.get(key)}
    return {
        **methods,
        "models": models + [row for row in methods["models"] if row["model"] not in known],
        "settings": {**methods.get("settings", {}), **settings},
    }


def _with_described_models(methods: dict, described: dict) -> dict:
    """Add what compare.json records of each model (its ``describe()``: source, dtype, device, quantization...)."""
    by_name = {info.get("name", role): {"role": role} | info for role, info in described.items()}
    models = [
        {k: v for k, v in by_name.pop(row["model"], {}).items() if k != "name"}
        | {k: v for k, v in row.items() if not (isinstance(v, float) and np.isnan(v))}
        for row in methods["models"]
    ]
    models += [{"model": name} | {k: v for k, v in info.items() if k != "name"} for name, info in by_name.items()]
    return {**methods, "models": models}


def _collect(entry: object, key: str) -> list[int]:
    """All integers under `key` anywhere in a nested details dict (neural benchmarks keep one list per dataset)."""
    return [int(v) for values in _collect_values(entry, key) for v in np.atleast_1d(values)]


def _collect_values(entry: object, key: str) -> list:
    if isinstance(entry, dict):
        here = [entry[key]] if key in entry else []
        return here + [v for value in entry.values() for v in _collect_values(value, key)]
    return []


# ------------------------------------------------------------------------------------------------- study tables
def _read_table(path: Path, unreadable: dict[str, str], sep: str = ",") -> pd.DataFrame | None:
    if not path.exists():
        return None
    try:
        return pd.read_csv(path, sep=sep)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        unreadable[str(path)] = f"{type(error).__name__}: {error}".strip()
        return None


def _read_json(path: Path, unreadable: dict[str, str]) -> dict | None:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        unreadable[str(path)] = f"{type(error).__name__}: {error}"
        return None


def _planned(study: dict | None) -> list[tuple[str, str]]:
    """(model, benchmark) units a study set out to produce: every model × benchmark of its ``study.json``."""
    if not study:
        return []
    return [
        (model["name"], benchmark) for model in study.get("models", []) for benchmark in study.get("benchmarks", [])
    ]


def _task_states(directory: Path) -> pd.DataFrame:
    """A study's task status files (``tasks/<model>/<benchmark>.json``): model, benchmark, state, seconds, host."""
    columns = ["model", "benchmark", "state", "seconds", "host"]
    records = [json.loads(path.read_text()) for path in sorted(directory.glob("tasks/*/*.json"))]
    rows = [{key: record.get(key) for key in columns} for record in records if "model" in record]
    return pd.DataFrame(rows, columns=columns)


def _with_wall_times(methods: dict, tasks: pd.DataFrame) -> dict:
    """Wall time per benchmark of a study's finished tasks (seconds: median and total over models; hosts)."""
    done = tasks[tasks["state"] == "done"].astype({"seconds": float})
    benchmarks = {name: dict(info) for name, info in methods.get("benchmarks", {}).items()}
    for benchmark, group in done.groupby("benchmark", sort=False):
        benchmarks.setdefault(benchmark, {}).update(
            {
                "wall_s_median": float(group["seconds"].median()),
                "wall_s_total": float(group["seconds"].sum()),
                "hosts": ", ".join(sorted(group["host"].dropna().astype(str).unique())),
            }
        )
    return {**methods, "benchmarks": benchmarks}


def _missing(
    summary: pd.DataFrame,
    failures: pd.DataFrame | None,
    planned: list[tuple[str, str]],
    tasks: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Units planned (or implied: every model seen × every benchmark seen) but not finished; failed ones flagged,
    running ones (a study's task status says so) too."""
    done = set(zip(summary["model"], summary["benchmark"], strict=True)) if not summary.empty else set()
    failed: dict[tuple[str, str], str] = {}
    if failures is not None and {"model", "benchmark"} <= set(failures.columns):
        errors = failures["error"] if "error" in failures else pd.Series("", index=failures.index)
        failed = {(m, b): str(e) for m, b, e in zip(failures["model"], failures["benchmark"], errors, strict=True)}
    models = dict.fromkeys([*(m for m, _ in done), *(m for m, _ in planned), *(m for m, _ in failed)])
    benchmarks = dict.fromkeys([*(b for _, b in done), *(b for _, b in planned), *(b for _, b in failed)])
    expected = planned or [(m, b) for m in models for b in benchmarks]
    running = set()
    if tasks is not None and len(tasks):
        running = set(tasks.loc[tasks["state"] == "running", ["model", "benchmark"]].itertuples(index=False, name=None))
    rows = [
        (
            m,
            b,
            "failed" if (m, b) in failed else "running" if (m, b) in running else "not finished",
            failed.get((m, b), ""),
        )
        for m, b in dict.fromkeys([*expected, *failed])
        if (m, b) not in done
    ]
    return pd.DataFrame(rows, columns=["model", "benchmark", "status", "error"])


# ------------------------------------------------------------------------------------------------------ internals
def _internals_folders(directory: Path) -> list[Path]:
    """Folders (the run directory and up to SEARCH_DEPTH levels below) holding `tuneshift explain` outputs."""
    found, frontier = [], [directory]
    for _ in range(SEARCH_DEPTH + 1):
        found += [folder for folder in frontier if any((folder / name).exists() for name in INTERNALS_FILES)]
        children = (child for folder in frontier for child in folder.iterdir() if child.is_dir())
        frontier = sorted(child for child in children if child.name not in SKIPPED_FOLDERS)
    return found


def _read_internals(folder: Path, unreadable: dict[str, str]) -> Internals:
    internals = Internals(folder)
    internals.instruction_scores = _read_table(folder / "instruction_scores.csv", unreadable)
    if internals.instruction_scores is not None:
        internals.instruction_summary = _read_table(folder / "summary.csv", unreadable)
        internals.heatmaps = sorted(folder.glob("*.png"))
    else:  # `compare --internals`: the same two tables under the names compare gives them
        internals.instruction_scores = _read_table(folder / "internals_samples.csv", unreadable)
        internals.instruction_summary = _read_table(folder / "internals.csv", unreadable)
    if (folder / "attribution.npy").exists() and (folder / "tokens.json").exists():
        tokens = _read_json(folder / "tokens.json", unreadable)
        if tokens is not None:
            internals.attribution = (np.load(folder / "attribution.npy"), tokens)
    internals.ffn_shares = _read_table(folder / "ffn_shares.csv", unreadable)
    internals.ffn_compare = _read_table(folder / "ffn_compare.csv", unreadable)
    for role in ("tuned", "base"):
        heads = _read_table(folder / f"heads_{role}.tsv", unreadable, sep="\t")
        if heads is not None:
            internals.heads[role] = heads
    internals.verbs_tests = _read_table(folder / "verbs_tests.csv", unreadable)
    internals.verbs_shares = _read_table(folder / "verbs_shares.csv", unreadable)
    return internals
