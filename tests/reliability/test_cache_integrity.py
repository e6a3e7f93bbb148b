"""Activation cache (issue 11): an entry's meta.json must list exactly the files it holds, or the entry is reported,
removed and recomputed; work directories of killed runs are swept when the cache is opened, a live run's never."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from tuneshift.models.cache import STALE_AFTER_S, WORK_PREFIX, ActivationCache
from tuneshift.models.readout import read_out

PASSAGES = [["The", "dog", "sleeps", "."], ["Taste", "that", "fish", "!"]]
DEAD_PID = 2**22 + 12345  # above Linux's default pid_max: no live process has it


def edit_meta(entry, change) -> None:
    meta = json.loads((entry / "meta.json").read_text())
    change(meta)
    (entry / "meta.json").write_text(json.dumps(meta))


def no_files(meta: dict) -> None:
    meta["files"] = {}


def no_activations(meta: dict) -> None:
    del meta["files"]["activations.npy"]


@pytest.mark.parametrize(
    ("damage", "reported"),
    [
        (lambda entry: edit_meta(entry, no_files), "meta.json does not list activations.npy, words.csv"),
        (lambda entry: edit_meta(entry, no_activations), "meta.json does not list activations.npy"),
        (lambda entry: (entry / "extra.npy").write_bytes(b"x"), "extra.npy not listed in meta.json"),
        (lambda entry: (entry / "words.csv").unlink(), "words.csv is missing"),
    ],
    ids=["lists no files", "misses a file", "extra file", "file gone"],
)
def test_entry_with_a_bad_manifest_is_reported_removed_and_recomputed(tiny_models, tmp_path, damage, reported):
    model = tiny_models["gpt2"]
    first = read_out(model, PASSAGES, cache_dir=tmp_path, progress=False)
    damage(first.path)
    with pytest.warns(UserWarning, match=f"{first.path} is corrupt \\({reported}\\); recomputing it"):
        again = read_out(model, PASSAGES, cache_dir=tmp_path, progress=False)
    assert again.path == first.path and ActivationCache._problem(again.path) == ""
    np.testing.assert_array_equal(again.activations, read_out(model, PASSAGES, cache=False, progress=False).activations)


def test_surprisal_only_entry_lists_words_and_refuses_stray_activations(tiny_models, tmp_path):
    entry = read_out(tiny_models["gpt2"], PASSAGES, cache_dir=tmp_path, progress=False, layers=[]).path
    assert set(json.loads((entry / "meta.json").read_text())["files"]) == {"words.csv"}
    np.save(entry / "activations.npy", np.zeros((1, 8, 32)))
    assert ActivationCache._problem(entry) == "activations.npy not listed in meta.json"


def make_work_dir(root, name: str, age_s: float = 0.0):
    path = root / name
    path.mkdir(parents=True)
    (path / "activations.npy").write_bytes(b"partial")
    then = time.time() - age_s
    for item in (path / "activations.npy", path):
        os.utime(item, (then, then))
    return path


def test_work_dirs_of_dead_runs_are_swept_live_ones_kept(tmp_path):
    host, day = socket.gethostname(), STALE_AFTER_S + 60
    dead = make_work_dir(tmp_path, f"{WORK_PREFIX}{host}-{DEAD_PID}-abc")
    live_old = make_work_dir(tmp_path, f"{WORK_PREFIX}{host}-{os.getpid()}-def", age_s=day)  # a long live run
    elsewhere = make_work_dir(tmp_path, f"{WORK_PREFIX}other-node-{DEAD_PID}-ghi")  # another host: cannot tell
    elsewhere_old = make_work_dir(tmp_path, f"{WORK_PREFIX}other-node-{DEAD_PID}-jkl", age_s=day)
    unnamed = make_work_dir(tmp_path, f"{WORK_PREFIX}x1y2z3")  # made by tempfile.mkdtemp(prefix="readout-")
    unnamed_old = make_work_dir(tmp_path, f"{WORK_PREFIX}q7r8s9", age_s=day)
    entry = make_work_dir(tmp_path, "0123456789abcdef0123456789abcdef", age_s=day)  # an entry, not a work dir
    cache = ActivationCache(tmp_path)
    assert not dead.exists() and not elsewhere_old.exists() and not unnamed_old.exists()
    assert live_old.exists() and elsewhere.exists() and unnamed.exists() and entry.exists()
    mine = cache.work_dir()
    assert mine.name.startswith(f"{WORK_PREFIX}{host}-{os.getpid()}-")
    assert ActivationCache(tmp_path).sweep() == [] and mine.exists()


def test_a_killed_runs_work_dir_is_swept_on_the_next_open(tmp_path):
    """What a SIGKILL leaves: the work dir of a process that no longer exists."""
    code = (
        "import sys; from tuneshift.models.cache import ActivationCache; print(ActivationCache(sys.argv[1]).work_dir())"
    )
    made = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    orphan = tmp_path / os.path.basename(made.stdout.strip())
    assert orphan.is_dir()
    assert ActivationCache(tmp_path).sweep() == [] and not orphan.exists()  # swept by the constructor
