"""Issue 24: a full disk while tuneshift writes model files — the tuned model, a --save-every checkpoint, the
dequantized GGUF cache — ends in one DiskFullError that names the place and says what was kept, with no partial
model left (ENOSPC injected into transformers' and peft's save_pretrained)."""

from __future__ import annotations

import errno

import peft
import pytest
import transformers

from tuneshift._io import DiskFullError, naming_full_disk
from tuneshift.tune import TuneOptions, tune


def _full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_tuned_model_on_a_full_disk_keeps_the_training_state(tiny_model_dirs, tmp_path, monkeypatch):
    monkeypatch.setattr(transformers.PreTrainedModel, "save_pretrained", _full)
    out = tmp_path / "tuned"
    options = TuneOptions(max_steps=2, max_length=64, checkpoint_every=1)
    with pytest.raises(DiskFullError, match=r"model\.safetensors.*resume checkpoint is kept.*run the same command"):
        tune(str(tiny_model_dirs["llama"]), out, options=options, progress=False)
    assert not list(out.glob("*.safetensors")) and not list(out.glob(".model-*"))
    assert (out / "checkpoint" / "state.pt").is_file()  # what the message promises is there


def test_checkpoint_on_a_full_disk_leaves_no_half_folder(tiny_model_dirs, tmp_path, monkeypatch):
    monkeypatch.setattr(peft.PeftModel, "save_pretrained", _full)
    out = tmp_path / "run"
    options = TuneOptions(max_steps=4, save_every=2, max_length=64)
    with pytest.raises(DiskFullError, match=r"step-000002.*checkpoints before step 2"):
        tune(str(tiny_model_dirs["llama"]), out, options=options, progress=False)
    assert not [p for p in (out / "checkpoints").iterdir()]  # no partial step folder, no temporary one


def test_library_errors_that_mean_a_full_disk_are_named(tmp_path):
    """What the GGUF cache and the savers above rely on: an errno-carrying OSError becomes DiskFullError with the
    caller's account of what was saved; any other error passes through unchanged."""
    with pytest.raises(DiskFullError, match=r"cache\.safetensors.*nothing: the float32 cache needs 1\.0 GB"):
        with naming_full_disk(tmp_path / "cache.safetensors", "nothing: the float32 cache needs 1.0 GB free there"):
            with open("/dev/full", "wb") as handle:
                handle.write(b"x" * 65536)
                handle.flush()
    with pytest.raises(ValueError, match="other"), naming_full_disk(tmp_path / "x"):
        raise ValueError("other")
