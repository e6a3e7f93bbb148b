"""Supervised fine-tuning of a base model on instruction data: LoRA (default) or all weights, resumable.

One optimizer step = ``grad_accum`` micro-batches of ``batch_size`` examples; its loss is the mean cross-entropy
(nats per token) over all response tokens of the step, so accumulation gives the same gradient as one large batch.
AdamW with a cosine schedule and linear warm-up (``warmup_ratio`` of the steps), gradients clipped to
``max_grad_norm``.

Data order: example positions run through one permutation of the data per epoch, drawn from (seed, epoch), and
step s takes positions ``s·B·A .. (s+1)·B·A − 1`` (B batch size, A accumulation). The order depends on the step
alone, so a resumed run reads exactly what the uninterrupted one would have.

Resuming: ``OUT/checkpoint/state.pt`` holds the trainable weights, the optimizer, scheduler and RNG states, the
step and the loss history; it is written every ``checkpoint_every`` steps and when Ctrl-C is pressed (the step in
flight finishes first; a second Ctrl-C stops at once). A rerun with the same base, data and options continues from
it, and gives the same weights as a run that was never interrupted.

Output (OUT): the tuned model in ``save_pretrained`` layout with its tokenizer (LoRA merged into the weights),
``loss.csv`` and ``loss.png`` (the loss curve), and ``tuneshift-tune.json`` (written last: base spec and
fingerprint, data checksum, options, final loss, wall time, throughput, peak memory).
"""

from __future__ import annotations

import hashlib
import json
import math
import resource
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import transformers
from torch.nn import functional

from tuneshift._io import atomic_path, naming_full_disk, write_csv, write_json
from tuneshift.errors import InvalidInputError, InvalidParameterError, TuneshiftError
from tuneshift.models.checkpoint import TUNE_RECORD
from tuneshift.models.families import blocks_of, family_of, get_module
from tuneshift.tune.checkpoints import is_checkpoint, list_checkpoints, read_manifest, save_checkpoint, step_folder
from tuneshift.tune.data import DEFAULT_DATA, Dataset, load_dataset
from tuneshift.tune.encode import IGNORE, Encoded, collate, encode

RECORD = TUNE_RECORD
CHECKPOINT = Path("checkpoint") / "state.pt"
METHODS = ("lora", "full")
DEFAULT_EPOCHS = 3.0  # Aw et al. 2023 tuned for 3 epochs
_NOT_MODULE_PATHS = {"family", "blocks", "decoder_blocks", "qkv_layout", "norm_kind"}
TUNE_DTYPES = ("float32", "bfloat16")
LOSS_ON = ("response", "all")
#: Options that change when files are written, never the weights (left out of the run key).
UNKEYED = frozenset({"checkpoint_every", "save_every", "save_merged"})
#: Shortest sequence that trains anything: one token to read and one response token to predict.
MIN_LENGTH = 2
MAX_LENGTH_FIX = "A sequence needs at least one token to read and one response token to predict."


def _check_int(name: str, value: object, *, minimum: int, fix: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        expected = "a positive integer" if minimum == 1 else f"an integer ≥ {minimum}"
        raise InvalidParameterError(name, expected, value, fix)


def _check_number(
    name: str,
    value: object,
    *,
    low: float,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
    allow_none: bool = False,
) -> None:
    """A finite real number in the interval (`low`, `high`), each end open or closed; None where allowed."""
    if value is None and allow_none:
        return
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open or high == math.inf else ']'}"
    ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        raise InvalidParameterError(name, f"a finite number in {interval}", value)


