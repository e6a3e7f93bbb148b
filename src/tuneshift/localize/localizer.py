"""Localize a model's language network: the units that respond more to sentences than to non-word lists.

The localizer stimuli are read through the model with the one-pass readout (all layers at once, each stimulus its
own passage); a stimulus's response of a unit is the mean of that unit over the stimulus's tokens (default) or its
state at the last token (``pooling="last"``, AlKhamissi et al.'s choice). Every unit of blocks 1..n gets Welch's t
of sentences > non-words, a one-sided p and a BH-FDR q over all units; the top fraction is the network.

The statistics are cached per (model fingerprint, stimuli, pooling, layers) under
``<cache_root>/localize/<key>.npz``; the readout under them is in the activation cache as usual.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from tuneshift import config
from tuneshift._io import write_atomic, write_csv, write_json
from tuneshift.errors import InvalidInputError, InvalidParameterError
from tuneshift.localize.selectivity import fdr_bh, one_sided_p, select_top, welch_t
from tuneshift.localize.stimuli import LocalizerStimuli, load_localizer
from tuneshift.models.load import LoadedModel
from tuneshift.models.readout import read_out

POOLINGS = ("mean", "last")
LOCALIZE_VERSION = 1
STAT_FIELDS = ("t", "df", "p", "q", "mean_sentences", "mean_nonwords", "unit_mean")


@dataclass
class Localization:
    """Selectivity of every unit and the selected network.

    layers: (L,) layer indices (i = output of block i). Arrays below are (L, hidden), float64.
    t, df, p, q: Welch's t (sentences > non-words), its degrees of freedom, one-sided p, BH-FDR q over all units.
    mean_sentences, mean_nonwords: per-unit mean response to each condition; unit_mean: over all stimuli (the value
        mean-ablation writes).
    mask: (L, hidden) bool, the selected units; top, scope: how they were selected.
    """

    model: str
    fingerprint: str
    layers: np.ndarray
    t: np.ndarray
    df: np.ndarray
    p: np.ndarray
    q: np.ndarray
    mean_sentences: np.ndarray
    mean_nonwords: np.ndarray
    unit_mean: np.ndarray
    pooling: str = "mean"
    top: float = 0.01
    scope: str = "model"
    mask: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.mask is None:
            self.mask = select_top(self.t, self.top, self.scope)

    @property
    def n_units(self) -> int:
        return int(self.mask.sum())

    def select(self, top: float, scope: str = "model") -> Localization:
        """The same statistics with another selection."""
        return replace(self, top=top, scope=scope, mask=select_top(self.t, top, scope))

    def outlier_dimensions(self, factor: float = 40.0) -> np.ndarray:
        """Residual dimensions whose largest |mean response| over layers exceeds `factor` × the median dimension's:
        the "massive activations" of many LMs (SmolLM2-135M: 17, 199, 507), which break a model when ablated
        whether or not they are language-selective."""
        peak = np.abs(self.unit_mean).max(axis=0)
        return np.flatnonzero(peak > factor * np.median(peak))

    def per_layer(self) -> pd.DataFrame:
        """One row per layer: units selected, their share of the network, mean and max t, units with q < 0.05."""
        count = self.mask.sum(axis=1)
        return pd.DataFrame(
            {
                "layer": self.layers,
                "n_selected": count,
                "share": count / max(1, self.n_units),
                "mean_t": np.nanmean(self.t, axis=1),
                "max_t": np.where(np.isnan(self.t), -np.inf, self.t).max(axis=1),
                "n_q05": (self.q < 0.05).sum(axis=1),
                "selected_min_t": np.where(count > 0, np.where(self.mask, self.t, np.inf).min(axis=1), np.nan),
            }
        )

    def units(self) -> pd.DataFrame:
        """One row per selected unit (layer, unit, t, p, q), most selective first."""
        layer_pos, unit = np.nonzero(self.mask)
        frame = pd.DataFrame(
            {
                "layer": self.layers[layer_pos],
                "unit": unit,
                "t": self.t[layer_pos, unit],
                "p": self.p[layer_pos, unit],
                "q": self.q[layer_pos, unit],
            }
        )
        return frame.sort_values("t", ascending=False, kind="stable").reset_index(drop=True)

    def save(self, out_dir: str | Path) -> Path:
        """Write ``t_maps.npz`` (every statistic + mask), ``mask.npz`` (layers, mask), ``layers.csv``,
        ``units.csv``, ``localization.json`` and the depth figure ``depth.png`` into `out_dir`."""
        from tuneshift.localize.figures import depth_figure

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        arrays = {name: getattr(self, name) for name in STAT_FIELDS}
        _savez(out / "t_maps.npz", layers=self.layers, mask=self.mask, **arrays)
        _savez(out / "mask.npz", layers=self.layers, mask=self.mask)
        write_csv(out / "layers.csv", self.per_layer())
        write_csv(out / "units.csv", self.units())
        write_json(out / "localization.json", self.describe())
        figure = depth_figure(self)
        write_atomic(out / "depth.png", lambda p: figure.savefig(p, format="png", dpi=120, bbox_inches="tight"))
        return out

    def describe(self) -> dict:
        return {
            "model": self.model,
            "fingerprint": self.fingerprint,
            "pooling": self.pooling,
            "top": self.top,
            "scope": self.scope,
            "n_units_selected": self.n_units,
            "n_units_tested": int(self.t.size),
            # block outputs are one residual stream: the same dimension selected in many blocks counts once here
            "n_distinct_dimensions": int(self.mask.any(axis=0).sum()),
            "layers": self.layers.tolist(),
            "n_q05": int((self.q < 0.05).sum()),
            "selected_max_q": float(self.q[self.mask].max()) if self.n_units else None,
            "version": LOCALIZE_VERSION,
        }

    @classmethod
    def load(cls, path: str | Path) -> Localization:
        """Read a directory written by :meth:`save` (or its ``t_maps.npz``)."""
        path = Path(path)
        maps = path / "t_maps.npz" if path.is_dir() else path
        meta_path = maps.parent / "localization.json"
        if not maps.exists() or not meta_path.exists():
            raise InvalidInputError(
                f"{path}: no t_maps.npz with localization.json beside it; pass a directory written by "
                "`tuneshift localize --out DIR`."
            )
        meta = json.loads(meta_path.read_text())
        with np.load(maps) as data:
            arrays = {name: data[name] for name in (*STAT_FIELDS, "layers", "mask")}
        return cls(
            model=meta["model"],
            fingerprint=meta["fingerprint"],
            pooling=meta["pooling"],
            top=meta["top"],
            scope=meta["scope"],
            **arrays,
        )


def localize(
    model: LoadedModel,
    *,
    top: float = 0.01,
    scope: str = "model",
    pooling: str = "mean",
    layers: list[int] | None = None,
    stimuli: LocalizerStimuli | None = None,
    batch_size: int = 16,
    cache: bool = True,
    progress: bool = True,
) -> Localization:
    """The language network of `model`: Welch's t of every unit of `layers` (default blocks 1..n), top `top`.

    pooling: "mean" — a stimulus's response is the mean over its tokens; "last" — the state at its last token.
    scope: "model" (top fraction of all units) or "layer" (top fraction of each layer).
    """
    if pooling not in POOLINGS:
        raise InvalidParameterError("pooling", f"one of {POOLINGS}", pooling)
    stimuli = stimuli or load_localizer()
    layers = list(range(1, model.n_layers + 1)) if layers is None else sorted({int(x) for x in layers})
    if not layers or layers[0] < 1 or layers[-1] > model.n_layers:
        raise InvalidParameterError("layers", f"block outputs in 1..{model.n_layers}", layers)
    key = _key(model.fingerprint, stimuli, pooling, layers)
    path = config.cache_root() / "localize" / f"{key}.npz"
    if cache and path.exists():
        with np.load(path) as data:
            arrays = {name: data[name] for name in STAT_FIELDS}
    else:
        responses = stimulus_responses(
            model, stimuli, pooling, layers, batch_size=batch_size, cache=cache, progress=progress
        )
        arrays = unit_statistics(responses, stimuli.is_sentence)
        if cache:
            _savez(path, **arrays)
    return Localization(
        model=model.name,
        fingerprint=model.fingerprint,
        layers=np.asarray(layers),
        pooling=pooling,
        top=top,
        scope=scope,
        **arrays,
    )


def stimulus_responses(
    model: LoadedModel,
    stimuli: LocalizerStimuli,
    pooling: str,
    layers: list[int],
    *,
    batch_size: int = 16,
    cache: bool = True,
    progress: bool = True,
) -> np.ndarray:
    """(layers, stimuli, hidden) float64 responses: token mean or last-token state of each stimulus.

    The readout gives one vector per word: with "mean" pooling, the mean over the word's tokens, so the mean over
    a stimulus's tokens is the token-count-weighted mean of its words (a word with no token of its own weighs 0).
    """
    readout = read_out(
        model,
        stimuli.passages,
        layers=layers,
        pooling="mean" if pooling == "mean" else "last",
        batch_size=batch_size,
        cache=cache,
        progress=progress,
    )
    activations = np.asarray(readout.activations, dtype=np.float64)  # (layers, words, hidden)
    sizes = readout.words.groupby("passage", sort=True).size().to_numpy()
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    if pooling == "last":
        return activations[:, starts + sizes - 1, :]
    weights = readout.words["n_tokens"].to_numpy(dtype=np.float64)
    summed = np.add.reduceat(activations * weights[None, :, None], starts, axis=1)
    return summed / np.add.reduceat(weights, starts)[None, :, None]


def unit_statistics(responses: np.ndarray, is_sentence: np.ndarray) -> dict[str, np.ndarray]:
    """Every statistic of :class:`Localization` from (layers, stimuli, hidden) responses, all units at once."""
    is_sentence = np.asarray(is_sentence, dtype=bool)
    if responses.shape[1] != len(is_sentence):
        raise InvalidInputError(
            f"responses have {responses.shape[1]} stimuli but the condition labels {len(is_sentence)}."
        )
    sentences, nonwords = responses[:, is_sentence], responses[:, ~is_sentence]
    t, df = welch_t(sentences, nonwords, axis=1)
    p = one_sided_p(t, df)
    return {
        "t": t,
        "df": df,
        "p": p,
        "q": fdr_bh(p),
        "mean_sentences": sentences.mean(axis=1),
        "mean_nonwords": nonwords.mean(axis=1),
        "unit_mean": responses.mean(axis=1),
    }


def _key(fingerprint: str, stimuli: LocalizerStimuli, pooling: str, layers: list[int]) -> str:
    digest = hashlib.sha256()
    payload = [fingerprint, stimuli.passages, stimuli.is_sentence.tolist(), pooling, layers, LOCALIZE_VERSION]
    digest.update(json.dumps(payload, ensure_ascii=False).encode())
    return digest.hexdigest()[:32]


def _savez(path: Path, **arrays: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    write_atomic(path, write)
