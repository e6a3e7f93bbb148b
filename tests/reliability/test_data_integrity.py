"""Dataset files (issue 11): verified at fetch, cheaply re-checked on every load (size and mtime against the sha1
recorded at fetch), hashed in full by `tuneshift data verify`; a file that fails is refused by name with the
command that fetches it again, and is not shown as present. Constant neural responses are warned about."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest
from tests.data.conftest import write_brainio
from typer.testing import CliRunner

from tuneshift.cli.data import app
from tuneshift.data import DATASETS, RemoteFile, fetch_file, load_pereira2018, load_tuckute2024, verify
from tuneshift.data._fetch import check_file, sidecar_path
from tuneshift.data.tuckute2024 import bundled_path
from tuneshift.errors import InvalidInputError

PAYLOAD = b"published bytes " * 64
REMOTE = RemoteFile("Demo/demo.nc", ("https://mirror.example/demo.nc",), hashlib.sha1(PAYLOAD).hexdigest())
UNPUBLISHED = RemoteFile("Demo/subject_1.mat", ("https://mirror.example/subject_1.mat",), None)
runner = CliRunner()


@pytest.fixture
def network(monkeypatch) -> dict[str, bytes]:
    """urlopen serving the bytes in the returned dict; other URLs are unreachable."""
    served: dict[str, bytes] = {}

    def urlopen(url, timeout=None):
        if url not in served:
            raise urllib.error.URLError("Name or service not known")
        return io.BytesIO(served[url])

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return served


def flip_in_place(path, keep_mtime: bool) -> None:
    """Corrupt one byte without changing the size: a later write (mtime one second on: file times are coarser than
    a test is fast), or with `keep_mtime` bit rot that a stat cannot see."""
    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + (0 if keep_mtime else 10**9)))


def test_fetch_records_the_checksum_and_a_load_checks_it_with_a_stat(tmp_path, network, monkeypatch):
    network[REMOTE.url] = PAYLOAD
    path = fetch_file(REMOTE, tmp_path)
    assert sidecar_path(path).is_file()
    hashed = []
    monkeypatch.setattr("tuneshift.data._fetch.sha1sum", lambda p: hashed.append(p) or "")
    assert check_file(REMOTE, tmp_path).ok and hashed == []  # a stat and the record: no read of the file
    assert fetch_file(REMOTE, tmp_path) == path and hashed == []


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "replaced"])
def test_a_damaged_data_file_is_refused_by_name_with_the_fix(tmp_path, network, damage):
    network[REMOTE.url] = PAYLOAD
    path = fetch_file(REMOTE, tmp_path)
    if damage == "flipped byte":
        flip_in_place(path, keep_mtime=False)
    elif damage == "truncated":
        path.write_bytes(PAYLOAD[:100])
    else:
        path.unlink()
        path.write_bytes(b"someone else's file")
    with pytest.raises(InvalidInputError) as info:
        fetch_file(REMOTE, tmp_path)
    message = str(info.value)
    assert str(path) in message and f"expected the published sha1 {REMOTE.sha1}" in message
    assert "`tuneshift data fetch <dataset> --force`" in message  # a demo file belongs to no registered dataset


def test_bit_rot_behind_an_unchanged_stat_is_caught_by_the_full_check(tmp_path, network):
    network[REMOTE.url] = PAYLOAD
    path = fetch_file(REMOTE, tmp_path)
    flip_in_place(path, keep_mtime=True)
    assert check_file(REMOTE, tmp_path).ok  # the cheap check trusts an unchanged size and mtime
    full = check_file(REMOTE, tmp_path, full=True)
    assert full.status == "mismatch" and full.digest == hashlib.sha1(path.read_bytes()).hexdigest()


def test_a_file_without_published_checksum_is_held_to_the_one_recorded_at_fetch(tmp_path, network):
    network[UNPUBLISHED.url] = PAYLOAD
    path = fetch_file(UNPUBLISHED, tmp_path)
    check = check_file(UNPUBLISHED, tmp_path, full=True)
    assert check.ok and check.reference == "recorded" and check.expected == hashlib.sha1(PAYLOAD).hexdigest()
    flip_in_place(path, keep_mtime=False)
    with pytest.raises(InvalidInputError, match="expected the sha1 recorded when it was fetched"):
        fetch_file(UNPUBLISHED, tmp_path)


def test_synthetic_pereira_file_with_wrong_sha1_is_refused_and_not_listed(tmp_path):
    """The probe: a synthetic assembly at Pereira's published path was scored (0.4025) and listed as present."""
    rng = np.random.default_rng(0)
    n = 4
    presentation = {
        "experiment": ["384sentences"] * n,
        "passage_label": ["a", "a", "b", "b"],
        "passage_index": [1, 1, 2, 2],
        "stimulus": ["One two.", "Three four.", "Five six.", "Seven eight."],
        "stimulus_id": [f"s{i}" for i in range(n)],
    }
    neuroid = {"subject": ["018"] * 2, "neuroid_id": ["018.0", "018.1"], "roi": ["LH_IFG", "LH_MFG"]}
    path = tmp_path / "Pereira2018" / "assy_Pereira2018_language.nc"
    write_brainio(path, rng.normal(size=(n, 2)), presentation, neuroid, as_fetched=False)
    with pytest.raises(InvalidInputError) as info:
        load_pereira2018(tmp_path, experiment="384sentences", download=False)
    message = str(info.value)
    assert str(path) in message and "f8434b4022f5b2c862f0ff2854d5b3f5f2a7fb96" in message
    assert "`tuneshift data fetch Pereira2018.243sentences --force`" in message
    assert not DATASETS.get("Pereira2018.384sentences").available(tmp_path)
    assert not sidecar_path(path).exists()  # a failing file is never recorded as good

    listed = runner.invoke(app, ["list", "--data-dir", str(tmp_path)], env={"COLUMNS": "250"})
    row = next(line for line in listed.output.splitlines() if "Pereira2018.384sentences" in line)
    assert "no (1 corrupt: tuneshift data verify Pereira2018.384sentences)" in row and "yes" not in row
    verified = runner.invoke(app, ["verify", "Pereira2018.384sentences", "--data-dir", str(tmp_path)])
    assert verified.exit_code == 1 and "mismatch" in verified.output
    assert "tuneshift data fetch Pereira2018.384sentences --force" in verified.output


