"""Model loading, per-family module maps, and the one-pass word-aligned readout.

Names are imported on first use (PEP 562), so that the light parts — the catalog, the :mod:`subject` contract —
cost no torch or transformers import (``tuneshift --help`` and the benchmark registry stay fast).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tuneshift.models.catalog import CATALOG, DEFAULT_MODEL, fetch
    from tuneshift.models.families import FAMILIES, ModuleMap, blocks_of, family_of
    from tuneshift.models.load import LoadedModel, load_model

_HOMES = {
    "CATALOG": "catalog",
    "DEFAULT_MODEL": "catalog",
    "fetch": "catalog",
    "FAMILIES": "families",
    "ModuleMap": "families",
    "blocks_of": "families",
    "family_of": "families",
    "LoadedModel": "load",
    "load_model": "load",
}

__all__ = [
    "CATALOG",
    "DEFAULT_MODEL",
    "FAMILIES",
    "LoadedModel",
    "ModuleMap",
    "blocks_of",
    "family_of",
    "fetch",
    "load_model",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
