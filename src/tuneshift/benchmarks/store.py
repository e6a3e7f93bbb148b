"""The results of a scoring directory, keyed by what was computed and safe under concurrent writers.

Every finished (subject, benchmark, options) unit is one file, ``OUT/units/<benchmark>-<key>-<label hash>.json``,
written atomically: its score rows, summary and provenance (subject fingerprint, variant and description, benchmark
options, data digest, tuneshift version). The key hashes everything that changes the numbers — fingerprint,
variant (compute dtype), benchmark id, keyed options, data digest — so a rerun with other options adds a unit
and a rerun with the same ones finds it; the benchmark's ``version`` joins the key, so a protocol change recomputes
that benchmark only. A unit's per-unit values (``BenchmarkResult.values``: per neuroid, split, story or item) are
``OUT/units/<unit file stem>.nc`` (netCDF), written before the unit file, whose ``provenance["values"]`` records
their SHA-256: a damaged or missing array file makes the unit unfinished (named, recomputed).

The tables are a function of the units: ``OUT/scores.csv`` and ``OUT/summary.json`` are assembled from all units
under a file lock after each unit (two processes scoring into one directory both keep their work), and again by
any store that opens a folder whose units are newer than, or missing from, its tables (a crash or a full disk
between a unit and the tables). Tables the store cannot account for — rows of units that are not in ``units/``,
written by another command or copied in — are never overwritten: they are moved aside (``scores.kept-1.csv``)
with a warning. A full disk raises :class:`tuneshift._io.DiskFullError` saying what was saved.

A folder that cannot be written (a read-only mount, results copied from a cluster without write permission) is
read through ``ResultStore(DIR, read_only=True)`` — :meth:`ResultStore.reading` picks it for such a folder: no
lock file, nothing moved, deleted or rewritten; tables that are missing, stale or not the units' are assembled in
memory from the units instead.

Labels: a result's ``model`` is the subject's name, followed by its non-default variant (``smollm2
[dtype=bfloat16]``); its ``benchmark`` is the id followed by non-default options (``Futrell2018-pearsonr
[context=stream]``). Two subjects with one label but different fingerprints (hub weights vs. a GGUF under one
name) get ``#<fingerprint>`` appended; one computation listed under a second name (the same weights as "base"
and as "tuned") is copied under that name, not recomputed.
"""

from __future__ import annotations

import glob
import hashlib
import io
import json
import os
import platform
import time
import warnings
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from filelock import FileLock

import tuneshift
from tuneshift._io import DiskFullError, json_text, write_bytes, write_csv, write_json
from tuneshift.errors import InvalidInputError

if TYPE_CHECKING:
    import xarray as xr

UNITS = "units"
FORMAT = 1
TABLES = ("scores.csv", "summary.json")
#: The column of scores.csv and the field of summary.json entries that hold a row's unit key (``unit`` is taken:
#: benchmarks name their measure's unit with it, e.g. Futrell's "|r|").
KEY = "unit_key"
#: Packages whose versions each unit records (with Python's).
ENVIRONMENT = ("torch", "transformers", "numpy", "scipy", "scikit-learn", "xarray", "himalaya", "lm_eval")
VALUES_SUFFIX = ".nc"


@dataclass
class Unit:
    """One finished (subject, benchmark, options) result."""

    key: str
    model: str
    benchmark: str
    scores: pd.DataFrame
    summary: dict
    provenance: dict = field(default_factory=dict)
    values: xr.Dataset | None = field(default=None, repr=False)  # written beside the unit file, not in it

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "key": self.key,
            "model": self.model,
            "benchmark": self.benchmark,
            "summary": self.summary,
            "provenance": self.provenance,
            "scores_csv": self.scores.to_csv(index=False),
        }

    @classmethod
    def from_json(cls, record: dict) -> Unit:
        scores = pd.read_csv(io.StringIO(record["scores_csv"]))
        return cls(record["key"], record["model"], record["benchmark"], scores, record["summary"], record["provenance"])


def label(name: str, settings: dict) -> str:
    """`name` followed by its non-default settings in brackets (none: the name alone)."""
    return f"{name} [{', '.join(f'{k}={v}' for k, v in sorted(settings.items()))}]" if settings else name


