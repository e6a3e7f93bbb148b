"""Full and read-only disks (issues 24, 25): every results write says what was saved and where space is needed, in
one line, and leaves no partial file; the activation cache is optional, so a full or read-only cache folder turns
it off with a warning; a memory-mapped write never meets a full disk (it used to die with SIGBUS, exit 135).

The full disk is real where this runs as root (a 1 MiB tmpfs); elsewhere those variants are skipped and the
injected ones (an OSError with errno ENOSPC, or numpy's and HDF5's errno-less failures) still run."""

from __future__ import annotations

import errno
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from tuneshift import _io
from tuneshift._io import DiskFullError, reserve, write_atomic, write_bytes, write_csv, write_json
from tuneshift.benchmarks.store import ResultStore, new_unit
from tuneshift.models.cache import ActivationCache, _save_npy
from tuneshift.models.readout import ReadoutSpec, _allocate

MIB = 1 << 20


@pytest.fixture
def small_disk(tmp_path):
    """A real 1 MiB filesystem (tmpfs), mounted for this test; skipped where mounting is refused (not root)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.decode().strip()}); the injected variants run")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def _left(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _assert_one_line_naming(error: DiskFullError, folder: Path, name: str) -> None:
    message = str(error)
    assert "\n" not in message and str(folder) in message and name in message and "Free space there" in message


WRITERS = {
    "json": lambda path: write_json(path, {"x": "y" * 2 * MIB}),
    "csv": lambda path: write_csv(path, pd.DataFrame({"x": ["y" * 1000] * 2000})),
    "bytes": lambda path: write_bytes(path, b"y" * 2 * MIB),
    "npy (numpy loses the errno)": lambda path: write_atomic(path, lambda p: _save_npy(p, np.ones(MIB // 2))),
    "netCDF (HDF5 loses the errno)": lambda path: write_atomic(
        path, lambda p: xr.Dataset({"r": ("n", np.ones(MIB // 4))}).to_netcdf(p, engine="netcdf4")
    ),
}


@pytest.mark.parametrize("writer", WRITERS)
def test_every_atomic_writer_on_a_full_disk_raises_one_line_and_leaves_no_partial_file(small_disk, writer):
    (small_disk / "kept.txt").write_text("the previous version")
    target = small_disk / "kept.txt"
    with pytest.raises(DiskFullError) as raised:
        WRITERS[writer](target)
    _assert_one_line_naming(raised.value, small_disk, "kept.txt")
    assert _left(small_disk) == ["kept.txt"] and target.read_text() == "the previous version"


@pytest.mark.parametrize(
    ("raised", "free", "full"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), 10 * MIB, True),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), 10 * MIB, True),
        (OSError("1048576 requested and 131056 written"), 0, True),  # numpy's tofile
        (RuntimeError("NetCDF: HDF error"), 4096, True),
        (RuntimeError("NetCDF: HDF error"), 10 * MIB, False),  # room left: some other failure, raised as it is
        (OSError(errno.EIO, "Input/output error"), 0, False),
    ],
)
def test_injected_write_failures_are_told_apart(tmp_path, monkeypatch, raised, free, full):
    monkeypatch.setattr(_io.shutil, "disk_usage", lambda _: _Usage(free))

    def half_then_fail(path: Path) -> None:
        path.write_bytes(b"partial")
        raise raised

    with pytest.raises(DiskFullError if full else type(raised)) as caught:
        write_atomic(tmp_path / "out.csv", half_then_fail)
    assert (caught.type is DiskFullError) == full
    assert _left(tmp_path) == []


class _Usage:
    def __init__(self, free: int):
        self.free = free


def _unit(key: str, values: xr.Dataset | None = None):
    rows = pd.DataFrame({"model": "m", "benchmark": "B", "layer": [0], "raw": [0.5]})
    return new_unit(key, "m", "B", rows, {"best_raw": 0.5}, values=values, benchmark_id="B", fingerprint="fp")


def test_values_that_do_not_fit_save_nothing_of_that_unit_and_keep_the_others(small_disk):
    store = ResultStore(small_disk / "out")
    store.save(_unit("a" * 16))
    before = {name: (small_disk / "out" / name).read_bytes() for name in ("scores.csv", "summary.json")}
    big = xr.Dataset({"r": (("split", "neuroid"), np.random.default_rng(0).random((10, 20_000)))})
    with pytest.raises(DiskFullError) as raised:
        store.save(_unit("b" * 16, values=big))
    _assert_one_line_naming(raised.value, small_disk / "out" / "units", ".nc")
    assert "this result was not saved" in str(raised.value) and "MiB are needed" in str(raised.value)
    assert _left(small_disk / "out" / "units") == [store.path(_unit("a" * 16)).name]
    assert {name: (small_disk / "out" / name).read_bytes() for name in before} == before


def test_unit_file_that_does_not_fit_removes_its_values_file(tmp_path, monkeypatch):
    store = ResultStore(tmp_path)
    write_text = Path.write_text

    def full_for_units(path, *args, **kwargs):
        if path.name.startswith(".B-"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return write_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_for_units)
    with pytest.raises(DiskFullError, match="this result was not saved"):
        store.save(_unit("a" * 16, values=xr.Dataset({"r": ("n", np.ones(3))})))
    assert _left(tmp_path / "units") == []


def test_report_that_does_not_fit_leaves_the_previous_one(tmp_path, monkeypatch):
    from tuneshift.report import write_report

    rows = pd.DataFrame({"model": "m", "benchmark": "Futrell2018-pearsonr", "layer": [0, 1], "raw": [0.1, 0.2],
                         "ceiling": np.nan, "normalized": np.nan})  # fmt: skip
    summary = {"best_layer": 1, "best_raw": 0.2, "best_normalized": None, "ceiling": None, "honest_raw": 0.2,
               "honest_normalized": None, "n_layers_scored": 2, "scored": "layers"}  # fmt: skip
    unit = new_unit("a" * 16, "m", rows["benchmark"].iat[0], rows, summary, benchmark_id="Futrell2018-pearsonr")
    ResultStore(tmp_path).save(unit)
    (tmp_path / "report.html").write_text("the previous report")
    write_text = Path.write_text

    def full_for_reports(path, *args, **kwargs):
        if path.name.startswith(".report.html."):
            write_text(path, "<html>par")
            raise OSError(errno.ENOSPC, "No space left on device")
        return write_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_for_reports)
    with pytest.raises(DiskFullError) as raised:
        write_report(tmp_path)
    _assert_one_line_naming(raised.value, tmp_path, "report.html")
    assert not list(tmp_path.glob(".report.html*")) and (tmp_path / "report.html").read_text() == "the previous report"


# --- the activation cache, and the memory-mapped readout array --------------------------------------------------


def test_reserve_refuses_what_does_not_fit_and_gives_real_blocks_to_what_does(small_disk):
    path = small_disk / "a.npy"
    path.write_bytes(b"")
    with pytest.raises(DiskFullError, match=r"2\.0 MiB are needed"):
        reserve(path, 2 * MIB)
    reserve(path, MIB // 2)
    assert path.stat().st_blocks * 512 >= MIB // 2  # allocated, not sparse


def test_a_memory_mapped_readout_on_a_full_disk_warns_and_stays_in_memory_never_sigbus(small_disk):
    """In a child process: before the fix, filling the array killed the process with SIGBUS (exit 135)."""
    code = textwrap.dedent(f"""
        import warnings
        from pathlib import Path
        import numpy as np
        from tuneshift.models.readout import ReadoutSpec, _allocate
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            array = _allocate(Path({str(small_disk)!r}), ReadoutSpec(layers=(0, 1, 2, 3)), 4096, 64)
        array[:] = 1.0  # 4 MiB: a sparse mapping on a 1 MiB disk would be a SIGBUS here
        print(type(array).__name__, float(array.sum()), str(caught[0].message))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    kind, total, message = done.stdout.strip().split(" ", 2)
    assert kind == "ndarray" and float(total) == 4 * 4096 * 64
    assert str(small_disk) in message and "4.0 MiB are needed" in message and "not cached" in message
    assert _left(small_disk) == []


