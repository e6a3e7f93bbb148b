"""Loadable models along a tuning run (``tune --save-every N``): one folder per saved step, usable wherever a model is.

``OUT/checkpoints/step-000050/`` holds the LoRA adapter in peft's layout in ``adapter/`` (``adapter_config.json``,
``adapter_model.safetensors``; full fine-tuning: the whole model in ``save_pretrained`` layout) and
``tuneshift-checkpoint.json``: the base (spec, fingerprint, dtype), step, tokens seen, the step's loss and the
mean loss since the previous checkpoint, the run key, and the fingerprint of the merged model — the one a load
reproduces. With ``save_merged`` the merged weights and the tokenizer are written into the folder itself, so it is
also a plain ``save_pretrained`` model (the adapter stays in its subfolder: transformers would apply an adapter it
finds beside merged weights a second time). A folder is renamed into place when complete: a killed run never leaves a
half-written checkpoint.

:func:`load_checkpoint` rebuilds the model: the base, its fingerprint checked against the manifest (a base that
changed since is refused), the adapter merged in (W + α/r · B A).
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from pathlib import Path

import torch

from tuneshift._io import naming_full_disk, write_json
from tuneshift.models.checkpoint import ADAPTER, MANIFEST, is_checkpoint, read_manifest

FOLDER = "checkpoints"


def step_folder(out: Path, step: int) -> Path:
    return Path(out) / FOLDER / f"step-{step:06d}"


def list_checkpoints(out: str | os.PathLike) -> list[dict]:
    """Manifests of the checkpoints under ``out/checkpoints`` in step order, each with its ``path``."""
    folder = Path(out) / FOLDER
    paths = sorted(p for p in folder.glob("step-*") if is_checkpoint(p)) if folder.is_dir() else []
    return [read_manifest(p) | {"path": str(p)} for p in paths]


def merged_copy(model: torch.nn.Module) -> torch.nn.Module:
    """The plain model with LoRA merged into a copy of the weights (the training model stays as it is)."""
    model = copy.deepcopy(model)
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model


def save_checkpoint(folder: Path, model: torch.nn.Module, tokenizer, manifest: dict, *, save_merged: bool) -> dict:
    """Write `model` (a peft LoRA wrapper or a fully tuned model) as a loadable checkpoint in `folder`.

    `manifest` holds the run's facts (base, step, tokens, loss, run key, ...); the merged model's fingerprint is
    added. Returns the manifest written."""
    from tuneshift.models.load import LoadedModel

    plain = merged_copy(model)
    plain.eval()
    fingerprint = LoadedModel("checkpoint", plain, tokenizer, str(folder)).fingerprint
    manifest = manifest | {"fingerprint": fingerprint, "merged_weights": save_merged}
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    saved = f"the checkpoints before step {manifest['step']} and the training state (the same command resumes)"
    try:
        with naming_full_disk(folder, saved):
            if manifest["method"] == "lora":
                model.save_pretrained(partial / ADAPTER, save_embedding_layers=False)
                (partial / ADAPTER / "README.md").unlink(missing_ok=True)  # peft's empty model card
            if save_merged or manifest["method"] != "lora":
                plain.save_pretrained(partial)
                tokenizer.save_pretrained(partial)
            write_json(partial / MANIFEST, manifest)
        shutil.rmtree(folder, ignore_errors=True)  # a step redone after a kill: the same weights again
        partial.rename(folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return manifest


def load_checkpoint(path: str | os.PathLike, *, dtype: str | None = None, device: str = "cpu"):
    """The model saved in checkpoint folder `path` (:func:`tuneshift.models.load.load_model` loads any checkpoint
    folder), in the dtype it was tuned in unless `dtype` says otherwise: its fingerprint equals the manifest's."""
    from tuneshift.models.load import load_model

    return load_model(path, dtype=dtype or read_manifest(path).get("dtype", "float32"), device=device)
