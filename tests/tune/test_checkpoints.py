"""`tune --save-every`: a checkpoint loaded from disk is the in-memory model of its step (same logits, same
fingerprint), survives an interrupted run unchanged, and refuses a base it was not tuned from."""

from __future__ import annotations

import json
import shutil
import signal

import pytest
import torch
from transformers import AutoModelForCausalLM

from tuneshift.errors import InvalidInputError, InvalidParameterError
from tuneshift.models import load_model
from tuneshift.tune import TuneOptions, list_checkpoints, load_checkpoint, read_manifest, tune
from tuneshift.tune.checkpoints import MANIFEST

TEXT = "The quick brown fox jumps over the lazy dog"
OPTIONS = dict(max_steps=6, save_every=2, batch_size=4, max_length=64, learning_rate=5e-3)


def _logits(model: torch.nn.Module, tokenizer) -> torch.Tensor:
    ids = tokenizer(TEXT, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return model(input_ids=ids).logits


@pytest.fixture(scope="module")
def tuned_run(tiny_model_dirs, tmp_path_factory):
    """6 LoRA steps of the tiny GPT-2 (dropout on) with a checkpoint every 2, and the in-memory logits at each."""
    out = tmp_path_factory.mktemp("ckpt") / "run"
    base = load_model(tiny_model_dirs["gpt2"])
    in_memory, rows = {}, []

    def remember(manifest: dict, model: torch.nn.Module) -> None:
        assert not model.training  # scored in eval mode (no dropout), as a loaded model is
        in_memory[manifest["step"]] = _logits(model, base.tokenizer)

    result = tune(
        str(tiny_model_dirs["gpt2"]),
        out,
        options=TuneOptions(**OPTIONS),
        progress=False,
        on_step=rows.append,
        on_checkpoint=remember,
    )
    return out, result, in_memory, rows, base


def test_a_checkpoint_folder_is_a_model_argument_everywhere(tuned_run):
    """load_model (hence score, compare, explain, localize, graft) takes a checkpoint folder as it is; models info
    describes its base; its random-init control is the base's."""
    from tuneshift.models.load import describe_model, load_model

    out, _, _, _, base = tuned_run
    manifest = list_checkpoints(out)[-1]
    loaded = load_model(manifest["path"])
    assert loaded.fingerprint == manifest["fingerprint"] and loaded.meta["checkpoint"]["step"] == manifest["step"]
    assert describe_model(manifest["path"])["step"] == manifest["step"]
    control = load_model(manifest["path"], random_init=True, seed=3)
    assert control.fingerprint == load_model(base.source, random_init=True, seed=3).fingerprint


def test_checkpoint_from_disk_gives_the_in_memory_logits(tuned_run):
    out, result, in_memory, rows, base = tuned_run
    assert result.record["checkpoints"] == [2, 4, 6] and sorted(in_memory) == [2, 4, 6]
    base_logits = _logits(base.hf_model, base.tokenizer)
    for manifest in list_checkpoints(out):
        step = manifest["step"]
        loaded = load_checkpoint(manifest["path"])
        logits = _logits(loaded.hf_model, loaded.tokenizer)
        # merged (W + α/r·BA) vs unmerged (W x + α/r·B A x): float32 sums in another order, logits of size ~1
        torch.testing.assert_close(logits, in_memory[step], rtol=1e-5, atol=1e-5)
        assert (logits - base_logits).abs().max() > 1e-3  # and the model did move away from the base
        assert loaded.fingerprint == manifest["fingerprint"] != base.fingerprint
        assert loaded.name == f"{base.name} tuned (run, step {step})"
        assert manifest["base_fingerprint"] == base.fingerprint
        assert manifest["tokens_seen"] == sum(r["tokens"] for r in rows[:step])
        assert manifest["loss"] == rows[step - 1]["loss"]
        assert manifest["mean_loss_since_last_checkpoint"] == pytest.approx(
            (rows[step - 2]["loss"] + rows[step - 1]["loss"]) / 2
        )
    # LoRA adapter + manifest only: no merged weights unless asked for
    folder = out / "checkpoints" / "step-000002"
    assert sorted(p.name for p in folder.iterdir()) == ["adapter", MANIFEST]
    assert sorted(p.name for p in (folder / "adapter").iterdir()) == [
        "adapter_config.json",
        "adapter_model.safetensors",
    ]
    fingerprints = [m["fingerprint"] for m in list_checkpoints(out)]
    assert len(set(fingerprints)) == 3


def test_merged_checkpoint_is_a_plain_model_folder_too(tiny_model_dirs, tmp_path, tuned_run):
    out, *_ = tuned_run
    options = TuneOptions(**(OPTIONS | {"save_merged": True}))
    tune(str(tiny_model_dirs["gpt2"]), tmp_path / "merged", options=options, progress=False, final_model=False)
    folder = tmp_path / "merged" / "checkpoints" / "step-000004"
    plain = load_model(folder)  # config.json + safetensors: any loader reads it
    reference = load_checkpoint(out / "checkpoints" / "step-000004")
    assert plain.fingerprint == read_manifest(folder)["fingerprint"] == reference.fingerprint
    assert not list((tmp_path / "merged").glob("*.safetensors"))  # final_model=False: the checkpoints only


def test_interrupted_run_keeps_its_checkpoints_and_resumes_to_the_same_ones(tiny_model_dirs, tmp_path, tuned_run):
    out, *_ = tuned_run
    resumed = tmp_path / "resumed"

    def ctrl_c_at_step_3(row: dict) -> None:
        if row["step"] == 3:
            signal.raise_signal(signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        tune(
            str(tiny_model_dirs["gpt2"]),
            resumed,
            options=TuneOptions(**OPTIONS),
            progress=False,
            on_step=ctrl_c_at_step_3,
        )
    first = resumed / "checkpoints" / "step-000002"
    written = (first / MANIFEST).stat().st_mtime_ns
    saved = []
    tune(
        str(tiny_model_dirs["gpt2"]),
        resumed,
        options=TuneOptions(**OPTIONS),
        progress=False,
        on_checkpoint=lambda m, _: saved.append(m["step"]),
    )
    assert saved == [4, 6] and (first / MANIFEST).stat().st_mtime_ns == written  # step 2 was not redone
    assert [m["fingerprint"] for m in list_checkpoints(resumed)] == [m["fingerprint"] for m in list_checkpoints(out)]


def test_checkpoints_of_another_base_are_refused_before_work(tiny_model_dirs, tmp_path, tuned_run):
    out, *_ = tuned_run
    other = tmp_path / "other"
    shutil.copytree(out / "checkpoints", other / "checkpoints")
    rows = []
    with pytest.raises(InvalidInputError, match=r"step-000002: this checkpoint was tuned from .*gpt2"):
        tune(str(tiny_model_dirs["llama"]), other, options=TuneOptions(**OPTIONS), progress=False, on_step=rows.append)
    assert rows == []


def test_a_changed_base_is_refused_when_loading(tiny_model_dirs, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(tiny_model_dirs["llama"], base)
    tune(str(base), tmp_path / "run", options=TuneOptions(max_steps=2, save_every=2, max_length=64), progress=False)
    model = AutoModelForCausalLM.from_pretrained(base)
    with torch.no_grad():
        model.lm_head.weight.mul_(2)
    model.save_pretrained(base)
    with pytest.raises(InvalidInputError, match=r"was tuned from .* but that model now has fingerprint"):
        load_checkpoint(tmp_path / "run" / "checkpoints" / "step-000002")


def test_interval_longer_than_the_epochs_is_refused_before_training(tiny_model_dirs, tmp_path):
    rows = []
    with pytest.raises(InvalidParameterError, match=r"at most the number of steps of this run \(44\)"):
        tune(  # 175 seed tasks, 1 epoch at 4 per step: 44 steps
            str(tiny_model_dirs["llama"]),
            tmp_path / "o",
            options=TuneOptions(epochs=1, save_every=50, max_length=64),
            progress=False,
            on_step=rows.append,
        )
    assert rows == [] and not (tmp_path / "o").exists()


def test_damaged_manifest_is_named(tmp_path):
    (tmp_path / MANIFEST).write_text(json.dumps({"step": 3}))
    with pytest.raises(InvalidInputError, match="manifest lacks"):
        load_checkpoint(tmp_path)
