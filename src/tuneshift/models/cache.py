"""Activation cache: a readout is stored once per (model fingerprint, stimuli, readout spec) and reused.

An entry is a directory ``<root>/<key>/`` with ``words.csv``, ``activations.npy`` (when layers were read) and
``meta.json``, written last with each file's size and BLAKE2 digest. Entries are built in a work directory
(:meth:`ActivationCache.work_dir`) and renamed into place, so a crash never leaves a partial entry under its key; an
entry whose manifest does not list exactly the files it holds, or whose files do not match their recorded digests
(disk corruption, a hand edit), is reported, deleted and recomputed, never used. Work directories of runs that died
(SIGKILL) are swept when the cache is opened.

The cache is optional: a cache folder that is read-only or full degrades to no cache, with one warning naming the
folder and the space needed, and the readout goes on in memory (issue 25: a memory-mapped write into a sparse file
on a full disk used to kill the run with SIGBUS; the readout now reserves the file's blocks first, see
:func:`tuneshift._io.reserve`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tuneshift import config
from tuneshift._io import UNWRITABLE, file_hash, out_of_space, write_atomic, write_csv, write_json
from tuneshift.errors import InvalidParameterError

#: Prefix of work directories; the name goes on with ``<host>-<pid>-`` of the run that made it.
WORK_PREFIX = "readout-"
#: A work directory that cannot be tied to a live process (another host, an old name) is stale after this long.
STALE_AFTER_S = 24 * 3600


@dataclass
class Readout:
    """Result of :func:`tuneshift.models.readout.read_out`; what a cache entry holds.

    words: one row per word, in order: passage, word_index, word, n_tokens, surprisal_bits (NaN for the first word
        of each passage, and for words that got no token of their own).
    layers: the layer indices stored (0 = embeddings, i = output of block i).
    activations: (len(layers), n_words, hidden) array, memory-mapped from disk when cached; None when no layer was
        asked for.
    """

    words: pd.DataFrame
    layers: list[int]
    activations: np.ndarray | None
    path: Path | None = None

    def layer(self, layer: int) -> np.ndarray:
        """(n_words, hidden) float32 representations of every word at `layer`."""
        if self.activations is None or layer not in self.layers:
            raise InvalidParameterError("layer", f"one of the layers read out {self.layers}", layer)
        return np.asarray(self.activations[self.layers.index(layer)], dtype=np.float32)

    def rows(self, passage: np.ndarray, word_index: np.ndarray) -> np.ndarray:
        """Row numbers (into `words` and the activations) of the given (passage, word_index) pairs."""
        starts = np.concatenate([[0], np.cumsum(self.words.groupby("passage", sort=True).size().to_numpy())])
        return starts[np.asarray(passage)] + np.asarray(word_index)

    def save(self, out_dir: str | Path) -> Path:
        """Write ``words.csv``, ``activations.npy`` ((layers, words, hidden)) and ``layers.json`` into `out_dir`,
        each atomically (a full disk raises :class:`tuneshift._io.DiskFullError`, leaving no partial file)."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        write_csv(out_dir / "words.csv", self.words)
        if self.activations is not None:
            if self.path is not None:
                write_atomic(out_dir / "activations.npy", lambda p: shutil.copyfile(self.path / "activations.npy", p))
            else:
                write_atomic(out_dir / "activations.npy", lambda p: _save_npy(p, self.activations))
        write_json(out_dir / "layers.json", {"layers": self.layers})
        return out_dir


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:  # a handle: np.save would append ".npy" to the temporary name
        np.save(handle, array)


def file_digest(path: Path) -> str:
    return file_hash(path, "blake2b", digest_size=20)


