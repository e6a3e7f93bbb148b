"""What a benchmark scores: the :class:`Subject` contract (Brain-Score's ``ArtificialSubject``, without its
per-word re-runs) and the readout options every subject takes.

A subject has a ``name``, a ``fingerprint`` (what its numbers depend on: weights, config, tokenizer, unit mask),
a ``variant`` (settings outside the weights that still change numbers, e.g. the compute dtype), the ``layers`` it
can represent words at, and answers two questions about a list of passages (each a list of the data's own words):
``representations`` — one vector per word and layer — and ``surprisal`` — −log2 p(word | preceding words), bits.
Benchmarks ask a subject only for what they need. Implementations: :class:`tuneshift.models.load.LoadedModel`
(its readout: :func:`tuneshift.models.readout.model_representations`), :class:`TokenLogprobs` (log-probabilities
computed elsewhere, surprisal only) and :class:`tuneshift.localize.view.UnitView` (any subject seen through a unit
mask). This module is the contract only: it imports no model code, so benchmarks depend on it and on nothing heavy.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from tuneshift.errors import InvalidParameterError

Passages = Sequence[Sequence[str]]
#: How a word's tokens make its vector: "last" — its last token's state (Brain-Score); "mean" — their mean.
POOLINGS = ("last", "mean")


class Representations(NamedTuple):
    """values: (len(layers), n_words, width), float32 (memory-mapped in the store dtype when all words of a
    cached readout are asked for); layers: their labels (0 = embeddings, i = block i, −1 = a unit view's units)."""

    values: np.ndarray
    layers: list[int]


def choice(default: str, choices: Sequence[str]) -> Any:
    """An option field restricted to `choices` (checked when the options are built)."""
    return field(default=default, metadata={"choices": tuple(choices)})


@dataclass(frozen=True)
class ReadoutOptions:
    """How a subject reads words (see :func:`tuneshift.models.readout.read_out`); benchmarks' options extend it.

    max_context / min_context: window length and guaranteed left context in tokens (0: the model's own length and
    half of it). batch_size changes speed, not numbers, and is left out of result keys (:data:`UNKEYED`).
    """

    batch_size: int = 8
    store_dtype: str = choice("float32", ("float32", "float16"))
    max_context: int = 0
    min_context: int = 0

    def __post_init__(self) -> None:
        for item in fields(self):
            allowed = item.metadata.get("choices")
            if allowed and getattr(self, item.name) not in allowed:
                raise InvalidParameterError(f"option {item.name}", f"one of {list(allowed)}", getattr(self, item.name))

    def readout_kwargs(self) -> dict:
        """Keyword arguments of ``read_out`` (0 context lengths mean the model's defaults)."""
        return {
            "batch_size": self.batch_size,
            "store_dtype": self.store_dtype,
            "max_context": self.max_context or None,
            "min_context": self.min_context or None,
        }


UNKEYED = frozenset({"batch_size"})  # options that change speed or memory, never the numbers


@runtime_checkable
class Subject(Protocol):
    """Anything a benchmark can score (see the module docstring). A subject without ``layers`` has no
    representations (only surprisal); one whose surprisal was computed elsewhere says ``precomputed = True``
    (optional attribute, read through :func:`is_precomputed`)."""

    name: str

    @property
    def fingerprint(self) -> str: ...

    @property
    def variant(self) -> dict[str, str]: ...

    @property
    def layers(self) -> list[int]: ...

    def representations(
        self,
        passages: Passages,
        *,
        layers: Sequence[int] | None = None,
        at: tuple[np.ndarray, np.ndarray] | None = None,
        pooling: str = "last",
        readout: ReadoutOptions | None = None,
        cache: bool = True,
        progress: bool = True,
    ) -> Representations: ...

    def surprisal(
        self, passages: Passages, *, readout: ReadoutOptions | None = None, cache: bool = True, progress: bool = True
    ) -> np.ndarray: ...

    def describe(self) -> dict: ...


def is_precomputed(subject: Subject) -> bool:
    """Whether `subject`'s surprisal was computed elsewhere, with a context of its own (a :class:`TokenLogprobs`):
    a benchmark can then neither choose nor change how passages are read. The one reader of the contract's optional
    ``precomputed`` attribute (absent: False)."""
    return bool(getattr(subject, "precomputed", False))


@dataclass(frozen=True)
class TokenLogprobs:
    """Token log-probabilities computed elsewhere (an API model), scored in place of a model's own surprisal
    (``tuneshift score --surprisal FILE``): a subject with surprisal and no representations.

    tokens: the format of :func:`tuneshift.data.naturalstories.load_token_logprobs`: token, logprob (nats),
    offset (character offset in the passage's words joined by single spaces), story (passage number from 1).
    Context is whatever produced the log-probabilities (``precomputed``): a benchmark cannot change it.
    """

    name: str
    tokens: pd.DataFrame
    label: str = "token table"
    precomputed = True

    @classmethod
    def from_file(cls, path: str | os.PathLike, name: str | None = None) -> TokenLogprobs:
        from tuneshift.data.naturalstories import load_token_logprobs

        return cls(name or Path(path).stem, load_token_logprobs(path), str(path))

    @property
    def fingerprint(self) -> str:
        """Hash of the token table's content (token, logprob, offset, story)."""
        columns = self.tokens[["story", "offset", "token", "logprob"]]
        return hashlib.sha256(pd.util.hash_pandas_object(columns, index=False).to_numpy().tobytes()).hexdigest()[:16]

    @property
    def variant(self) -> dict[str, str]:
        return {}

    @property
    def layers(self) -> list[int]:
        return []

    def representations(self, passages: Passages, **_: object) -> Representations:
        raise InvalidParameterError(
            "subject", "a model (token log-probabilities have no representations)", self.name,
            "Score reading-time benchmarks only with --surprisal.",
        )  # fmt: skip

    def surprisal(self, passages: Passages, **_: object) -> np.ndarray:
        """(n_words,) bits per word: a word's tokens summed (:func:`surprisal_from_token_logprobs`)."""
        from tuneshift.data.naturalstories import surprisal_from_token_logprobs

        words = pd.DataFrame(
            {
                "story": np.repeat(np.arange(1, len(passages) + 1), [len(p) for p in passages]),
                "word": [word for passage in passages for word in passage],
            }
        )
        return surprisal_from_token_logprobs(self.tokens, words, label=self.label)

    def describe(self) -> dict:
        return {"name": self.name, "source": self.label, "kind": "token log-probabilities"}