@dataclass(frozen=True)
class TuneOptions:
    """Everything that changes the tuned weights (and `checkpoint_every`, which does not)."""

    method: str = "lora"
    epochs: float | None = None
    max_steps: int | None = None
    seed: int = 0
    batch_size: int = 4
    grad_accum: int = 1
    learning_rate: float | None = None  # None: 2e-4 for LoRA, 2e-5 for full fine-tuning
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    max_length: int = 512
    dtype: str = "float32"
    device: str = "cpu"
    lora_rank: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    drop_instruction: bool = False
    chat_template: bool = False
    loss_on: str = "response"  # "all": plain language modelling on the same tokens (no prompt/response split)
    checkpoint_every: int = 50
    save_every: int | None = None
    save_merged: bool = False

    def __post_init__(self) -> None:
        """Every option checked before any work starts: a value that would train nothing or diverge at once
        (an infinite learning rate, NaN epochs, dropout ≥ 1, one-token sequences) is refused by name."""
        if self.method not in METHODS:
            raise InvalidParameterError("method", f"one of {METHODS}", self.method)
        if self.loss_on not in LOSS_ON:
            raise InvalidParameterError("loss_on", f"one of {LOSS_ON}", self.loss_on)
        if self.dtype not in TUNE_DTYPES:
            raise InvalidParameterError("dtype", f"one of {TUNE_DTYPES}", self.dtype)
        if self.epochs is not None and self.max_steps is not None:
            raise InvalidParameterError("epochs", "either epochs or max_steps, not both", self.epochs)
        for name in ("batch_size", "grad_accum", "lora_rank", "lora_alpha", "checkpoint_every", "seed"):
            _check_int(name, getattr(self, name), minimum=0 if name == "seed" else 1)
        _check_int("max_length", self.max_length, minimum=MIN_LENGTH, fix=MAX_LENGTH_FIX)
        for name in ("max_steps", "save_every"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), minimum=1)
        if self.save_every is not None and self.max_steps is not None and self.save_every > self.max_steps:
            raise InvalidParameterError(
                "save_every",
                f"at most the number of steps ({self.max_steps})",
                self.save_every,
                "A checkpoint interval larger than the run saves nothing: lower --save-every or raise --max-steps.",
            )
        _check_number("epochs", self.epochs, low=0, low_open=True, allow_none=True)
        _check_number("learning_rate", self.learning_rate, low=0, low_open=True, allow_none=True)
        _check_number("warmup_ratio", self.warmup_ratio, low=0, high=1, high_open=True)
        _check_number("weight_decay", self.weight_decay, low=0)
        _check_number("max_grad_norm", self.max_grad_norm, low=0, low_open=True)
        _check_number("lora_dropout", self.lora_dropout, low=0, high=1, high_open=True)

    @property
    def lr(self) -> float:
        return self.learning_rate or (2e-4 if self.method == "lora" else 2e-5)

    def total_steps(self, n_examples: int) -> int:
        if self.max_steps is not None:
            return self.max_steps
        per_step = self.batch_size * self.grad_accum
        return max(1, math.ceil((self.epochs or DEFAULT_EPOCHS) * n_examples / per_step))

    def key(self) -> dict[str, object]:
        """The options that change the weights (the resume check and the record)."""
        return {k: v for k, v in asdict(self).items() if k not in UNKEYED} | {"learning_rate": self.lr}


@dataclass
class TuneResult:
    out_dir: Path
    record: dict
    history: pd.DataFrame


def lora_targets(model: torch.nn.Module) -> list[str]:
    """Full names of the per-block projections the family's module map declares (attention q/k/v or fused qkv,
    FFN projections) that are Linear or GPT-2 Conv1D layers: LoRA's targets, for every family alike."""
    family = family_of(model)
    names = {id(module): name for name, module in model.named_modules()}
    paths = [
        getattr(family, f.name)
        for f in fields(family)
        if f.name not in _NOT_MODULE_PATHS and isinstance(getattr(family, f.name), str) and getattr(family, f.name)
    ]
    targets = []
    for block in blocks_of(model, family):
        for path in paths:
            try:
                module = get_module(block, path)
            except (AttributeError, IndexError, TypeError):
                continue
            if isinstance(module, torch.nn.Linear | transformers.pytorch_utils.Conv1D):
                targets.append(names[id(module)])
    return targets


def prepare(model: transformers.PreTrainedModel, options: TuneOptions) -> torch.nn.Module:
    """The model to train: a peft LoRA wrapper on the family's projections, or the model itself (full)."""
    if options.method == "full":
        model.requires_grad_(True)
        return model
    import peft

    targets = lora_targets(model)
    conv1d = any(isinstance(model.get_submodule(t), transformers.pytorch_utils.Conv1D) for t in targets)
    config = peft.LoraConfig(
        r=options.lora_rank,
        lora_alpha=options.lora_alpha,
        lora_dropout=options.lora_dropout,
        target_modules=targets,
        fan_in_fan_out=conv1d,
    )
    return peft.get_peft_model(model, config)


def merged(model: torch.nn.Module) -> transformers.PreTrainedModel:
    """The plain model with LoRA's low-rank updates added into its weights (W + α/r · B A)."""
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model


