"""A subject seen through a unit mask: the Subject that benchmarks score when asked for the language network only,
and the random masks of the same size that are its control.

:class:`UnitView` is a :class:`tuneshift.models.subject.Subject` that filters the representations of any subject with
layers (a loaded model, a grafted or tuned one); the subject itself is untouched (masking what is read is not
ablation: see ``ablate``). Every neural benchmark scores it as it scores a model (``tuneshift score --units
language``, :func:`tuneshift.localize.scoring.score_network`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from tuneshift.errors import InvalidParameterError
from tuneshift.models.subject import Passages, Representations, Subject

MATCHES = ("model", "layer")
COMBINED_LAYER = -1  # the layer label of all selected units concatenated across layers


def random_mask(mask: np.ndarray, seed: int, match: str = "model", allowed: np.ndarray | None = None) -> np.ndarray:
    """A random (layers, hidden) mask with as many units as `mask`.

    match "model": drawn uniformly from all units of all layers (AlKhamissi et al.'s control); "layer": the same
    count in each layer as `mask` (controls for depth). Draws may overlap the network, as a random sample would.
    allowed: optional (layers, hidden) bool, the units a draw may use (e.g. all but the outlier dimensions).
    """
    if match not in MATCHES:
        raise InvalidParameterError("match", f"one of {MATCHES}", match)
    mask = np.asarray(mask, dtype=bool)
    allowed = np.ones(mask.shape, dtype=bool) if allowed is None else np.broadcast_to(allowed, mask.shape)
    rng = np.random.default_rng(seed)
    if match == "model":
        chosen = np.zeros(mask.size, dtype=bool)
        chosen[rng.choice(np.flatnonzero(allowed), size=int(mask.sum()), replace=False)] = True
        return chosen.reshape(mask.shape)
    # per layer: rank i.i.d. uniform keys (disallowed units last) and keep each row's first `count`
    keys = rng.random(mask.shape) + ~allowed
    ranks = np.argsort(np.argsort(keys, axis=1), axis=1)
    return ranks < mask.sum(axis=1, keepdims=True)


@dataclass
class UnitView:
    """`subject` seen through `mask` ((len(unit_layers), width) bool over its layers `unit_layers`).

    combine=True: one representation, the selected units of every layer concatenated (layer label
    ``COMBINED_LAYER`` = −1), as AlKhamissi et al. score the network; combine=False: every layer of
    `unit_layers` with its unselected units set to 0 (for regression, the same as dropping them).
    The mask's width is checked against the subject's representations when they are read.
    """

    subject: Subject
    unit_layers: Sequence[int]
    mask: np.ndarray
    label: str = "language"
    combine: bool = True

    def __post_init__(self) -> None:
        self.unit_layers = [int(x) for x in self.unit_layers]
        self.mask = np.asarray(self.mask, dtype=bool)
        unknown = sorted(set(self.unit_layers) - set(self.subject.layers))
        if unknown:
            raise InvalidParameterError("unit_layers", f"layers of {self.subject.name} {self.subject.layers}", unknown)
        if self.mask.ndim != 2 or self.mask.shape[0] != len(self.unit_layers):
            raise InvalidParameterError("mask", f"a ({len(self.unit_layers)}, width) bool array", self.mask.shape)
        if not self.mask.any():
            raise InvalidParameterError("mask", "at least one selected unit", "an empty mask")

    @property
    def name(self) -> str:
        return f"{self.subject.name}[units={self.label}]"

    @cached_property
    def fingerprint(self) -> str:
        """The subject's fingerprint, extended by the mask, its layers and the combine mode."""
        digest = hashlib.sha256(self.subject.fingerprint.encode())
        digest.update(repr((self.unit_layers, self.combine, self.mask.shape)).encode())
        digest.update(np.packbits(self.mask).tobytes())
        return digest.hexdigest()[:16]

    @property
    def layers(self) -> list[int]:
        return [COMBINED_LAYER] if self.combine else list(self.unit_layers)

    @property
    def n_units(self) -> int:
        return int(self.mask.sum())

    @property
    def variant(self) -> dict[str, str]:
        return self.subject.variant

    def representations(self, passages: Passages, *, layers: Sequence[int] | None = None, **options) -> Representations:
        """Per-word (len(layers), words, width) float32: width = n_units when combined, else the subject's.

        options as for the subject's own ``representations`` (at, pooling, readout, cache, ...).
        """
        wanted = self.layers if layers is None else [int(x) for x in layers]
        unknown = sorted(set(wanted) - set(self.layers))
        if unknown:
            raise InvalidParameterError("layers", f"layers of this view {self.layers}", unknown)
        # every layer is read (and the unit layers picked), so the views and the subject share one cached readout
        values, read = self.subject.representations(passages, **options)
        values = values[[list(read).index(layer) for layer in self.unit_layers]]
        if values.shape[-1] != self.mask.shape[1]:
            raise InvalidParameterError(
                "mask", f"{values.shape[-1]} units per layer (the width of {self.subject.name})", self.mask.shape[1]
            )
        if self.combine:
            layer_pos, unit = np.nonzero(self.mask)
            return Representations(np.asarray(values[layer_pos, :, unit], dtype=np.float32).T[None], wanted)
        rows = [self.unit_layers.index(layer) for layer in wanted]
        return Representations(np.asarray(values[rows], dtype=np.float32) * self.mask[rows][:, None, :], wanted)

    def surprisal(self, passages: Passages, **options) -> np.ndarray:
        """Per-word surprisal (bits) of the unmasked subject: a readout mask does not change its predictions."""
        return self.subject.surprisal(passages, **options)

    def describe(self) -> dict:
        counts = dict(zip(self.unit_layers, self.mask.sum(axis=1).tolist(), strict=True))
        return {
            **self.subject.describe(),
            "name": self.name,
            "fingerprint": self.fingerprint,
            "view": {
                "units": self.label,
                "n_units": self.n_units,
                "combine": self.combine,
                "units_per_layer": {k: v for k, v in counts.items() if v},
            },
        }


def units_view(
    model: Subject,
    units: str,
    *,
    top: float = 0.01,
    scope: str = "model",
    combine: bool = True,
    cache: bool = True,
    progress: bool = True,
) -> UnitView:
    """The view `tuneshift score --units UNITS` scores.

    units: "language" (localize `model` now, cached: its top `top` units; `model` must then be a loaded model),
    "random:SEED" (as many random units as that network, drawn with SEED), or a directory written by ``tuneshift
    localize`` (its mask, which must belong to a model of the same architecture; `model` may be any subject with
    layers), optionally followed by ":random:SEED".
    """
    from tuneshift.localize.localizer import Localization, localize

    source, _, draw = units.partition(":random:")
    if units.startswith("random:"):
        source, draw = "language", units.removeprefix("random:")
    if source == "language":
        network = localize(model, top=top, scope=scope, cache=cache, progress=progress)
    else:
        network = Localization.load(source)
    if draw:
        try:
            seed = int(draw)
        except ValueError:
            raise InvalidParameterError("units", '"language", "random:SEED" or DIR[:random:SEED]', units) from None
        return UnitView(model, network.layers, random_mask(network.mask, seed), label=f"random:{seed}", combine=combine)
    return UnitView(model, network.layers, network.mask, label="language", combine=combine)
