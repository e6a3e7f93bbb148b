"""Seeded synthetic encoding data with a known signal, shared by the tests, the Brain-Score parity script and
the benchmarks (so that all of them score the very same numbers)."""

from __future__ import annotations

import numpy as np


def synthetic_encoding_data(
    n_stimuli: int,
    n_features: int,
    n_neuroids: int,
    snr: float = 1.0,
    n_signal_features: int = 10,
    n_layers: int | None = None,
    group_size: int = 4,
    seed: int = 0,
    dtype: type = np.float64,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """features (stimuli × features, or layers × stimuli × features), targets (stimuli × neuroids), groups.

    targets = z · W + noise with z the first ``n_signal_features`` standard-normal latent dimensions, W scaled so
    that a neuroid's signal variance s = ‖w‖² is ``snr`` times the unit noise variance on average. Layer l holds
    z / (1 + l) plus unit noise in its first columns (the rest is noise), so deeper layers carry the same signal
    less clearly. From layer 0 the best linear prediction reaches r = sqrt(s / (2 (1 + s))) (features z + e:
    E[z | x] = x / 2), versus sqrt(s / (1 + s)) for an oracle that knows z.
    groups: consecutive blocks of ``group_size`` stimuli (passage labels).
    """
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n_stimuli, n_signal_features))
    weights = rng.standard_normal((n_signal_features, n_neuroids)) * np.sqrt(snr / n_signal_features)
    targets = latent @ weights + rng.standard_normal((n_stimuli, n_neuroids))
    groups = np.arange(n_stimuli) // group_size

    def layer(level: int) -> np.ndarray:
        noise = rng.standard_normal((n_stimuli, n_features)).astype(dtype)
        noise[:, :n_signal_features] += (latent / (1 + level)).astype(dtype)
        return noise

    features = layer(0) if n_layers is None else np.stack([layer(level) for level in range(n_layers)])
    return features, targets.astype(dtype), groups
