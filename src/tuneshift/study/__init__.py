"""Studies over many models: the model zoo, base-vs-tuned comparisons, the statistics of Aw et al. 2023, figures.

The CKA and RDM variants of the neural benchmarks that comparisons use live with the other benchmarks
(:mod:`tuneshift.benchmarks.similarity`). Names are imported on first use (PEP 562), so that the CLI's help and the
commented example (:mod:`tuneshift.study.example`) cost no pandas import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tuneshift.study.zoo import REPORTED_KEYS, Zoo, ZooEntry, load_zoo

__all__ = ["REPORTED_KEYS", "Zoo", "ZooEntry", "load_zoo"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from tuneshift.study import zoo

    return getattr(zoo, name)
