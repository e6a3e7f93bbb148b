"""A results folder made read-only for a test, and the snapshot that proves nothing in it changed.

``chmod -R a-w`` makes a folder read-only for an ordinary user; root (tests may run as root, in containers) writes
through it. :func:`make_read_only` detects that case (a probe file can still be created) and then simulates a
read-only mount: ``os.access(path, W_OK)`` answers False inside the folder, and the results store's writability
check refuses it as a read-only mount would. Either way the test compares :func:`snapshot` before and after: names,
sizes and modification times of the folder and everything in it (folders too, so a file made and removed shows).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from tuneshift.benchmarks import store
from tuneshift.errors import InvalidInputError


def snapshot(root: Path) -> dict[str, tuple[bool, int, int]]:
    """relative path → (is a folder, size, mtime_ns) of `root` and everything under it."""
    paths = [root, *sorted(root.rglob("*"))]
    return {
        str(path.relative_to(root)): (path.is_dir(), path.lstat().st_size, path.lstat().st_mtime_ns) for path in paths
    }


def make_read_only(root: Path, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Make `root` read-only (chmod -R a-w); where that does not stop writes (root), simulate it through
    monkeypatch. Return whether it is simulated. :func:`restore` gives the permissions back."""
    for path in [*sorted(root.rglob("*")), root]:
        mode = path.lstat().st_mode
        path.chmod(stat.S_IMODE(mode) & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    probe = root / ".probe"
    try:
        probe.write_text("")
    except OSError:
        return False
    probe.unlink()
    inside = root.resolve()
    real_access, real_check = os.access, store._check_writable

    def within(path: os.PathLike | str) -> bool:
        path = Path(path).resolve()
        return path == inside or inside in path.parents

    def access(path, mode, *args, **kwargs):
        if mode & os.W_OK and not isinstance(path, int) and within(path):
            return False
        return real_access(path, mode, *args, **kwargs)

    def check_writable(folder: Path) -> None:
        if within(folder):
            reason = os.strerror(errno.EROFS)
            raise InvalidInputError(f"{folder}: cannot write results there ({reason}); pass another --out.")
        real_check(folder)

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr(store, "_check_writable", check_writable)
    return True


def restore(root: Path) -> None:
    """Give the owner write permission back (so that pytest can remove the folder)."""
    for path in [root, *sorted(root.rglob("*"))]:
        path.chmod(stat.S_IMODE(path.lstat().st_mode) | stat.S_IWUSR)
