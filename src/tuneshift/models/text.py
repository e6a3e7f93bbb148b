"""From passages of words to text, tokens, and the token → word alignment.

Text is built as Brain-Score does: words joined by single spaces, with no space before ``. , ! ? ; :``. Words are
aligned to tokens through the tokenizer's character offsets, so any tokenizer works (byte-level BPE with or
without the space in the offset, SentencePiece's ``▁``, tokens spanning two words, unicode).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tuneshift.errors import InvalidInputError

NO_SPACE_BEFORE = re.compile(r"^[.,!?;:]")


@dataclass
class TokenizedPassage:
    """One passage: its text, its words' character spans, and its tokens aligned to words.

    token_ids: (n_tokens,) all tokens the tokenizer produced, special ones included.
    token_word: (n_tokens,) index of the word each token ends in (a token in the space before a word belongs to
        that word); -1 for special tokens (empty offsets: BOS, EOS...).
    word_last_token: (n_words,) index of the last token ending at or before the end of each word: the position
        whose hidden state has read the word. -1 when no token precedes it.
    word_n_tokens: (n_words,) number of tokens assigned to each word (0 for a word that vanished in tokenization
        or whose characters all sit in a token ending in a later word).
    """

    text: str
    word_spans: np.ndarray
    token_ids: np.ndarray
    token_word: np.ndarray
    word_last_token: np.ndarray
    word_n_tokens: np.ndarray

    @property
    def n_words(self) -> int:
        return len(self.word_spans)


def join_words(words: Sequence[str]) -> tuple[str, np.ndarray]:
    """Brain-Score's text for `words` and each word's (start, end) character span in it."""
    spans = np.empty((len(words), 2), dtype=np.int64)
    parts: list[str] = []
    position = 0
    for i, word in enumerate(words):
        if i and not NO_SPACE_BEFORE.match(word):
            parts.append(" ")
            position += 1
        spans[i] = position, position + len(word)
        parts.append(word)
        position += len(word)
    return "".join(parts), spans


def validate_passages(passages: Sequence[Sequence[str]], source: str = "passages") -> list[list[str]]:
    """Check that `passages` is a non-empty list of non-empty lists of non-blank words; name the first offence."""
    if isinstance(passages, str) or not len(passages):
        raise InvalidInputError(f"{source}: expected a non-empty list of passages (each a list of words).")
    checked = []
    for p, words in enumerate(passages):
        if isinstance(words, str):
            raise InvalidInputError(f"{source}: passage {p} is a string; expected a list of words.")
        if not len(words):
            raise InvalidInputError(f"{source}: passage {p} is empty; every passage needs at least one word.")
        for w, word in enumerate(words):
            if not isinstance(word, str) or not word.strip():
                raise InvalidInputError(
                    f"{source}: passage {p}, word {w} is {word!r}; every word must be a non-blank string."
                )
        checked.append([str(word) for word in words])
    return checked


def tokenize_passages(tokenizer, passages: Sequence[Sequence[str]]) -> list[TokenizedPassage]:
    """Tokenize every passage (special tokens included, no truncation) and align tokens to words."""
    texts, spans = zip(*(join_words(words) for words in passages), strict=True)
    encoding = tokenizer(
        list(texts), add_special_tokens=True, return_offsets_mapping=True, truncation=False, verbose=False
    )
    return [
        align(text, span, np.asarray(ids, dtype=np.int64), np.asarray(offsets, dtype=np.int64).reshape(-1, 2))
        for text, span, ids, offsets in zip(
            texts, spans, encoding["input_ids"], encoding["offset_mapping"], strict=True
        )
    ]


def align(text: str, word_spans: np.ndarray, token_ids: np.ndarray, offsets: np.ndarray) -> TokenizedPassage:
    """Assign each token to the word in which its last character lies (vectorized with searchsorted)."""
    n_words = len(word_spans)
    special = offsets[:, 1] <= offsets[:, 0]
    last_char = offsets[:, 1] - 1
    token_word = np.searchsorted(word_spans[:, 1], last_char, side="right")
    token_word = np.where(special | (token_word >= n_words), -1, token_word)
    # A token ending in a gap after the last word (trailing whitespace) is not part of any word.
    positions = np.arange(len(token_ids))
    content = token_word >= 0
    word_n_tokens = np.bincount(token_word[content], minlength=n_words)
    # Last token that ends at or before each word's end: tokens of words <= w, in order.
    ordered_words = token_word[content]
    last_index = np.searchsorted(ordered_words, np.arange(n_words), side="right") - 1
    word_last_token = np.where(last_index >= 0, positions[content][np.maximum(last_index, 0)], -1)
    return TokenizedPassage(text, word_spans, token_ids, token_word, word_last_token, word_n_tokens)
