"""The results of a scoring directory, keyed by what was computed and safe under concurrent writers.

Every finished (subject, benchmark, options) unit is one file, ``OUT/units/<benchmark>-<key>-<label hash>.json``,
written atomically: its score rows, summary and provenance (subject fingerprint, variant and description, benchmark
options, data digest, tuneshift version). The key hashes everything that changes the numbers — fingerprint,
variant (compute dtype), benchmark id, keyed options, data digest — so a rerun with other options adds a unit
and a rerun with the same ones finds it. ``OUT/scores.csv`` and ``OUT/summary.json`` are assembled from all
units under a file lock after each unit: two processes scoring into one directory both keep their work.

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
import time
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd
from filelock import FileLock

import tuneshift
from tuneshift._io import write_csv, write_json
from tuneshift.errors import InvalidInputError

UNITS = "units"
FORMAT = 1


@dataclass
class Unit:
    """One finished (subject, benchmark, options) result."""

    key: str
    model: str
    benchmark: str
    scores: pd.DataFrame
    summary: dict
    provenance: dict = field(default_factory=dict)

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


def unit_key(fingerprint: str, variant: dict, benchmark: str, options: dict, data: str) -> str:
    """Hash of everything that changes a unit's numbers."""
    blob = json.dumps([fingerprint, variant, benchmark, options, data], sort_keys=True, default=str)
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
    """The units of one output directory, and the tables assembled from them."""

    def __init__(self, out_dir: str | os.PathLike):
        self.root = Path(out_dir)
        self.units_dir = self.root / UNITS
        fresh = not self.units_dir.exists()
        _check_writable(self.root)
        if fresh:
            _keep_legacy(self.root)

    def path(self, unit: Unit) -> Path:
        """Where `unit` lives: its benchmark id, key and a hash of its model label (one computation can be
        listed under several names: the same weights scored as "base" and as "tuned")."""
        name = hashlib.sha256(unit.model.encode()).hexdigest()[:6]
        return self.units_dir / f"{unit.provenance['benchmark_id']}-{unit.key}-{name}.json"

    def find(self, benchmark: str, key: str, model: str) -> Unit | None:
        """The finished unit of `key` for `model`; failing that, the same computation finished under another
        name, relabelled and saved for `model` (nothing is recomputed). Unreadable files are named and removed."""
        found = []
        for path in sorted(self.units_dir.glob(f"{glob.escape(benchmark)}-{key}-*.json")):
            unit = _read_unit(path)
            if unit is None:
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
        self.save(unit)
        return unit

    def save(self, unit: Unit) -> None:
        """Write `unit` atomically, then reassemble the tables (under the directory's lock)."""
        write_json(self.path(unit), unit.to_json())
        self.assemble()

    def units(self) -> list[Unit]:
        """Every readable unit, oldest first (an unreadable file is reported and skipped)."""
        found = [_read_unit(path) for path in sorted(self.units_dir.glob("*.json"))]
        return sorted((u for u in found if u is not None), key=lambda u: u.provenance.get("finished", 0.0))

    def assemble(self) -> tuple[pd.DataFrame, dict]:
        """Rewrite ``scores.csv`` and ``summary.json`` from every unit, under a lock shared by all writers."""
        with FileLock(str(self.root / ".tuneshift.lock")):
            units = self.units()
            labels = _disambiguated(units)
            frames, summary = [], {}
            for unit, model in zip(units, labels, strict=True):
                frames.append(unit.scores.assign(model=model, benchmark=unit.benchmark, unit=unit.key))
                summary.setdefault(model, {})[unit.benchmark] = {**unit.summary, **_flat(unit.provenance)}
            table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
            write_csv(self.root / "scores.csv", table)
            write_json(self.root / "summary.json", summary)
        return table, summary


def new_unit(key: str, model: str, benchmark: str, scores: pd.DataFrame, summary: dict, **provenance) -> Unit:
    """A unit stamped with the package version and the time it finished."""
    provenance = {**provenance, "tuneshift_version": tuneshift.__version__, "finished": time.time()}
    columns = {
        "fingerprint": provenance.get("fingerprint", ""),
        "options": json.dumps(provenance.get("options", {}), sort_keys=True),
        "data_digest": provenance.get("data_digest", ""),
        "tuneshift_version": tuneshift.__version__,
    }
    return Unit(key, model, benchmark, scores.assign(**columns), summary, provenance)


def _flat(provenance: dict) -> dict:
    keep = ("benchmark_id", "fingerprint", "variant", "options", "data_digest", "tuneshift_version")
    return {k: provenance[k] for k in keep if k in provenance}


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


def _keep_legacy(root: Path) -> None:
    """Tables written before results had units cannot be re-assembled: keep them beside, under another name."""
    scores = root / "scores.csv"
    if not scores.exists() or "unit" in scores.open().readline().strip().split(","):
        return
    for name in ("scores.csv", "summary.json"):
        if (root / name).exists():
            kept = root / name.replace(".", ".before-units.", 1)
            os.replace(root / name, kept)
            warnings.warn(f"{root / name} predates per-unit results; kept as {kept}.", stacklevel=4)


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