@lru_cache(maxsize=8)
def _permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


def step_examples(step: int, n: int, options: TuneOptions) -> list[list[int]]:
    """Example indices of each micro-batch of optimizer step `step` (0-based); see the module docstring."""
    per_step = options.batch_size * options.grad_accum
    positions = np.arange(step * per_step, (step + 1) * per_step)
    indices = [int(_permutation(n, options.seed, int(p // n))[p % n]) for p in positions]
    return [indices[i : i + options.batch_size] for i in range(0, per_step, options.batch_size)]


def token_losses(
    model: torch.nn.Module,
    hf_model: transformers.PreTrainedModel,
    batch: dict[str, torch.Tensor],
    *,
    encoder_decoder: bool,
) -> torch.Tensor:
    """Summed cross-entropy (nats) over the batch's response tokens."""
    labels = batch["labels"]
    if encoder_decoder:
        decoder_ids = hf_model.prepare_decoder_input_ids_from_labels(labels=labels)
        logits = model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], decoder_input_ids=decoder_ids
        ).logits
    else:
        # logits only where a next token carries loss: the output layer of a 262k vocabulary dominates the cost
        keep = (labels[:, 1:] != IGNORE).any(dim=0).nonzero().squeeze(1)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], logits_to_keep=keep).logits
        labels = labels[:, 1:][:, keep]
    return functional.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE, reduction="sum"
    )


def _n_loss_tokens(item: Encoded, encoder_decoder: bool) -> int:
    labels = item.labels if encoder_decoder else item.labels[1:]
    return sum(label != IGNORE for label in labels)


