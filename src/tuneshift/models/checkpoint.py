"""What a tuning checkpoint folder is (``tune --save-every N``): its manifest, read without loading anything.

``OUT/checkpoints/step-000050/`` holds ``tuneshift-checkpoint.json`` (the base: spec, fingerprint, dtype; step,
tokens seen, loss, run key, the merged model's fingerprint) and the LoRA adapter in ``adapter/``; with
``save_merged`` the merged weights too (then it is also a plain ``save_pretrained`` folder). Writing checkpoints is
:mod:`tuneshift.tune.checkpoints`' job; :func:`tuneshift.models.load.load_model` loads one like any model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tuneshift.errors import InvalidInputError, ModelNotFoundError

MANIFEST = "tuneshift-checkpoint.json"
ADAPTER = "adapter"
TUNE_RECORD = "tuneshift-tune.json"  # written by `tuneshift tune` beside the final model


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


def has_weights(manifest: dict) -> bool:
    """Whether the folder holds the whole model (merged LoRA, or full fine-tuning), not only an adapter."""
    return bool(manifest.get("merged_weights")) or manifest["method"] != "lora"


def tuned_name(base_name: str, run: str, step: int) -> str:
    """``<base name> tuned (<run>, step N)``: what results, tables and reports call a tuned model."""
    return f"{base_name} tuned ({run}, step {step})"


def checkpoint_name(manifest: dict) -> str:
    """The :func:`tuned_name` of a checkpoint."""
    base = manifest.get("base_name") or Path(str(manifest["base"])).name
    return tuned_name(base, manifest.get("run", "tuned"), manifest["step"])


def tune_name(path: str | os.PathLike) -> str | None:
    """The :func:`tuned_name` of a folder written by ``tuneshift tune`` (from its record; the run is the folder's
    name when the record does not say), or None when `path` holds no readable record."""
    try:
        record = json.loads((Path(path) / TUNE_RECORD).read_text(encoding="utf8"))
        base = record.get("base_name") or Path(str(record["base"])).name
        return tuned_name(base, record.get("run") or Path(path).resolve().name, int(record["steps"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check_base(manifest: dict, base_fingerprint: str, where: Path, dtype: str) -> None:
    """Refuse a checkpoint whose base is not the model it was tuned from (compared in the dtype it was tuned in)."""
    if dtype == manifest.get("dtype", "float32") and base_fingerprint != manifest["base_fingerprint"]:
        raise InvalidInputError(
            f"{where}: this checkpoint was tuned from {manifest['base']} with fingerprint "
            f"{manifest['base_fingerprint']}, but that model now has fingerprint {base_fingerprint}. Its adapter "
            "only means something on the original base: restore that model, or tune again."
        )