def unit_key(fingerprint: str, variant: dict, benchmark: str, options: dict, data: str, version: int = 1) -> str:
    """Hash of everything that changes a unit's numbers, the benchmark's protocol `version` included (version 1
    adds nothing to the hash, so units from before versions keep their keys)."""
    parts = [fingerprint, variant, benchmark, options, data] + ([version] if version != 1 else [])
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def data_digest(paths: list[Path]) -> str:
    """SHA-256 over the benchmark's data files (each hashed once per process and file version)."""
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        stat = path.stat()
        digest.update(f"{path.name}:{_file_sha256(str(path), stat.st_size, stat.st_mtime_ns)}".encode())
    return digest.hexdigest()[:16]


@lru_cache(maxsize=256)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


class ResultStore:
    """The units of one output directory, and the tables assembled from them.

    read_only: read the folder without writing anything in it (no lock file; tables that are missing or stale are
        assembled in memory, never written; damaged units are skipped, not removed); :meth:`save` and
        :meth:`assemble` are refused. :meth:`reading` opens a folder read-only exactly when it cannot be written.
    """

    def __init__(self, out_dir: str | os.PathLike, *, read_only: bool = False):
        self.root = Path(out_dir)
        self.units_dir = self.root / UNITS
        self.read_only = read_only
        self._lock: AbstractContextManager = nullcontext()
        if read_only:
            return
        _check_writable(self.root)
        self._lock = FileLock(str(self.root / ".tuneshift.lock"))
        self.refresh()

    @classmethod
    def reading(cls, out_dir: str | os.PathLike) -> ResultStore:
        """The store to read `out_dir` with: a writer's store where the folder can be written (stale tables are
        rebuilt in place, as today), a read-only one where it cannot be (or does not exist: nothing is created)."""
        return cls(out_dir, read_only=not writable(out_dir))

    def path(self, unit: Unit) -> Path:
        """Where `unit` lives: its benchmark id, key and a hash of its model label (one computation can be
        listed under several names: the same weights scored as "base" and as "tuned"). No part of a label reaches
        the file name, so any label is safe; the benchmark id is a registered name, checked to stay in units/."""
        name = hashlib.sha256(unit.model.encode()).hexdigest()[:6]
        path = self.units_dir / f"{unit.provenance['benchmark_id']}-{unit.key}-{name}.json"
        if path.parent != self.units_dir or path.name.startswith("."):
            raise InvalidInputError(f"benchmark id {unit.provenance['benchmark_id']!r} is not a file name.")
        return path

    def find(self, benchmark: str, key: str, model: str) -> Unit | None:
        """The finished unit of `key` for `model`; failing that, the same computation finished under another
        name, relabelled and saved for `model` (nothing is recomputed). Unreadable files, and units whose values
        file is missing or damaged, are named and removed (so the unit is recomputed); a read-only store names them
        and removes nothing, and relabels in memory."""
        found = []
        for path in sorted(self.units_dir.glob(f"{glob.escape(benchmark)}-{key}-*.json")):
            unit = _read_unit(path)
            problem = "" if unit is None else self._values_problem(unit)
            if problem:
                fate = "is skipped (read-only folder)" if self.read_only else "will be recomputed"
                warnings.warn(f"{problem}; the result {path.name} {fate}.", stacklevel=2)
            if unit is None or problem:
                if not self.read_only:
                    path.unlink(missing_ok=True)
            else:
                found.append(unit)
        for unit in found:
            if unit.model == model:
                return unit
        if not found:
            return None
        other = found[0]
        scores = other.scores.assign(model=model)
        unit = Unit(key, model, other.benchmark, scores, other.summary, {**other.provenance, "same_as": other.model})
        if self.read_only:  # relabelled in memory; its values record names the other unit's file
            return unit
        self.save(unit, values_from=other)
        return unit

    def save(self, unit: Unit, *, values_from: Unit | None = None) -> None:
        """Write `unit` (its values first, then the unit file, each atomically), then reassemble the tables.
        values_from: a unit of the same computation whose values file is copied for `unit` (a second name)."""
        self._refuse_if_read_only("save a result")
        path = self.path(unit)
        record = unit.provenance.get("values")
        if unit.values is not None:
            record = self._write_values(path, _values_bytes(unit.values))
        elif values_from is not None and record:
            record = self._write_values(path, self._values_file(values_from).read_bytes())
        if record:
            unit.provenance["values"] = record
        try:
            write_json(path, unit.to_json())
        except DiskFullError as error:
            path.with_suffix(VALUES_SUFFIX).unlink(missing_ok=True)
            raise error.saying(f"this result was not saved; the results before it are in {self.units_dir}") from None
        try:
            self.assemble()
        except DiskFullError as error:
            saved = f"the result was saved ({path}), the tables were not; they are rebuilt from {UNITS}/ by any rerun"
            raise error.saying(saved) from None

    def values(self, unit: Unit) -> xr.Dataset | None:
        """The per-unit values of `unit` (None when its benchmark kept none), checked against their recorded
        SHA-256; a missing or damaged file is refused by name (a rerun of the score recomputes it)."""
        import xarray as xr

        if not unit.provenance.get("values"):
            return None
        problem = self._values_problem(unit)
        if problem:
            raise InvalidInputError(f"{problem}. Run the same score again: the result is recomputed.")
        with xr.open_dataset(self._values_file(unit), engine="netcdf4") as dataset:
            return dataset.load()

    def units(self) -> list[Unit]:
        """Every readable unit, oldest first (an unreadable file is reported and skipped)."""
        found = [_read_unit(path) for path in sorted(self.units_dir.glob("*.json"))]
        return sorted((u for u in found if u is not None), key=lambda u: u.provenance.get("finished", 0.0))

    def refresh(self) -> bool:
        """Rebuild the tables when units are newer than them or missing from them (a crash or a full disk after a
        unit was written); tables that hold rows of units not in units/ are kept aside first. Return whether the
        tables were rebuilt (never in a read-only store: :meth:`tables` assembles them in memory)."""
        if self.read_only:
            return False
        with self._lock:
            unit_files = list(self.units_dir.glob("*.json"))
            if self._keep_foreign({_key_of(path) for path in unit_files}) or _stale(self.root, unit_files):
                self.assemble()
                return True
        return False

    def tables(self) -> tuple[pd.DataFrame, dict]:
        """scores.csv and summary.json, rebuilt first when the units say they are out of date (read-only: assembled
        in memory instead, when they are missing, stale or hold rows the units cannot account for)."""
        if self.read_only:
            return self._tables_in_memory()
        self.refresh()
        with self._lock:
            return _read_tables(self.root)

    def assemble(self) -> tuple[pd.DataFrame, dict]:
        """Rewrite ``scores.csv`` and ``summary.json`` from every unit, under a lock shared by all writers; tables
        holding rows of other units are moved aside first, never overwritten. Each (model, benchmark) is listed
        once, by its newest unit: an older one (another benchmark version, other data) stays in units/ and is
        named in the summary entry's ``superseded``."""
        self._refuse_if_read_only("rewrite its tables")
        with self._lock:
            self._keep_foreign({_key_of(path) for path in self.units_dir.glob("*.json")})  # unreadable ones too
            table, summary = self._assembled()
            write_csv(self.root / "scores.csv", table)
            write_json(self.root / "summary.json", summary)
        return table, summary

    def _assembled(self) -> tuple[pd.DataFrame, dict]:
        """The tables as the units make them (see :meth:`assemble`), in memory."""
        units = self.units()
        labels = _disambiguated(units)
        newest = {(model, unit.benchmark): unit for unit, model in zip(units, labels, strict=True)}
        superseded: dict[tuple[str, str], list[str]] = {}
        for unit, model in zip(units, labels, strict=True):
            if newest[model, unit.benchmark] is not unit:
                superseded.setdefault((model, unit.benchmark), []).append(unit.key)
        listed = [(u, m) for u, m in zip(units, labels, strict=True) if newest[m, u.benchmark] is u]
        summary = {}
        for unit, model in listed:
            entry = {**unit.summary, **_flat(unit.provenance), KEY: unit.key}
            old = superseded.get((model, unit.benchmark))
            summary.setdefault(model, {})[unit.benchmark] = {**entry, "superseded": old} if old else entry
        table = pd.concat([u.scores for u, _ in listed], ignore_index=True) if listed else pd.DataFrame()
        if listed:  # one column assignment for all rows (per-unit `assign` was 90% of a save at 200 units)
            rows = [len(u.scores) for u, _ in listed]
            table["model"] = np.repeat([m for _, m in listed], rows)
            table["benchmark"] = np.repeat([u.benchmark for u, _ in listed], rows)
            table[KEY] = np.repeat([u.key for u, _ in listed], rows)
        return table, summary

    def _tables_in_memory(self) -> tuple[pd.DataFrame, dict]:
        """The read-only store's tables: the folder's own when they account for every unit, else assembled from
        the units (tables holding rows of other units are named in a warning, and left where they are)."""
        unit_files = list(self.units_dir.glob("*.json"))
        present = [name for name in TABLES if (self.root / name).exists()]
        reason = _foreign(self.root, {_key_of(path) for path in unit_files}) if present else ""
        if reason:
            warnings.warn(
                f"{self.root}: the tables there ({', '.join(present)}) {reason}; the folder is read-only, so they "
                f"are left as they are and the tables are assembled from {UNITS}/ in memory.",
                stacklevel=3,
            )
        if not (reason or _stale(self.root, unit_files)):
            return _read_tables(self.root)
        table, summary = self._assembled()  # as a reader gets them from the files assemble() writes
        text = table.to_csv(index=False)
        return pd.read_csv(io.StringIO(text)) if len(text) > 1 else pd.DataFrame(), json.loads(json_text(summary))

    def _refuse_if_read_only(self, what: str) -> None:
        if self.read_only:
            raise InvalidInputError(f"{self.root}: the results store is open read-only; it cannot {what} there.")

    def _keep_foreign(self, keys: set[str]) -> bool:
        """Move the tables aside when they hold what the units cannot rebuild: rows of units not in `keys`, no
        ``unit`` column (tables from before units, or another command's), or unreadable. Return whether moved."""
        present = [self.root / name for name in TABLES if (self.root / name).exists()]
        if not present:
            return False
        reason = _foreign(self.root, keys)
        if not reason:
            return False
        tag = "before-units" if reason == "predate the results store" else _free_tag(self.root)
        kept = [table.with_name(table.name.replace(".", f".{tag}.", 1)) for table in present]
        for table, keep in zip(present, kept, strict=True):
            os.replace(table, keep)
        warnings.warn(
            f"{self.root}: the tables there ({', '.join(t.name for t in present)}) {reason}; kept as "
            f"{', '.join(k.name for k in kept)}, and the tables are rebuilt from {UNITS}/.",
            stacklevel=4,
        )
        return True

    def _values_file(self, unit: Unit) -> Path:
        return self.units_dir / unit.provenance["values"]["file"]

    def _values_problem(self, unit: Unit) -> str:
        """What is wrong with `unit`'s values file ("" when it has none or it matches its SHA-256)."""
        record = unit.provenance.get("values")
        if not record:
            return ""
        name = str(record.get("file", "")) if isinstance(record, dict) else ""
        if Path(name).name != name or not name.endswith(VALUES_SUFFIX):
            return f"{self.units_dir}: a result file names {name!r} as its values file, which is not a file in {UNITS}/"
        path = self.units_dir / name
        try:
            stat = path.stat()
            digest = _file_sha256(str(path), stat.st_size, stat.st_mtime_ns)
        except OSError as error:
            return f"{path}: the values file is missing or unreadable ({error.strerror})"
        if digest != record.get("sha256"):
            return f"{path}: the values file does not match its recorded SHA-256 (damaged or replaced)"
        return ""

    def _write_values(self, unit_path: Path, data: bytes) -> dict:
        """Write `data` as the values file of the unit at `unit_path`; return its record for the unit's provenance."""
        path = unit_path.with_suffix(VALUES_SUFFIX)
        try:
            write_bytes(path, data)
        except DiskFullError as error:
            raise error.saying(f"this result was not saved; the results before it are in {self.units_dir}") from None
        return {"file": path.name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def new_unit(
    key: str,
    model: str,
    benchmark: str,
    scores: pd.DataFrame,
    summary: dict,
    *,
    values: xr.Dataset | None = None,
    **provenance,
) -> Unit:
    """A unit stamped with the package version and the time it finished.

    values: the benchmark's per-unit values (``BenchmarkResult.values``), saved beside the unit file.
    provenance: what produced it — benchmark_id, fingerprint, variant, options, data_digest, subject, and the
        benchmark's identity: kind, higher_is_better, version, citation (kind and version also go into the
        tables). The package version, the versions of Python and the numeric packages (``versions``) and the time
        are added here.
    """
    provenance = {
        **provenance,
        "tuneshift_version": tuneshift.__version__,
        "versions": _environment(),
        "finished": time.time(),
    }
    columns = {
        "fingerprint": provenance.get("fingerprint", ""),
        "options": json.dumps(provenance.get("options", {}), sort_keys=True),
        "data_digest": provenance.get("data_digest", ""),
        "tuneshift_version": tuneshift.__version__,
    }
    columns.update({name: provenance[name] for name in ("kind",) if name in provenance})
    return Unit(key, model, benchmark, scores.assign(**columns), summary, provenance, values)


@lru_cache(maxsize=1)
def _package_versions() -> tuple[tuple[str, str], ...]:
    found = [("python", platform.python_version())]
    for package in ENVIRONMENT:
        try:
            found.append((package, metadata.version(package)))
        except metadata.PackageNotFoundError:
            continue
    return tuple(found)


def _environment() -> dict[str, str]:
    """The versions of Python and of the packages that shape the numbers (those installed), for the methods."""
    return dict(_package_versions())


def _flat(provenance: dict) -> dict:
    keep = ("benchmark_id", "kind", "version", "fingerprint", "variant", "options", "data_digest", "tuneshift_version")
    return {k: provenance[k] for k in keep if k in provenance}


def _values_bytes(values: xr.Dataset) -> bytes:
    """`values` as netCDF-4 bytes (strings, booleans and attributes round-trip), built in memory so that the file
    is written through a plain write, which reports a full disk (HDF5's own writes do not say ENOSPC)."""
    return bytes(values.to_netcdf(engine="netcdf4"))


def _key_of(unit_file: Path) -> str:
    """The unit key in a unit file name (``<benchmark>-<key>-<label hash>.json``; benchmark ids may hold '-')."""
    return unit_file.stem.rsplit("-", 2)[-2] if unit_file.stem.count("-") >= 2 else ""


def _stale(root: Path, unit_files: list[Path]) -> bool:
    """Whether the tables miss a unit: a table is absent, older than a unit file, or lacks a unit's key (listed
    in scores.csv, or as superseded in summary.json)."""
    if not unit_files:
        return False
    tables = [root / name for name in TABLES]
    try:
        stats = [table.stat() for table in tables]
        if any(path.stat().st_mtime_ns > min(s.st_mtime_ns for s in stats) for path in unit_files):
            return True
        listed = _listed_keys(*(str(t) for t in tables), *(s.st_mtime_ns for s in stats))
    except (OSError, ValueError, AttributeError, pd.errors.ParserError):
        return True
    return not {_key_of(path) for path in unit_files} <= listed


def _table_units(scores: Path) -> frozenset[str]:
    """The unit keys a scores.csv lists (column ``unit_key``; ``unit`` in tables written before the rename)."""
    table = pd.read_csv(scores, usecols=lambda column: column in (KEY, "unit"), dtype=str)
    return frozenset(table[KEY if KEY in table else "unit"].dropna().unique())


@lru_cache(maxsize=64)
def _listed_keys(scores: str, summary: str, scores_mtime_ns: int, summary_mtime_ns: int) -> frozenset[str]:
    """The unit keys the tables account for: scores.csv's and summary.json's superseded ones (read once per
    version of the two files)."""
    entries = [e for bench in json.loads(Path(summary).read_text()).values() for e in bench.values()]
    return _table_units(Path(scores)) | {key for e in entries for key in e.get("superseded") or []}


def _foreign(root: Path, keys: set[str]) -> str:
    """Why the tables in `root` are not the store's to overwrite ("" when every row they hold is a unit in
    `keys`, so that rebuilding them loses nothing)."""
    scores, summary = root / "scores.csv", root / "summary.json"
    try:
        if scores.exists():
            with scores.open() as handle:
                header = handle.readline().strip().split(",")
            if header != [""] and not {KEY, "unit"} & set(header):
                return "predate the results store" if not keys else "were not assembled from the results store"
            if header != [""]:
                listed = _table_units(scores)
                if listed - keys:
                    return f"hold {len(listed - keys)} result(s) that are not in {UNITS}/"
        if summary.exists():
            entries = [e for bench in json.loads(summary.read_text()).values() for e in bench.values()]
            if not scores.exists() and any(e.get(KEY, e.get("unit")) not in keys for e in entries):
                return f"hold results that are not in {UNITS}/"
    except (OSError, ValueError, AttributeError, pd.errors.ParserError) as error:
        return f"cannot be read ({type(error).__name__})"
    return ""


def _free_tag(root: Path) -> str:
    """The first ``kept-N`` under which neither table exists yet."""
    n = 1
    while any((root / name.replace(".", f".kept-{n}.", 1)).exists() for name in TABLES):
        n += 1
    return f"kept-{n}"


def _read_tables(root: Path) -> tuple[pd.DataFrame, dict]:
    scores, summary = root / "scores.csv", root / "summary.json"
    table = pd.read_csv(scores) if scores.exists() and scores.stat().st_size > 1 else pd.DataFrame()
    return table, json.loads(summary.read_text()) if summary.exists() else {}


def _disambiguated(units: list[Unit]) -> list[str]:
    """Each unit's model label; a label shared by subjects with different fingerprints gets ``#<fingerprint>``."""
    prints: dict[str, set[str]] = {}
    for unit in units:
        prints.setdefault(unit.model, set()).add(unit.provenance.get("fingerprint", ""))
    return [
        f"{u.model} #{u.provenance.get('fingerprint', '')[:8]}" if len(prints[u.model]) > 1 else u.model for u in units
    ]


def _read_unit(path: Path) -> Unit | None:
    """The unit in `path`, or None (with a warning naming the file) when it cannot be read."""
    try:
        stat = path.stat()
        return _parse_unit(str(path), stat.st_mtime_ns, stat.st_size)
    except (OSError, ValueError, KeyError, TypeError, pd.errors.ParserError) as error:
        warnings.warn(
            f"{path}: unreadable result ({type(error).__name__}: {error}); it will be recomputed.", stacklevel=3
        )
        return None


@lru_cache(maxsize=4096)
def _parse_unit(path: str, mtime_ns: int, size: int) -> Unit:
    """Parse a unit file once per version (assembling after every save re-reads every unit)."""
    record = json.loads(Path(path).read_text())
    if record.get("format") != FORMAT:
        raise ValueError(f"format {record.get('format')!r}, expected {FORMAT}")
    return Unit.from_json(record)


def writable(root: str | os.PathLike) -> bool:
    """Whether results can be written in the existing folder `root`: it (and its units/, when there) passes
    ``os.access(W_OK)``, and a probe file can be made and removed there. False on a read-only mount, a folder
    without write permission, or a folder that does not exist (nothing is created). Nothing is written when
    os.access already says no."""
    root = Path(root)
    if not root.is_dir():
        return False
    folder = root / UNITS if (root / UNITS).is_dir() else root
    if not (os.access(root, os.W_OK | os.X_OK) and os.access(folder, os.W_OK | os.X_OK)):
        return False
    probe = folder / f".write-test-{os.getpid()}"
    try:
        probe.write_text("")
        probe.unlink()
    except OSError:
        return False
    return True


def _check_writable(root: Path) -> None:
    """Refuse an output directory that cannot hold results, before any model loads."""
    if root.exists() and not root.is_dir():
        raise InvalidInputError(f"{root}: exists and is not a directory; pass another --out.")
    try:
        (root / UNITS).mkdir(parents=True, exist_ok=True)
        probe = root / UNITS / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise InvalidInputError(f"{root}: cannot write results there ({error.strerror}); pass another --out.") from None
