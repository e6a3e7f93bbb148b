"""One registry type for every extension point: model families, datasets, metrics, benchmarks, methods."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from tuneshift.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name → object mapping with explicit registration and helpful misses.

    >>> METRICS = Registry("metric")
    >>> @METRICS.register("pearsonr")
    ... def pearsonr(x, y): ...
    >>> METRICS.get("pearsonr") is pearsonr
    True
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, *names: str) -> Callable[[T], T]:
        """Decorator registering the object under one or more names; a name already taken is refused."""

        def decorate(obj: T) -> T:
            for name in names:
                self.add(name, obj)
            return obj

        return decorate

    def add(self, name: str, obj: T) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = obj

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self._entries) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