def test_data_fetch_force_replaces_a_corrupt_file(tmp_path, network):
    info = DATASETS.get("Blank2014")
    (remote,) = info.files
    network[remote.url] = b"the published Blank2014 assembly"
    path = tmp_path / remote.relpath
    path.parent.mkdir(parents=True)
    path.write_bytes(b"corrupt")
    refused = runner.invoke(app, ["fetch", "Blank2014", "--data-dir", str(tmp_path)])
    assert isinstance(refused.exception, InvalidInputError) and "--force" in str(refused.exception)
    forced = runner.invoke(app, ["fetch", "Blank2014", "--force", "--data-dir", str(tmp_path)])
    # The served bytes are not the published file either: the download is refused and the corrupt file stays.
    assert isinstance(forced.exception, InvalidInputError) and "Checksum mismatch" in str(forced.exception)
    assert path.read_bytes() == b"corrupt"


def test_data_fetch_force_downloads_again(tmp_path, network, monkeypatch):
    network[REMOTE.url] = PAYLOAD
    path = fetch_file(REMOTE, tmp_path)
    path.write_bytes(b"corrupt")
    demo = dataclasses.replace(DATASETS.get("Blank2014"), name="Demo", files=(REMOTE,))
    monkeypatch.setitem(DATASETS._entries, "Demo", demo)
    with pytest.raises(InvalidInputError, match=r"`tuneshift data fetch Demo --force`"):
        fetch_file(REMOTE, tmp_path)
    result = runner.invoke(app, ["fetch", "Demo", "--force", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert path.read_bytes() == PAYLOAD and check_file(REMOTE, tmp_path, full=True).ok


def test_bundled_data_are_trusted():
    (check,) = verify("Tuckute2024")
    assert check.ok and check.reference == "bundled"


def test_constant_neural_responses_are_warned_with_the_dataset_name(tmp_path):
    frame = pd.read_csv(bundled_path(), dtype=str)
    frame["lang_LH_IFG"] = "0.5"
    path = tmp_path / "constant.csv"
    frame.to_csv(path, index=False)
    with pytest.warns(UserWarning, match=r"Tuckute2024 \(.*constant\.csv\): 1 of 5 neuroids .* 'lang_LH_IFG'"):
        load_tuckute2024(path=path, targets="frois")
