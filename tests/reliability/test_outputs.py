"""Outputs of `tuneshift readout` (issue 11): every file in --out belongs to the latest run, a bad --out fails
before any model loads, staging folders of killed runs are swept, and Ctrl-C says what was saved (exit 130)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

import tuneshift.models
import tuneshift.models.readout
from tuneshift.cli import readout as readout_cli
from tuneshift.errors import InvalidInputError

WORDS = ["The", "cat", "sat", "down", "A", "dog", "ran", "off"]


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    app.command()(readout_cli.readout)
    return app


@pytest.fixture
def passages(tmp_path):
    path = tmp_path / "passages.tsv"
    pd.DataFrame({"passage": ["01"] * 4 + ["1"] * 4, "word": WORDS}).to_csv(path, sep="\t", index=False)
    return path


def run(app, passages, out, model, *extra: str):
    args = ["--passages", str(passages), "--out", str(out), "--model", str(model), "--no-cache", *extra]
    return CliRunner().invoke(app, args)


def no_model(*args, **kwargs):
    raise AssertionError("a model was loaded before --out was checked")


def test_rerun_with_fewer_outputs_leaves_no_stale_file(app, passages, tmp_path, tiny_model_dirs):
    out = tmp_path / "out"
    first = run(app, passages, out, tiny_model_dirs["gpt2"])
    assert first.exit_code == 0, first.output
    assert np.load(out / "activations.npy").shape == (3, 8, 32)
    second = run(app, passages, out, tiny_model_dirs["gpt2"], "--layers", "none")
    assert second.exit_code == 0, second.output
    assert sorted(p.name for p in out.iterdir()) == ["layers.json", "words.csv"]  # no activations, no staging
    assert json.loads((out / "layers.json").read_text()) == {"layers": []}
    words = pd.read_csv(out / "words.csv", dtype={"passage": str})
    assert words["passage"].tolist() == ["01"] * 4 + ["1"] * 4  # labels kept as written
    third = run(app, passages, out, tiny_model_dirs["gpt2"], "--layers", "1")
    assert third.exit_code == 0, third.output
    assert np.load(out / "activations.npy").shape == (1, 8, 32)
    assert json.loads((out / "layers.json").read_text()) == {"layers": [1]}


def test_out_that_is_a_file_fails_before_the_model_loads(app, passages, tmp_path, monkeypatch):
    monkeypatch.setattr(tuneshift.models, "load_model", no_model)
    target = tmp_path / "out"
    target.write_text("not a folder")
    result = run(app, passages, target, "any")
    assert isinstance(result.exception, InvalidInputError)
    assert f"--out {target} is a file" in str(result.exception)


def test_read_only_out_fails_before_the_model_loads(app, passages, tmp_path, monkeypatch):
    """Root ignores permission bits, so as root the command runs in a child process that drops to user nobody."""
    monkeypatch.setattr(tuneshift.models, "load_model", no_model)
    as_root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp()) if as_root else tmp_path  # nobody cannot enter pytest's tmp (root's, 0700)
    base.chmod(0o755)
    readable = base / "passages.tsv"
    shutil.copyfile(passages, readable)
    readable.chmod(0o644)
    locked = base / "locked"
    locked.mkdir()
    locked.chmod(0o555)

    def attempt() -> str:
        result = run(app, readable, locked / "out", "any")
        return f"{type(result.exception).__name__}: {result.exception}"

    try:
        outcome = as_nobody(attempt) if as_root else attempt()
    finally:
        locked.chmod(0o755)
        if as_root:
            shutil.rmtree(base)
    assert outcome.startswith("InvalidInputError: ") and "cannot write there" in outcome, outcome
    assert "Permission denied" in outcome


def as_nobody(action: Callable[[], str]) -> str:
    """Run `action` in a forked child as user nobody (65534) and return the text it returns."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(read)
        try:
            os.setgid(65534)
            os.setuid(65534)
            text = action()
        except BaseException as error:
            text = f"child failed: {error!r}"
        with os.fdopen(write, "w") as pipe:
            pipe.write(text)
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        text = pipe.read()
    os.waitpid(pid, 0)
    return text


def test_out_under_a_file_fails_before_the_model_loads(app, passages, tmp_path, monkeypatch):
    """A writability failure that root meets too: --out cannot be created below a file."""
    monkeypatch.setattr(tuneshift.models, "load_model", no_model)
    (tmp_path / "file").write_text("x")
    result = run(app, passages, tmp_path / "file" / "out", "any")
    assert isinstance(result.exception, InvalidInputError) and "cannot write there" in str(result.exception)


def test_staging_folders_of_dead_runs_are_swept(tmp_path):
    out = tmp_path / "out"
    host = socket.gethostname()
    dead_pid = 2**22 + 12345  # above Linux's default pid_max, so no live process has it
    dead = out / f".readout-staging-{host}-{dead_pid}-abc123"
    live = out / f".readout-staging-{host}-{os.getpid()}-def456"
    other_host = out / ".readout-staging-elsewhere-1-ghi789"
    for folder in (dead, live, other_host):
        folder.mkdir(parents=True)
        (folder / "activations.npy").write_bytes(b"partial")
    readout_cli.prepare_out_dir(out)
    assert not dead.exists() and live.exists() and other_host.exists()


def test_ctrl_c_says_what_was_saved_and_exits_130(app, passages, tmp_path, tiny_model_dirs, monkeypatch):
    out = tmp_path / "out"
    assert run(app, passages, out, tiny_model_dirs["gpt2"]).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tuneshift.models.readout, "read_out", interrupted)
    result = run(app, passages, out, tiny_model_dirs["gpt2"], "--layers", "none")
    assert result.exit_code == 130
    message = " ".join(result.output.split())
    assert "interrupted: nothing of this run was written" in message
    assert "previous run's words.csv, activations.npy, layers.json" in message
    assert "Run the same command again to resume" in message
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the previous run is intact
    empty = run(app, passages, tmp_path / "fresh", tiny_model_dirs["gpt2"])
    assert empty.exit_code == 130 and "nothing was written to" in " ".join(empty.output.split())


def test_ctrl_c_while_publishing_is_held_until_every_file_is_in_place(tmp_path, monkeypatch):
    out, staging = tmp_path / "out", tmp_path / "out" / ".staging"
    staging.mkdir(parents=True)
    (out / "activations.npy").write_bytes(b"old run")
    for name in ("words.csv", "layers.json"):
        (staging / name).write_text(f"new {name}")
    real_replace = os.replace

    def replace_then_ctrl_c(source, target):
        real_replace(source, target)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C right after the first file moved

    monkeypatch.setattr(readout_cli.os, "replace", replace_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        readout_cli.publish(staging, out)
    assert sorted(p.name for p in out.iterdir()) == [".staging", "layers.json", "words.csv"]
    assert (out / "layers.json").read_text() == "new layers.json"
