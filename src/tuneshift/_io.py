"""File helpers: atomic writes (a crash or Ctrl-C never leaves a half-written result behind) and file hashes."""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd


def file_hash(path: str | os.PathLike, algorithm: str = "sha256", *, digest_size: int | None = None) -> str:
    """Hex digest of a file's bytes, read in 1 MiB blocks: the one hash helper (data checksums use "sha1", GGUF
    files "sha256", activation cache entries "blake2b" with ``digest_size=20``)."""
    digest = hashlib.new(algorithm) if digest_size is None else hashlib.new(algorithm, digest_size=digest_size)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed over `path`, on error removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o666 & ~_umask())  # mkstemp makes 0600; a results folder is shared with colleagues
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    """The process umask (read by setting and restoring it: there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and move the result into place atomically."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def write_json(path: str | os.PathLike, obj: object) -> Path:
    """Atomic JSON, strict: NaN and infinities become null so that every JSON parser reads the file."""
    text = json.dumps(_finite(obj), indent=2, default=_json_default, allow_nan=False)
    return write_atomic(path, lambda p: p.write_text(text + "\n"))


def _finite(obj: object) -> object:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: _finite(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(value) for value in obj]
    if hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:
        return _finite(obj.item())
    return obj


def write_csv(path: str | os.PathLike, frame: pd.DataFrame) -> Path:
    return write_atomic(path, lambda p: frame.to_csv(p, index=False))


def _json_default(obj: object) -> object:
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")
