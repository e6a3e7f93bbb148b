"""A model seen through a unit mask: the Subject that benchmarks score when asked for the language network only,
and the random masks of the same size that are its control.

:class:`UnitView` is a :class:`tuneshift.models.subject.Subject` that filters the wrapped model's representations;
the model itself is untouched (masking what is read is not ablation: see ``ablate``). Every neural benchmark
scores it as it scores a model (``tuneshift score --units language``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from tuneshift.errors import InvalidParameterError
from tuneshift.models.load import LoadedModel
from tuneshift.models.subject import Passages, Representations, model_representations

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
    """`model` seen through `mask` ((len(unit_layers), hidden) bool over block outputs `unit_layers`).

    combine=True: one representation, the selected units of every layer concatenated (layer label
    ``COMBINED_LAYER`` = −1), as AlKhamissi et al. score the network; combine=False: every layer of
    `unit_layers` with its unselected units set to 0 (for regression, the same as dropping them).
    """

    model: LoadedModel
    unit_layers: Sequence[int]
    mask: np.ndarray
    label: str = "language"
    combine: bool = True

    def __post_init__(self) -> None:
        self.unit_layers = [int(x) for x in self.unit_layers]
        self.mask = np.asarray(self.mask, dtype=bool)
        if self.mask.shape != (len(self.unit_layers), self.model.hidden_size):
            raise InvalidParameterError(
                "mask", f"a ({len(self.unit_layers)}, {self.model.hidden_size}) bool array", self.mask.shape
            )
        if not self.mask.any():
            raise InvalidParameterError("mask", "at least one selected unit", "an empty mask")

    @property
    def name(self) -> str:
        return f"{self.model.name}[units={self.label}]"

    @cached_property
    def fingerprint(self) -> str:
        """The model's fingerprint, extended by the mask, its layers and the combine mode."""
        digest = hashlib.sha256(self.model.fingerprint.encode())
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
        return self.model.variant

    def representations(self, passages: Passages, *, layers: Sequence[int] | None = None, **options) -> Representations:
        """Per-word (len(layers), words, width) float32: width = n_units when combined, else hidden.

        options as for :func:`tuneshift.models.subject.model_representations` (at, pooling, readout, cache, ...).
        """
        wanted = self.layers if layers is None else [int(x) for x in layers]
        unknown = sorted(set(wanted) - set(self.layers))
        if unknown:
            raise InvalidParameterError("layers", f"layers of this view {self.layers}", unknown)
        values, _ = model_representations(self.model, passages, self.unit_layers, **options)
        if self.combine:
            layer_pos, unit = np.nonzero(self.mask)
            return Representations(np.asarray(values[layer_pos, :, unit], dtype=np.float32).T[None], wanted)
        rows = [self.unit_layers.index(layer) for layer in wanted]
        return Representations(np.asarray(values[rows], dtype=np.float32) * self.mask[rows][:, None, :], wanted)

    def surprisal(self, passages: Passages, **options) -> np.ndarray:
        """Per-word surprisal (bits) of the unmasked model: a readout mask does not change its predictions."""
        return self.model.surprisal(passages, **options)

    def describe(self) -> dict:
        counts = dict(zip(self.unit_layers, self.mask.sum(axis=1).tolist(), strict=True))
        return {
            **self.model.describe(),
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
    model: LoadedModel,
    units: str,
    *,
    top: float = 0.01,
    scope: str = "model",
    combine: bool = True,
    cache: bool = True,
    progress: bool = True,
) -> UnitView:
    """The view `tuneshift score --units UNITS` scores.

    units: "language" (localize `model` now, cached: its top `top` units), "random:SEED" (as many random units as
    that network, drawn with SEED), or a directory written by ``tuneshift localize`` (its mask, which must belong
    to a model of the same architecture), optionally followed by ":random:SEED".
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