class ActivationCache:
    """Directory of readout entries, under ``$TUNESHIFT_ACTIVATIONS`` or ``~/.cache/tuneshift/activations``."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = config.activations_dir(root)
        self.usable = True
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.sweep()
        except OSError as error:
            self._give_up(error)

    def work_dir(self) -> Path:
        """A new work directory for an entry, under the root (same filesystem), named after this host and process
        so that :meth:`sweep` can tell a live run's from a dead one's; in the temp folder when the cache is off."""
        prefix = f"{WORK_PREFIX}{socket.gethostname()}-{os.getpid()}-"
        if self.usable:
            try:
                return Path(tempfile.mkdtemp(prefix=prefix, dir=self.root))
            except OSError as error:
                self._give_up(error)
        return Path(tempfile.mkdtemp(prefix=prefix))

    def _give_up(self, error: OSError, needed: int = 0) -> None:
        """Turn the cache off for this run, with one warning saying why, when the folder is full or read-only;
        any other error is raised."""
        if not (out_of_space(error, self.root if self.root.exists() else Path.cwd()) or error.errno in UNWRITABLE):
            raise error
        self.usable = False
        space = f"; {needed / 2**20:.1f} MiB are needed there to cache it" if needed else ""
        why = "no space left on its device" if out_of_space(error, self.root) else error.strerror or str(error)
        warnings.warn(
            f"Activation cache {self.root}: cannot write there ({why}){space}. Going on without the cache "
            "(readouts are recomputed next time); free space there or set TUNESHIFT_ACTIVATIONS to another folder.",
            stacklevel=3,
        )

    def sweep(self) -> list[Path]:
        """Remove work directories left by runs that died; return them. A directory is stale when the process that
        made it (this host) is gone, or, when that cannot be told (another host, an unnamed directory), when nothing
        in it changed for `STALE_AFTER_S`. A live run's directory is never removed."""
        stale = [p for p in self.root.glob(f"{WORK_PREFIX}*") if p.is_dir() and _stale(p)]
        for path in stale:
            shutil.rmtree(path, ignore_errors=True)
        return stale

    @staticmethod
    def key(
        fingerprint: str, passages: list[list[str]], spec, words_needed: np.ndarray | None = None, dtype: str = ""
    ) -> str:
        """Entry name: the fingerprint is dtype-invariant, so the compute `dtype` joins it (bf16 ≠ fp32 numbers)."""
        digest = hashlib.sha256()
        digest.update((fingerprint + (f"/{dtype}" if dtype else "")).encode())
        digest.update(json.dumps(passages, ensure_ascii=False).encode())
        digest.update(json.dumps(asdict(spec), sort_keys=True).encode())
        if words_needed is not None:
            digest.update(np.packbits(np.asarray(words_needed, dtype=bool)).tobytes())
        return digest.hexdigest()[:32]

    def load(self, key: str):
        """The cached Readout for `key`, or None when absent or corrupt (a corrupt entry is removed)."""
        entry = self.root / key
        if not self.usable or not entry.exists():
            return None
        problem = self._problem(entry)
        if problem:
            warnings.warn(f"Activation cache entry {entry} is corrupt ({problem}); recomputing it.", stacklevel=3)
            shutil.rmtree(entry, ignore_errors=True)
            return None
        meta = json.loads((entry / "meta.json").read_text())
        words = pd.read_csv(entry / "words.csv", keep_default_na=False, na_values={"surprisal_bits": [""]})
        activations = np.load(entry / "activations.npy", mmap_mode="r") if meta["layers"] else None
        return Readout(words, list(meta["layers"]), activations, entry)

    def commit(self, key: str, work_dir: Path, words: pd.DataFrame, spec, activations: np.ndarray | None = None):
        """Finish the entry built in `work_dir` (same filesystem as the cache) and move it into place; return its
        Readout. activations: the array the readout wrote (flushed here); when it is not the memory map in
        `work_dir` (no room for it there) or the cache cannot take the entry, the Readout stays in memory."""
        if isinstance(activations, np.memmap):
            activations.flush()
        on_disk = (work_dir / "activations.npy").exists() or not spec.layers
        if not (self.usable and on_disk and work_dir.parent == self.root):
            return _in_memory(work_dir, words, spec, None if on_disk else activations)
        try:
            words.to_csv(work_dir / "words.csv", index=False)
            files = {n: (work_dir / n) for n in ("words.csv", "activations.npy") if (work_dir / n).exists()}
            meta = {
                "spec": asdict(spec),
                "layers": list(spec.layers),
                "n_words": len(words),
                "files": {name: {"size": p.stat().st_size, "blake2b": file_digest(p)} for name, p in files.items()},
            }
            (work_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        except OSError as error:
            self._give_up(error, needed=sum(p.stat().st_size for p in work_dir.iterdir()))
            return _in_memory(work_dir, words, spec, None)
        entry = self.root / key
        try:
            os.replace(work_dir, entry)
        except OSError:  # another process committed the same entry first: use theirs
            pass
        return self.load(key)

    @staticmethod
    def _problem(entry: Path) -> str:
        """What is wrong with `entry` ("" when nothing): its manifest must list exactly the files it holds —
        ``words.csv``, and ``activations.npy`` when layers were read — each with its size and digest."""
        try:
            meta = json.loads((entry / "meta.json").read_text())
            listed = set(meta["files"])
            required = {"words.csv"} | ({"activations.npy"} if meta["layers"] else set())
            held = {p.name for p in entry.iterdir()} - {"meta.json"}
            if required - listed:
                return f"meta.json does not list {', '.join(sorted(required - listed))}"
            if listed - required:
                return f"meta.json lists {', '.join(sorted(listed - required))}, which this entry has no use for"
            if held - listed:
                return f"{', '.join(sorted(held - listed))} not listed in meta.json"
            for name, recorded in meta["files"].items():
                path = entry / name
                if not path.exists():
                    return f"{name} is missing"
                if path.stat().st_size != recorded["size"]:
                    return f"{name} has {path.stat().st_size} bytes, expected {recorded['size']}"
                if file_digest(path) != recorded["blake2b"]:
                    return f"{name} does not match its recorded digest"
        except (OSError, ValueError, KeyError, TypeError) as error:
            return f"unreadable meta.json: {error}"
        return ""

    def clear(self) -> int:
        """Delete every entry; return how many were removed."""
        entries = [p for p in self.root.iterdir() if p.is_dir()]
        for entry in entries:
            shutil.rmtree(entry, ignore_errors=True)
        return len(entries)


def _in_memory(work_dir: Path, words: pd.DataFrame, spec, activations: np.ndarray | None) -> Readout:
    """An uncached Readout: `activations`, or the ones in `work_dir` read into memory (the caller removes it)."""
    if activations is None and spec.layers:
        activations = np.array(np.load(work_dir / "activations.npy", mmap_mode="r"))
    return Readout(words, list(spec.layers), activations, None)


def _stale(work_dir: Path) -> bool:
    """Whether the run that made `work_dir` (``readout-<host>-<pid>-<random>``) is certainly not writing to it."""
    host, _, pid = work_dir.name.removeprefix(WORK_PREFIX).rpartition("-")[0].rpartition("-")
    if host == socket.gethostname() and pid.isdigit():
        return not _process_alive(int(pid))
    try:
        changed = max(p.stat().st_mtime for p in (work_dir, *work_dir.iterdir()))
    except OSError:  # removed meanwhile (its run finished, or another sweeper)
        return False
    return time.time() - changed > STALE_AFTER_S


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