class _CtrlC:
    """Turns the first SIGINT into a request that the loop honours after the current step."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self) -> _CtrlC:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, self._previous)  # a second Ctrl-C stops at once

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _run_key(base_fingerprint: str, dataset: Dataset, options: TuneOptions) -> str:
    identity = {"base": base_fingerprint, "data": dataset.sha256, "format": dataset.format, **options.key()}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]


class TrainingDivergedError(TuneshiftError, ArithmeticError):
    """The loss, a gradient or a weight became non-finite during tuning; nothing was saved as a model."""


def tune(
    base: str,
    out: str | Path,
    data: str | Path = DEFAULT_DATA,
    *,
    data_format: str | None = None,
    options: TuneOptions | None = None,
    progress: bool = True,
    log_every: int = 10,
    on_step: Callable[[dict], None] | None = None,
    on_checkpoint: Callable[[dict, torch.nn.Module], None] | None = None,
    final_model: bool = True,
    dataset: Dataset | None = None,
    run_name: str | None = None,
) -> TuneResult:
    """Fine-tune `base` (hub id, directory, .gguf or catalog name) on `data` and write the tuned model to `out`.

    See the module docstring for the procedure, resuming and the output. `on_step` receives each step's row of the
    loss history (step, loss, learning_rate, tokens, loss_tokens, tokens_per_s, elapsed_s) after the step;
    `on_checkpoint` each saved checkpoint's manifest and the in-memory model at that step (eval mode, no grad).
    With ``options.save_every`` a loadable checkpoint is written every that many steps (:mod:`.checkpoints`);
    `final_model=False` writes the record and the loss but not the merged model (a trajectory keeps checkpoints).
    `dataset` (already read, e.g. filtered) replaces `data`; `run_name` names the run in checkpoint names.
    Raises KeyboardInterrupt after saving a checkpoint when Ctrl-C is pressed, and TrainingDivergedError (saving
    nothing) when the loss or a weight becomes non-finite.
    """
    from tuneshift.models import load_model
    from tuneshift.progress import progress as progress_bar

    options = options or TuneOptions()
    out = Path(out)
    dataset = dataset or load_dataset(data, data_format)
    if options.save_every is not None and options.save_every > options.total_steps(len(dataset.examples)):
        raise InvalidParameterError(  # checked before the model loads
            "save_every",
            f"at most the number of steps of this run ({options.total_steps(len(dataset.examples))})",
            options.save_every,
            "A checkpoint interval larger than the run saves nothing: lower --save-every.",
        )
    loaded = load_model(base, dtype=options.dtype, device=options.device)
    base_fingerprint = loaded.fingerprint
    run_key = _run_key(base_fingerprint, dataset, options)
    finished = _finished(out, run_key)
    if finished is not None:
        return finished
    _check_saved_checkpoints(out, run_key)

    hf_model, tokenizer = loaded.hf_model, loaded.tokenizer
    encoder_decoder = loaded.is_encoder_decoder
    encoded = encode_dataset(dataset, tokenizer, options, encoder_decoder=encoder_decoder)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    total_steps = options.total_steps(len(encoded))
    checkpoint_facts = {
        "base": _base_spec(base),
        "base_name": loaded.name,
        "base_fingerprint": base_fingerprint,
        "dtype": options.dtype,
        "method": options.method,
        "run": run_name or out.name,
        "run_key": run_key,
        "data_sha256": dataset.sha256,
        "options": options.key(),
        "total_steps": total_steps,
    }

    torch.manual_seed(options.seed)
    model = prepare(hf_model, options)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=options.lr, weight_decay=options.weight_decay)
    scheduler = transformers.get_cosine_schedule_with_warmup(
        optimizer, math.ceil(options.warmup_ratio * total_steps), total_steps
    )
    state = _resume(out / CHECKPOINT, run_key, model, optimizer, scheduler)
    start_step, history, elapsed_before = state["step"], state["history"], state["elapsed"]

    started = time.monotonic()
    with _CtrlC() as ctrl_c, progress_bar("tune", total_steps, enabled=progress, unit="steps") as tracker:
        tracker.advance(start_step)
        for step in range(start_step, total_steps):
            step_start = time.monotonic()
            micro_batches = [[encoded[i] for i in batch] for batch in step_examples(step, len(encoded), options)]
            n_loss = sum(_n_loss_tokens(item, encoder_decoder) for batch in micro_batches for item in batch)
            step_loss, n_tokens = 0.0, 0
            for batch in micro_batches:
                tensors = {k: v.to(loaded.device) for k, v in collate(batch, pad_id).items()}
                loss = token_losses(model, hf_model, tensors, encoder_decoder=encoder_decoder) / n_loss
                loss.backward()
                step_loss += loss.item()
                n_tokens += sum(item.n_tokens for item in batch)
            grad_norm = torch.nn.utils.clip_grad_norm_(trainable, options.max_grad_norm)
            if not (math.isfinite(step_loss) and torch.isfinite(grad_norm)):
                what = f"the loss is {step_loss}" if not math.isfinite(step_loss) else f"gradient norm {grad_norm}"
                raise _diverged(step + 1, total_steps, what, options, out, bad_from=step)
            row = {"step": step + 1, "loss": step_loss, "learning_rate": scheduler.get_last_lr()[0]}
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if not all(bool(torch.isfinite(p).all()) for p in trainable):
                what = "a weight became non-finite after the update"
                raise _diverged(step + 1, total_steps, what, options, out, bad_from=step + 1)
            seconds = time.monotonic() - step_start
            elapsed = elapsed_before + time.monotonic() - started
            row |= {"tokens": n_tokens, "loss_tokens": n_loss, "tokens_per_s": n_tokens / seconds, "elapsed_s": elapsed}
            history.append(row)
            tracker.advance(1)
            if progress and (step + 1) % log_every == 0:
                _log(row, total_steps, history)
            if on_step is not None:
                on_step(row)
            done = step + 1 == total_steps
            saved = options.save_every is not None and (step + 1) % options.save_every == 0
            if saved:
                manifest = _save_model_checkpoint(out, model, tokenizer, checkpoint_facts, history, options)
                if on_checkpoint is not None:
                    model.eval()
                    with torch.no_grad():
                        on_checkpoint(manifest, model)
                    model.train()
            if ctrl_c.requested or (not done and (saved or (step + 1) % options.checkpoint_every == 0)):
                _save_checkpoint(out / CHECKPOINT, run_key, step + 1, model, optimizer, scheduler, history, elapsed)
            if ctrl_c.requested:
                raise KeyboardInterrupt(f"tuning stopped after step {step + 1}; checkpoint saved in {out}")

    return _finish(
        out, base, loaded, dataset, options, model, history, run_key, checkpoint_facts["run"], final_model=final_model
    )


def encode_dataset(
    dataset: Dataset, tokenizer: transformers.PreTrainedTokenizerBase, options: TuneOptions, *, encoder_decoder: bool
) -> list[Encoded]:
    """Every example encoded with `options`; refused (naming the first such example) when one would have no response
    token under the loss — ``max_length`` too short to reach the response."""
    encoded = [
        encode(
            example,
            tokenizer,
            encoder_decoder=encoder_decoder,
            max_length=options.max_length,
            drop_instruction=options.drop_instruction,
            chat_template=options.chat_template,
            loss_on_all=options.loss_on == "all",
        )
        for example in dataset.examples
    ]
    empty = [i for i, item in enumerate(encoded) if _n_loss_tokens(item, encoder_decoder) == 0]
    if empty:
        raise InvalidParameterError(
            "max_length",
            "a length that leaves every example at least one response token to predict",
            options.max_length,
            f"{len(empty)} of {len(encoded)} examples would train nothing (first: {dataset.examples[empty[0]].origin}"
            "). Raise --max-length.",
        )
    return encoded


def _diverged(
    step: int, total: int, what: str, options: TuneOptions, out: Path, bad_from: int
) -> TrainingDivergedError:
    """The error to raise; loadable checkpoints from step `bad_from` on are deleted: the weights saved after update
    s are the ones step s + 1's non-finite loss was computed with."""
    saved = []
    for manifest in list_checkpoints(out):
        if manifest["step"] >= bad_from:
            shutil.rmtree(manifest["path"], ignore_errors=True)
        else:
            saved.append(manifest["step"])
    kept = f" Loadable checkpoints of earlier steps stay: {saved}." if saved else ""
    dtype_hint = ", or tune in float32" if options.dtype != "float32" else ""
    return TrainingDivergedError(
        f"Tuning diverged at step {step}/{total}: {what} (learning rate {options.lr:g}, {options.dtype}). Nothing "
        f"was saved as a tuned model in {out}.{kept} Lower --lr or --max-grad-norm{dtype_hint}, and use another "
        "--out (or delete its checkpoint folder)."
    )


