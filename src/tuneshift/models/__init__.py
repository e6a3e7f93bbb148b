"""Model loading, per-family module maps, and the one-pass word-aligned readout."""

from tuneshift.models.catalog import CATALOG, DEFAULT_MODEL, fetch
from tuneshift.models.families import FAMILIES, ModuleMap, blocks_of, family_of
from tuneshift.models.load import LoadedModel, load_model

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
