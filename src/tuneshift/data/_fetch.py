"""Find a dataset file on disk, or download it with a checksum into the data directory.

Lookup order for the data directory: the ``data_dir`` argument, then ``$TUNESHIFT_DATA``, then
``~/.cache/tuneshift/data`` (:func:`tuneshift.config.data_dir`). A file lives at ``<data_dir>/<relpath>``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tuneshift._io import atomic_path
from tuneshift.config import data_dir as resolve_data_dir
from tuneshift.errors import DataNotFoundError, InvalidInputError

DOWNLOAD_TIMEOUT_S = 60
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


def sha1sum(path: str | os.PathLike) -> str:
    """SHA-1 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def local_path(remote: RemoteFile, data_dir: str | os.PathLike | None = None) -> Path:
    """Where `remote` is expected on this machine."""
    return resolve_data_dir(data_dir) / remote.relpath


def fetch_file(remote: RemoteFile, data_dir: str | os.PathLike | None = None, *, download: bool = True) -> Path:
    """Path of `remote` in the data directory, downloading it (checksum verified) when it is missing.

    Raises DataNotFoundError, naming the file, its URL and the exact path where to put it, when the file is
    missing and cannot be downloaded; InvalidInputError when a download does not match the published sha1.
    """
    path = local_path(remote, data_dir)
    if path.is_file():
        return path
    if not download or not remote.urls:
        raise _not_found(remote, path, reason="not downloaded" if remote.urls else "no automatic download")
    failures = []
    for url in remote.urls:
        try:
            _download(url, path, remote.sha1)
            return path
        except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
            failures.append(f"{url}: {getattr(err, 'reason', err)}")
    raise _not_found(remote, path, reason="download failed: " + "; ".join(failures))


def _download(url: str, path: Path, sha1: str | None) -> None:
    """Stream `url` into `path` atomically, checking the sha1 before the file appears."""
    with atomic_path(path) as tmp:
        digest = hashlib.sha1()
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(tmp, "wb") as out:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
        got = digest.hexdigest()
        if sha1 is not None and got != sha1:
            raise InvalidInputError(
                f"Checksum mismatch for {path.name} downloaded from {url}: expected sha1 {sha1}, got {got}. "
                "The download was discarded; retry, or report the changed file upstream."
            )


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
    if remote.sha1 is not None and (got := sha1sum(source)) != remote.sha1:
        raise InvalidInputError(f"{source} is not {remote.filename}: expected sha1 {remote.sha1}, got {got}.")
    target = local_path(remote, data_dir)
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
    return target
