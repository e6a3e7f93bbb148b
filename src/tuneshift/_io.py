"""File helpers: atomic writes (a crash, Ctrl-C or a full disk never leaves a half-written result behind) and file
hashes."""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from tuneshift.errors import TuneshiftError

if TYPE_CHECKING:
    import pandas as pd

#: errno values that mean "no room": the device is full, or the user's quota is.
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
#: errno values of a folder that cannot be written at all (read-only mount, permissions).
UNWRITABLE = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})
#: Libraries that lose the errno (numpy's tofile: "N requested and M written", HDF5: "NetCDF: HDF error") fail a
#: write; when the folder then has less than this free, the failure is taken as a full disk.
FULL_BELOW_BYTES = 1 << 20


class DiskFullError(TuneshiftError, OSError):
    """A write found no space left on its device (or quota). Raised by the atomic writers, which leave no partial
    file; `saved` says what is on disk after all (the caller knows: "the unit ... was saved")."""

    def __init__(self, path: str | os.PathLike, saved: str = "", needed: int | None = None):
        self.path, self.saved, self.needed = Path(path), saved, needed
        room = f" ({_size(needed)} are needed)" if needed else ""
        what = saved or f"{self.path.name} was not written and no partial file was left"
        super().__init__(
            errno.ENOSPC,
            f"No space left on the device of {self.path.parent} while writing {self.path.name}: {what}. "
            f"Free space there{room} or write elsewhere, and run again (finished work is reused).",
        )

    def __str__(self) -> str:
        return self.strerror

    def saying(self, saved: str) -> DiskFullError:
        """The same error, telling what the caller had saved before it."""
        return DiskFullError(self.path, saved, self.needed)


def out_of_space(error: BaseException, folder: str | os.PathLike) -> bool:
    """Whether `error`, raised by a write into `folder`, means the device is full: an ENOSPC/EDQUOT errno, or a
    library error without one (numpy, HDF5) while `folder` has under FULL_BELOW_BYTES free."""
    if isinstance(error, DiskFullError):
        return True
    if isinstance(error, OSError) and error.errno is not None:
        return error.errno in NO_SPACE
    if not isinstance(error, OSError | RuntimeError):
        return False
    try:
        return shutil.disk_usage(folder).free < FULL_BELOW_BYTES
    except OSError:
        return False


def reserve(path: str | os.PathLike, n_bytes: int) -> None:
    """Give the file at `path` `n_bytes` of real disk blocks before it is written through a memory map: a store into
    a sparse mapping on a full disk kills the process with SIGBUS, a reservation raises :class:`DiskFullError`.
    Uses posix_fallocate; where the filesystem or platform has none, the free space is checked instead."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDWR)
        try:
            os.posix_fallocate(fd, 0, n_bytes)
        finally:
            os.close(fd)
    except (AttributeError, OSError) as error:
        if isinstance(error, OSError) and error.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise (DiskFullError(path, needed=n_bytes) if out_of_space(error, path.parent) else error) from error
        if shutil.disk_usage(path.parent).free < n_bytes - path.stat().st_blocks * 512:
            raise DiskFullError(path, needed=n_bytes) from None


def _size(n_bytes: int) -> str:
    for scale, unit in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes} bytes"


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
    """Yield a temporary path beside `path`; on success it is renamed over `path`, on error removed. A full disk
    (see :func:`out_of_space`) raises :class:`DiskFullError` naming `path`, with no partial file left."""
    path = Path(path)
    tmp_path = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        tmp_path = Path(tmp)
        tmp_path.chmod(0o666 & ~current_umask())  # mkstemp makes 0600; a results folder is shared with colleagues
        yield tmp_path
        os.replace(tmp_path, path)
    except (OSError, RuntimeError) as error:
        if out_of_space(error, path.parent if path.parent.exists() else Path.cwd()):  # judged before unlinking
            raise (error if isinstance(error, DiskFullError) else DiskFullError(path)) from error
        raise
    finally:
        if tmp_path is not None and tmp_path.exists():
            tmp_path.unlink()


@contextmanager
def naming_full_disk(path: str | os.PathLike, saved: str = "") -> Iterator[None]:
    """Turn a full disk met by library writes inside the block (torch, safetensors, transformers' save_pretrained)
    into :class:`DiskFullError` naming `path` and what is `saved`; the caller writes into a temporary place, so no
    partial file is left."""
    path = Path(path)
    try:
        yield
    except (OSError, RuntimeError) as error:
        if out_of_space(error, path.parent if path.parent.exists() else Path.cwd()):
            full = error if isinstance(error, DiskFullError) else DiskFullError(path)
            raise (full.saying(saved) if saved else full) from error
        raise


def current_umask() -> int:
    """The process umask (read by setting and restoring it: there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and move the result into place atomically."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Atomic bytes; a full disk raises :class:`DiskFullError` saying how many bytes were wanted."""
    try:
        return write_atomic(path, lambda p: p.write_bytes(data))
    except DiskFullError as error:
        raise DiskFullError(error.path, error.saved, len(data)) from error.__cause__


def write_json(path: str | os.PathLike, obj: object) -> Path:
    """Atomic JSON, strict: NaN and infinities become null so that every JSON parser reads the file."""
    text = json_text(obj)
    return write_atomic(path, lambda p: p.write_text(text + "\n"))


def json_text(obj: object) -> str:
    """`obj` as :func:`write_json` writes it (NaN and infinities as null, numpy scalars and arrays as numbers)."""
    return json.dumps(_finite(obj), indent=2, default=_json_default, allow_nan=False)


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
