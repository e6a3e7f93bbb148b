"""Hybrids of a base and a tuned model, made in place on the one loaded base: :class:`GraftPair` and :class:`Graft`.

A hybrid gives every parameter p the value ``base_p + w_p · (tuned_p − base_p)``: w = 1 on the grafted parts (the
tuned tensor itself, not a recomputation), 0 elsewhere (the base tensor itself), α in between (``torch.lerp``).
Entering a :class:`Graft` points the base's parameters at those tensors; leaving it points them back at the base's
own tensors (``try/finally``), so the base is restored bit for bit and nothing is copied for w ∈ {0, 1}: memory is
the base, the tuned weights, and — only for 0 < α < 1 — the interpolated tensors of the parts being scored.

A graft is a :class:`tuneshift.models.subject.Subject`: benchmarks score it through the ordinary runner, results and
readouts keyed by its fingerprint, a hash of (base fingerprint, tuned fingerprint, {parameter: w}) — the parts, α
and direction as they act on the weights. The two ends are the base and the tuned model themselves: a graft with
every w = 0 carries the base's fingerprint, one with every w = 1 the tuned model's, and shares their results.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from tuneshift.errors import InvalidInputError, InvalidParameterError
from tuneshift.graft.parts import PartMap, part_map, split_parts
from tuneshift.models.checkpoint import TUNE_RECORD
from tuneshift.models.load import VOLATILE_CONFIG_KEYS, LoadedModel, tokenizer_signature
from tuneshift.models.subject import Passages, Representations

DIRECTIONS = ("forward", "reverse")
# Config fields a tuned copy may change without changing its numbers (generation defaults, special-token ids).
_NUMBERS_UNCHANGED = VOLATILE_CONFIG_KEYS | {"use_cache", "pad_token_id", "bos_token_id", "eos_token_id"}


class GraftPair:
    """A base model and a tuned model of the same architecture, shapes, dtype and tokenizer (checked here, by name).

    The tuned model's parameter tensors are kept (no copy; move them to CPU with the model to spare accelerator
    memory: they are moved to the base's device per swap). The base's parameters are swapped in place by the
    :class:`Graft` hybrids made with :meth:`graft`.
    """

    def __init__(self, base: LoadedModel, tuned: LoadedModel):
        check_pair(base, tuned)
        self.base = base
        self.tuned_name = tuned.name
        self.tuned_fingerprint = tuned.fingerprint
        self.tuned_source = str(tuned.source)
        self.tuned_record = _tune_record(tuned.source)
        self.tuned = {name: param.detach() for name, param in tuned.hf_model.named_parameters()}
        self.parts: PartMap = part_map(base.hf_model, base.family)
        self.active: Graft | None = None  # the hybrid now held in the base's parameters

    def graft(
        self,
        parts: str | Sequence[str] = "all",
        *,
        alpha: float = 1.0,
        direction: str = "forward",
        always: str | Sequence[str] = (),
    ) -> Graft:
        """The hybrid with `parts` (names as in :mod:`tuneshift.graft.parts`) moved α of the way to the tuned model
        ("forward": base + α·(tuned − base) on the parts, base elsewhere), or the tuned model with `parts` moved α
        of the way back to the base ("reverse"). No parts: the base (forward) or the tuned model (reverse).
        `always`: parts that hold the tuned weights (w = 1) whatever `parts`, α and direction ask."""
        if direction not in DIRECTIONS:
            raise InvalidParameterError("direction", f"one of {DIRECTIONS}", direction)
        if not (np.isfinite(alpha) and 0.0 <= alpha <= 1.0):
            raise InvalidParameterError("alpha", "a number in [0, 1] (0: base, 1: tuned)", alpha)
        names, kept = set(self.parts.resolve(parts)), set(self.parts.resolve(always))
        inside = float(alpha) if direction == "forward" else 1.0 - float(alpha)
        outside = 0.0 if direction == "forward" else 1.0
        weights = {name: 1.0 if name in kept else inside if name in names else outside for name in self.parts.all}
        label = ",".join(split_parts(parts)) or "none"
        if kept:
            label += f"+always:{','.join(split_parts(always))}"
        return Graft(self, {k: w for k, w in weights.items() if w != 0.0}, label, float(alpha), direction)

    def describe(self) -> dict:
        return {
            "base": self.base.name,
            "base_fingerprint": self.base.fingerprint,
            "tuned": self.tuned_name,
            "tuned_fingerprint": self.tuned_fingerprint,
            "tuned_source": self.tuned_source,
            **({"tuned_from": self.tuned_record.get("base_fingerprint")} if self.tuned_record else {}),
        }


class Graft:
    """One hybrid of a :class:`GraftPair` (see the module docstring); a Subject, and a context manager that holds the
    hybrid in the base model's parameters (re-entrant; the base is restored on leaving, error or not).

    weights: parameter name → w ∈ (0, 1] (absent: 0, the base tensor). label / alpha / direction: how it was asked.
    """

    def __init__(self, pair: GraftPair, weights: Mapping[str, float], label: str, alpha: float, direction: str):
        self.pair = pair
        self.weights = dict(weights)
        self.label, self.alpha, self.direction = label, alpha, direction
        self._depth = 0
        self._saved: dict[str, torch.Tensor] = {}

    @property
    def name(self) -> str:
        arrow = "<-" if self.direction == "forward" else "->"
        alpha = "" if self.alpha == 1.0 else f"@{self.alpha:g}"
        return f"{self.pair.base.name}{arrow}{self.pair.tuned_name}[{self.label}{alpha}]"

    @property
    def is_base(self) -> bool:
        return not self.weights

    @property
    def is_tuned(self) -> bool:
        return len(self.weights) == len(self.pair.parts.all) and all(w == 1.0 for w in self.weights.values())

    @cached_property
    def fingerprint(self) -> str:
        """The base's (every w = 0) or the tuned model's (every w = 1) fingerprint, else a hash of both and the
        non-zero weights (parameter names sorted, w exact)."""
        if self.is_base:
            return self.pair.base.fingerprint
        if self.is_tuned:
            return self.pair.tuned_fingerprint
        digest = hashlib.sha256(f"graft/{self.pair.base.fingerprint}/{self.pair.tuned_fingerprint}".encode())
        digest.update(json.dumps(sorted((k, float(w).hex()) for k, w in self.weights.items())).encode())
        return digest.hexdigest()[:16]

    @property
    def variant(self) -> dict[str, str]:
        return self.pair.base.variant

    @property
    def layers(self) -> list[int]:
        return self.pair.base.layers

    @cached_property
    def _model(self) -> LoadedModel:
        """The base LoadedModel under this graft's name and fingerprint (same modules): what the readout runs
        inside the graft, so that its activation cache keys on the hybrid, not on the base. Private: outside
        the ``with`` it would read the base's weights under the hybrid's key."""
        view = dataclasses.replace(self.pair.base, name=self.name)
        view.__dict__["fingerprint"] = self.fingerprint
        return view

    # ------------------------------------------------------------------------------------- swapping weights in/out
    def __enter__(self) -> Graft:
        if self._depth == 0:
            if self.pair.active is not None:
                raise InvalidParameterError(
                    "graft", "one hybrid at a time in a base model", f"{self.name} inside {self.pair.active.name}"
                )
            self._apply()
            self.pair.active = self
        self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._restore()
            self.pair.active = None

    def _apply(self) -> None:
        params = dict(self.pair.base.hf_model.named_parameters())
        try:
            with torch.no_grad():
                for name, w in self.weights.items():
                    param = params[name]
                    tuned = self.pair.tuned[name].to(param.device)
                    self._saved[name] = param.data
                    param.data = tuned if w == 1.0 else torch.lerp(param.data, tuned, w)
        except BaseException:
            self._restore()
            raise

    def _restore(self) -> None:
        params = dict(self.pair.base.hf_model.named_parameters())
        for name, data in self._saved.items():
            params[name].data = data
        self._saved.clear()

    # ------------------------------------------------------------------------------------------ the Subject contract
    def representations(self, passages: Passages, *, layers: Sequence[int] | None = None, **options) -> Representations:
        """The hybrid's per-word representations (options as for :meth:`LoadedModel.representations`)."""
        with self:
            return self._model.representations(passages, layers=layers, **options)

    def surprisal(self, passages: Passages, **options) -> np.ndarray:
        """The hybrid's per-word surprisal in bits (options as for :meth:`LoadedModel.surprisal`)."""
        with self:
            return self._model.surprisal(passages, **options)

    def describe(self) -> dict:
        return {
            **self.pair.base.describe(),
            "name": self.name,
            "fingerprint": self.fingerprint,
            "graft": {
                **self.pair.describe(),
                "parts": self.label,
                "alpha": self.alpha,
                "direction": self.direction,
                "n_parameters_changed": len(self.weights),
            },
        }


