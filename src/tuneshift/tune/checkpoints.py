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
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch

from tuneshift._io import write_json
from tuneshift.errors import InvalidInputError, ModelNotFoundError

MANIFEST = "tuneshift-checkpoint.json"
ADAPTER = "adapter"
FOLDER = "checkpoints"


def step_folder(out: Path, step: int) -> Path:
    return Path(out) / FOLDER / f"step-{step:06d}"


def is_checkpoint(path: str | os.PathLike) -> bool:
    """Whether `path` is a folder written by ``tune --save-every``."""
    return (Path(path) / MANIFEST).is_file()


def read_manifest(path: str | os.PathLike) -> dict:
    """The manifest of the checkpoint folder `path` (a named error when it is missing or damaged)."""
    manifest = Path(path) / MANIFEST
    try:
        record = json.loads(manifest.read_text(encoding="utf8"))
    except FileNotFoundError:
        raise ModelNotFoundError(f"{path} is not a tuning checkpoint: it has no {MANIFEST}.") from None
    except (OSError, ValueError) as error:
        raise InvalidInputError(f"{manifest}: damaged checkpoint manifest ({error}). Delete the folder.") from None
    missing = {"base", "base_fingerprint", "step", "method", "fingerprint"} - set(record)
    if missing:
        raise InvalidInputError(f"{manifest}: the checkpoint manifest lacks {sorted(missing)}. Delete the folder.")
    return record


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
    try:
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
    """The model saved in checkpoint folder `path`, as a :class:`~tuneshift.models.load.LoadedModel` whose
    fingerprint equals the manifest's (the merged weights of the in-memory model at that step).

    dtype: the compute dtype (default: the one it was tuned in). Raises InvalidInputError when the base model's
    weights are no longer those the checkpoint was tuned from."""
    from tuneshift.models.load import LoadedModel, load_model

    path = Path(path)
    manifest = read_manifest(path)
    dtype = dtype or manifest.get("dtype", "float32")
    if manifest.get("merged_weights") or manifest["method"] != "lora":
        loaded = load_model(path, dtype=dtype, device=device)  # a plain save_pretrained folder as well
    else:
        import peft

        base = load_model(manifest["base"], dtype=dtype, device=device)
        check_base(manifest, base.fingerprint, path, dtype)
        tuned = peft.PeftModel.from_pretrained(base.hf_model, path / ADAPTER).merge_and_unload()
        tuned.eval()
        loaded = LoadedModel(base.name, tuned, base.tokenizer, str(path), meta=base.meta | {"checkpoint": manifest})
    loaded.name = checkpoint_name(manifest)
    loaded.meta = loaded.meta | {"checkpoint": manifest}
    return loaded


def checkpoint_name(manifest: dict) -> str:
    """``<base name>+<run>@step<N>``: what results and tables call a checkpoint."""
    base = manifest.get("base_name") or Path(str(manifest["base"])).name
    return f"{base}+{manifest.get('run', 'tuned')}@{manifest['step']}"


def check_base(manifest: dict, base_fingerprint: str, where: Path, dtype: str) -> None:
    """Refuse a checkpoint whose base is not the model it was tuned from (compared in the dtype it was tuned in)."""
    if dtype == manifest.get("dtype", "float32") and base_fingerprint != manifest["base_fingerprint"]:
        raise InvalidInputError(
            f"{where}: this checkpoint was tuned from {manifest['base']} with fingerprint "
            f"{manifest['base_fingerprint']}, but that model now has fingerprint {base_fingerprint}. Its adapter "
            "only means something on the original base: restore that model, or tune again."
        )
