"""Layer numbers of the global explanations: as everywhere in tuneshift, layer i is block i (1..n; 0, the
embeddings, has no heads or FFN), and the paper's layer groups."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tuneshift.errors import InvalidParameterError


def check_layers(layers: Sequence[int] | None, n_blocks: int) -> list[int]:
    """`layers` (default all, 1..n_blocks) after checking each is a block's layer number."""
    layers = list(range(1, n_blocks + 1)) if layers is None else [int(layer) for layer in layers]
    bad = [layer for layer in layers if not 1 <= layer <= n_blocks]
    if bad:
        raise InvalidParameterError("layers", f"layers 1..{n_blocks} (layer i = block i; 0 is the embeddings)", bad)
    return layers


def layer_groups(layers: pd.Series | np.ndarray, n_layers: int, n_groups: int) -> np.ndarray:
    """Equal-depth layer groups: group = (layer − 1) · n_groups // n_layers (32 layers, 4 groups → 8 layers each,
    as the paper)."""
    n_groups = max(1, min(n_groups, n_layers))
    return (np.asarray(layers) - 1) * n_groups // n_layers
