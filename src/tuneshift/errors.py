"""Exceptions raised by tuneshift. Every message names the parameter or file, what was expected, what was
given, and how to fix it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class TuneshiftError(Exception):
    """Base class of every tuneshift error."""


class UnknownNameError(TuneshiftError, ValueError):
    """A name that is not in a registry (model family, dataset, metric, benchmark, method...)."""

    def __init__(self, kind: str, name: str, available: Iterable[str]):
        available = sorted(available)
        near = difflib.get_close_matches(name, available, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(n) for n in near)}?" if near else ""
        super().__init__(f"Unknown {kind} {name!r}.{hint} Available: {', '.join(available) or '(none)'}.")
        self.kind, self.name, self.available = kind, name, available


class InvalidParameterError(TuneshiftError, ValueError, TypeError):
    """A parameter with a value outside its allowed set or of the wrong type."""

    def __init__(self, parameter: str, expected: str, got: object, fix: str = ""):
        message = f"Invalid value for {parameter!r}: expected {expected}, got {got!r}."
        super().__init__(f"{message} {fix}".strip())
        self.parameter = parameter


class InvalidInputError(TuneshiftError, ValueError):
    """Input data (a stimulus file, a reading-time table, a data file) that does not have the expected format."""


class DataNotFoundError(TuneshiftError, FileNotFoundError):
    """A data file that is not on this machine and could not be downloaded."""


class ModelNotFoundError(TuneshiftError, OSError):
    """A model that is neither a local path, a cached download, nor reachable on the hub."""


class NotFittedError(TuneshiftError, ValueError, AttributeError):
    """An estimator used before `fit`."""


class ModelFileError(TuneshiftError, ValueError):
    """A model file (GGUF, safetensors, config.json, tokenizer) that is damaged, truncated, hostile or missing."""


class UnsupportedModelError(TuneshiftError, ValueError):
    """A model whose architecture tuneshift cannot load: unknown to transformers or to tuneshift's families."""


class RemoteCodeError(UnsupportedModelError):
    """A model that needs its repository's own Python code: tuneshift never runs it."""


class ModelMemoryError(TuneshiftError, MemoryError):
    """A model that does not fit in the memory left on this machine (message: the bytes needed and the fix)."""