def _base_spec(base: str) -> str:
    """The base as a checkpoint records it: an existing local path made absolute (it is reloaded from anywhere)."""
    path = Path(base).expanduser()
    return str(path.resolve()) if path.exists() else str(base)


def _save_model_checkpoint(out: Path, model, tokenizer, facts: dict, history: list[dict], options) -> dict:
    """Save step `history[-1]`'s loadable checkpoint, unless this run saved it already (a run killed after writing
    it but before its resume state redoes the step: the weights are the same, the folder is kept as it is)."""
    folder = step_folder(out, history[-1]["step"])
    if is_checkpoint(folder):
        existing = read_manifest(folder)
        if existing.get("run_key") == facts["run_key"]:
            return existing | {"path": str(folder)}
    since = [row["loss"] for row in history[-options.save_every :]]
    manifest = facts | {
        "step": history[-1]["step"],
        "tokens_seen": int(sum(row["tokens"] for row in history)),
        "loss_tokens_seen": int(sum(row.get("loss_tokens", 0) for row in history)),
        "loss": float(history[-1]["loss"]),
        "mean_loss_since_last_checkpoint": float(np.mean(since)),
        "elapsed_s": float(history[-1]["elapsed_s"]),
    }
    return save_checkpoint(folder, model, tokenizer, manifest, save_merged=options.save_merged) | {"path": str(folder)}


def _check_saved_checkpoints(out: Path, run_key: str) -> None:
    """Refuse, before any work, an output folder whose checkpoints come from another base, data or options."""
    for manifest in list_checkpoints(out):
        if manifest.get("run_key") != run_key:
            raise InvalidInputError(
                f"{manifest['path']}: this checkpoint was tuned from {manifest['base']} (fingerprint "
                f"{manifest['base_fingerprint']}) with other data or options than this run. Use another --out, or "
                "delete its checkpoints folder to start afresh."
            )


def _log(row: dict, total_steps: int, history: list[dict]) -> None:
    recent = history[-10:]
    seconds_per_step = sum(r["tokens"] / r["tokens_per_s"] for r in recent) / len(recent)
    eta = seconds_per_step * (total_steps - row["step"])
    print(
        f"step {row['step']}/{total_steps}: loss {row['loss']:.4f}, {row['tokens_per_s']:.0f} tokens/s, "
        f"ETA {eta:.0f} s",
        file=sys.stderr,
        flush=True,
    )