def test_a_memory_mapped_readout_with_room_is_a_reserved_memmap(tmp_path):
    array = _allocate(tmp_path, ReadoutSpec(layers=(0, 1)), 100, 8)
    assert isinstance(array, np.memmap) and array.shape == (2, 100, 8)
    assert (tmp_path / "activations.npy").stat().st_blocks * 512 >= array.nbytes


def test_a_read_only_cache_folder_turns_the_cache_off_with_one_warning(tmp_path, monkeypatch):
    mkdir = Path.mkdir

    def read_only(path, *args, **kwargs):
        if str(path).startswith(str(tmp_path / "ro")):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return mkdir(path, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)
    with pytest.warns(UserWarning, match=r"ro/cache: cannot write there \(Read-only file system\)"):
        cache = ActivationCache(tmp_path / "ro" / "cache")
    assert not cache.usable and cache.load("0" * 32) is None
    work = cache.work_dir()
    try:
        assert not work.is_relative_to(tmp_path / "ro")
        spec = ReadoutSpec(layers=(0,))
        activations = _allocate(work, spec, 3, 2)
        activations[:] = 7.0
        words = pd.DataFrame({"passage": 0, "word_index": [0, 1, 2], "word": list("abc"), "n_tokens": 1})
        readout = cache.commit("0" * 32, work, words, spec, activations)
        assert readout.path is None and float(readout.layer(0).sum()) == 42.0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_a_cache_entry_that_does_not_fit_is_not_cached_and_the_readout_goes_on(small_disk):
    cache = ActivationCache(small_disk)
    spec = ReadoutSpec(layers=(0, 1))
    work = cache.work_dir()
    activations = _allocate(work, spec, 1000, 64)  # 512 KiB: fits, reserved
    activations[:] = np.arange(64, dtype=np.float32)
    words = pd.DataFrame({"passage": 0, "word_index": range(1000), "word": ["w" * 700] * 1000, "n_tokens": 1})
    with pytest.warns(UserWarning, match=rf"{small_disk}: cannot write there \(no space left on its device\)"):
        readout = cache.commit("0" * 32, work, words, spec, activations)  # words.csv (700 KB) does not fit
    assert readout.path is None and readout.layer(1)[5].tolist() == list(range(64))
    assert not cache.usable and not (small_disk / ("0" * 32)).exists()


def test_a_readout_into_a_full_cache_warns_and_gives_the_uncached_numbers(tiny_models, small_disk):
    from tuneshift.models.readout import read_out

    words = np.random.default_rng(0).choice(["the", "cat", "sat", "on", "a", "mat", "and", "slept"], size=(8, 500))
    passages = [list(passage) for passage in words]  # 4000 words × 3 layers × 32 floats: 1.5 MiB > the 1 MiB disk
    expected = read_out(tiny_models["gpt2"], passages, cache=False, progress=False)
    with pytest.warns(UserWarning, match=rf"{small_disk}/readout-.*no room for the activations \(1\.5 MiB"):
        got = read_out(tiny_models["gpt2"], passages, cache_dir=small_disk, progress=False)
    assert got.path is None and _left(small_disk) == []
    np.testing.assert_array_equal(got.activations, expected.activations)
    pd.testing.assert_frame_equal(got.words, expected.words)