def check_pair(base: LoadedModel, tuned: LoadedModel) -> None:
    """Refuse, naming both models and what differs, a pair that cannot be grafted: another architecture, other
    parameter names or shapes, another dtype, a config that changes the numbers, another tokenizer — or the same
    weights (every share would be 0 / 0)."""
    what = f"Cannot graft {tuned.name} into {base.name}"
    base_class, tuned_class = type(base.hf_model).__name__, type(tuned.hf_model).__name__
    if base_class != tuned_class:
        raise InvalidInputError(f"{what}: other architectures ({base_class} vs {tuned_class}).")
    base_params, tuned_params = dict(base.hf_model.named_parameters()), dict(tuned.hf_model.named_parameters())
    if base_params.keys() != tuned_params.keys():
        only_base, only_tuned = (
            sorted(base_params.keys() - tuned_params.keys()),
            sorted(tuned_params.keys() - base_params),
        )
        raise InvalidInputError(
            f"{what}: other parameters (only in the base: {_few(only_base)}; only in the tuned model: "
            f"{_few(only_tuned)}). Tied and untied embeddings differ here too."
        )
    shapes = [
        f"{name} {tuple(p.shape)} vs {tuple(tuned_params[name].shape)}"
        for name, p in base_params.items()
        if p.shape != tuned_params[name].shape
    ]
    if shapes:
        raise InvalidInputError(f"{what}: other shapes ({_few(shapes)}).")
    if base.hf_model.dtype != tuned.hf_model.dtype:
        raise InvalidInputError(
            f"{what}: other dtypes ({base.hf_model.dtype} vs {tuned.hf_model.dtype}). Load both with the same dtype."
        )
    base_cfg, tuned_cfg = base.hf_model.config.to_dict(), tuned.hf_model.config.to_dict()
    changed = [
        f"{key}: {base_cfg.get(key)!r} vs {tuned_cfg.get(key)!r}"
        for key in sorted((base_cfg.keys() | tuned_cfg.keys()) - _NUMBERS_UNCHANGED)
        if base_cfg.get(key) != tuned_cfg.get(key)
    ]
    if changed:
        raise InvalidInputError(f"{what}: configs that change the numbers differ ({_few(changed)}).")
    if tokenizer_signature(base.tokenizer) != tokenizer_signature(tuned.tokenizer):
        raise InvalidInputError(
            f"{what}: other tokenizers (a hybrid reads text with the base's; the tuned model would read it otherwise)."
        )
    if all(torch.equal(p, tuned_params[name]) for name, p in base_params.items()):
        raise InvalidInputError(f"{what}: they hold the same weights, there is no change to locate.")


def _few(items: Sequence[str], n: int = 4) -> str:
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "") if items else "none"


def _tune_record(source: str | Path) -> dict | None:
    """``tuneshift-tune.json`` of a directory written by ``tuneshift tune`` (base fingerprint, options), if any."""
    try:
        return json.loads((Path(source) / TUNE_RECORD).read_text())
    except (OSError, ValueError):  # none, or unreadable: it only annotates the description
        return None