def _trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def _save_checkpoint(path: Path, run_key: str, step: int, model, optimizer, scheduler, history, elapsed) -> None:
    state = {
        "run_key": run_key,
        "step": step,
        "trainable": _trainable_state(model),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": torch.get_rng_state(),
        "history": history,
        "elapsed": elapsed,
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _resume(path: Path, run_key: str, model, optimizer, scheduler) -> dict:
    """Load the checkpoint at `path` into model/optimizer/scheduler/RNG; a fresh start when there is none."""
    if not path.exists():
        return {"step": 0, "history": [], "elapsed": 0.0}
    state = torch.load(path, weights_only=True)
    if state["run_key"] != run_key:
        raise InvalidInputError(
            f"{path}: this checkpoint belongs to a run with another base model, data or options. Rerun with the "
            "same ones to resume it, use another --out, or delete the checkpoint folder to start afresh."
        )
    parameters = dict(model.named_parameters())
    with torch.no_grad():
        for name, tensor in state["trainable"].items():
            parameters[name].copy_(tensor)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"])
    return state


def _finished(out: Path, run_key: str) -> TuneResult | None:
    """The result already in `out` when a run with the same key finished there."""
    record_path = out / RECORD
    if not record_path.exists():
        return None
    record = json.loads(record_path.read_text())
    if record.get("run_key") != run_key:
        raise InvalidInputError(
            f"{out} already holds a model tuned with another base, data or options ({record_path}). "
            "Choose another --out."
        )
    return TuneResult(out, record, pd.read_csv(out / "loss.csv"))


def _save_model(out: Path, tuned, tokenizer) -> None:
    """Write the tuned model into `out` through a temporary folder inside it (files moved in when all are written):
    a full disk leaves no partial model and says whether a resume checkpoint is there to finish from."""
    out.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=".model-", dir=out))
    state = out / CHECKPOINT
    saved = (
        f"the last resume checkpoint is kept in {state}: free space and run the same command (it resumes there)"
        if state.is_file()
        else "no resume checkpoint was due yet (--checkpoint-every): free space and tune again"
    )
    try:
        with naming_full_disk(out / "model.safetensors", saved):
            tuned.save_pretrained(partial)
            tokenizer.save_pretrained(partial)
        for item in partial.iterdir():
            item.replace(out / item.name)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _finish(
    out, base, loaded, dataset: Dataset, options: TuneOptions, model, history, run_key, run, *, final_model: bool
) -> TuneResult:
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if final_model:
        tuned = merged(model)
        tuned.eval()
        _save_model(out, tuned, loaded.tokenizer)
    out.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(history)
    write_csv(out / "loss.csv", frame)
    _plot_loss(frame, out / "loss.png", title=f"{loaded.name} → {out.name}")
    tokens, seconds = frame["tokens"].sum(), (frame["tokens"] / frame["tokens_per_s"]).sum()
    record = {
        "base": str(base),
        "base_name": loaded.name,
        "base_source": loaded.source,
        "base_fingerprint": loaded.fingerprint,
        "run": run,  # with base_name and steps, the tuned model's name (models.checkpoint.tune_name)
        "data": dataset.describe(),
        "options": options.key(),
        "run_key": run_key,
        "steps": len(frame),
        "model_saved": final_model,
        "checkpoints": [c["step"] for c in list_checkpoints(out)],
        "initial_loss": float(frame["loss"].iloc[0]),
        "final_loss": float(frame["loss"].iloc[-min(10, len(frame)) :].mean()),
        "final_loss_note": "mean of the last 10 steps' losses (nats per response token)",
        "trainable_parameters": int(n_trainable),
        "tokens": int(tokens),
        "tokens_per_s": float(tokens / seconds),
        "wall_time_s": float(frame["elapsed_s"].iloc[-1]),
        "peak_memory_mb": _peak_memory_mb(loaded.device),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    write_json(out / RECORD, record)
    shutil.rmtree(out / CHECKPOINT.parent, ignore_errors=True)
    return TuneResult(out, record, frame)


def _plot_loss(frame: pd.DataFrame, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 3.5))
    axes = figure.add_subplot()
    axes.plot(frame["step"], frame["loss"], lw=0.8, alpha=0.5, label="step")
    window = max(1, len(frame) // 20)
    axes.plot(frame["step"], frame["loss"].rolling(window, min_periods=1).mean(), lw=2, label=f"mean of {window}")
    axes.set(xlabel="optimizer step", ylabel="loss (nats / response token)", title=title)
    axes.legend()
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=120)
