"""Typed benchmark options: one frozen dataclass per benchmark, extending the readout options every subject takes
(:class:`tuneshift.models.subject.ReadoutOptions`), set from Python (a dict or an instance) or from the command
line (``--option KEY=VALUE``, ``--option BENCHMARK:KEY=VALUE``), validated with an error that lists what is accepted.

Options whose values change the numbers are part of a result's key (:func:`keyed`); a field's ``choices`` metadata
restricts its values.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any

from tuneshift.errors import InvalidParameterError
from tuneshift.models.subject import UNKEYED, ReadoutOptions

_BOOLEAN = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def accepted(cls: type[ReadoutOptions]) -> dict[str, str]:
    """Option name → its values in words (``story|stream`` or the type name), with the default first."""
    hints = typing.get_type_hints(cls)
    words = {}
    for item in dataclasses.fields(cls):
        values = item.metadata.get("choices")
        kind = "|".join(values) if values else getattr(hints[item.name], "__name__", str(hints[item.name]))
        words[item.name] = f"{kind} (default {item.default})"
    return words


def build(cls: type[ReadoutOptions], values: Mapping[str, Any] | ReadoutOptions | None, *, benchmark: str):
    """`cls` from `values` (strings are converted to each field's type); unknown names and values raise
    InvalidParameterError naming the benchmark and what it accepts."""
    if isinstance(values, cls):
        values = dataclasses.asdict(values)
    values = dict(values or {})
    unknown = sorted(set(values) - {item.name for item in dataclasses.fields(cls)})
    if unknown:
        raise InvalidParameterError(f"option of {benchmark}", f"one of {_listing(cls)}", ", ".join(unknown))
    hints = typing.get_type_hints(cls)
    return cls(**{name: _convert(value, hints[name], f"{benchmark} option {name}") for name, value in values.items()})


def keyed(options: ReadoutOptions) -> dict[str, Any]:
    """The options that change numbers (all but speed settings such as batch_size): part of a result's key."""
    return {k: v for k, v in dataclasses.asdict(options).items() if k not in UNKEYED}


def changed(options: ReadoutOptions) -> dict[str, Any]:
    """Keyed options that differ from their defaults (what a result's label mentions)."""
    defaults = {item.name: item.default for item in dataclasses.fields(options)}
    return {k: v for k, v in keyed(options).items() if v != defaults[k]}


def _listing(cls: type[ReadoutOptions]) -> list[str]:
    return [f"{name}={words}" for name, words in accepted(cls).items()]


def _convert(value: Any, kind: type, what: str) -> Any:
    try:
        if kind is bool and isinstance(value, str):
            value = _BOOLEAN[value.lower()]
        elif kind in (int, float) and isinstance(value, str):
            value = kind(value)
        elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise TypeError
    except (KeyError, TypeError, ValueError):
        raise InvalidParameterError(what, f"a {kind.__name__}", value) from None
    return value
