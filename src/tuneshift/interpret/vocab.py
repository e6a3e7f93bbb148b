"""Word vocabularies and word vectors for the global explanations of Wu et al. (2023).

The paper explains attention heads and FFN components with whole words, not tokens: a word's vector is the mean of
its sub-token rows in the model's input (heads) or output (FFN) embedding matrix, the word tokenized with a leading
space and a lone space token (``Ġ`` / ``▁``) dropped (``Generator._get_embeds``). The default vocabulary is the
paper's ``SingleShareGPT_Vocab.tsv`` (bundled, GPL-3.0, see ``bundled/SOURCE.md``): one ``word<TAB>relative
frequency`` per line, most frequent first. Static word vectors for the co-occurrence filter come from a GloVe or
word2vec text file; without one, the model's own input-embedding word vectors stand in (documented fallback).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import torch

from tuneshift.errors import DataNotFoundError, InvalidInputError
from tuneshift.models.load import LoadedModel

#: Space markers that byte-level (GPT-2) and sentencepiece (LLaMA, T5) tokenizers emit as a token of their own.
SPACE_TOKENS = ("Ġ", "▁")


def default_vocabulary_path() -> Path:
    """The bundled SingleShareGPT_Vocab.tsv (26,498 words) used by the paper."""
    return Path(str(resources.files("tuneshift.interpret") / "bundled" / "SingleShareGPT_Vocab.tsv"))


def load_vocabulary(path: str | Path | None = None, *, min_freq: float = 0.0) -> list[str]:
    """Words of a ``word<TAB>frequency`` file in file order (most frequent first), as the paper's ``load_wiki_words``.

    Case variants are merged into the first spelling seen (lower, upper, or capitalized form of a later word);
    their frequencies add up, and words whose merged frequency is below ``min_freq`` are dropped. Blank lines are
    skipped; any other line that is not exactly ``word<TAB>number`` is an error naming the line.
    """
    path = Path(path) if path is not None else default_vocabulary_path()
    if not path.is_file():
        raise DataNotFoundError(f"vocabulary file {path} does not exist; pass a word<TAB>frequency file (no header)")
    freqs: dict[str, float] = {}
    with path.open(encoding="utf8") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            try:
                word, freq = fields[0].strip(), float(fields[1])
            except (IndexError, ValueError):
                raise InvalidInputError(
                    f"{path}, line {line_no}: expected 'word<TAB>relative frequency' (no header), got {line[:80]!r}"
                ) from None
            if not word or len(fields) != 2:
                raise InvalidInputError(f"{path}, line {line_no}: expected exactly two tab-separated fields")
            for variant in (word.lower(), word.upper(), word.capitalize()):
                if variant in freqs:
                    word = variant
                    break
            freqs[word] = freqs.get(word, 0.0) + freq
    words = [word for word, freq in freqs.items() if freq >= min_freq]
    if not words:
        raise InvalidInputError(f"{path}: no words with frequency >= {min_freq}")
    return words


def word_token_ids(tokenizer, words: list[str]) -> list[list[int]]:
    """Sub-token ids of each word tokenized as `` word`` (mid-sentence form), a lone leading space token dropped."""
    ids = []
    for word in words:
        tokens = tokenizer.tokenize(" " + word)
        if len(tokens) > 1 and tokens[0] in SPACE_TOKENS:
            tokens = tokens[1:]
        ids.append(tokenizer.convert_tokens_to_ids(tokens))
    return ids


def word_vectors(embedding: torch.Tensor, token_ids: list[list[int]]) -> torch.Tensor:
    """Mean of each word's sub-token rows of ``embedding`` (vocab_size × d) → (n_words × d), float32."""
    flat = torch.tensor([i for ids in token_ids for i in ids], dtype=torch.long)
    lengths = torch.tensor([len(ids) for ids in token_ids], dtype=torch.long)
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)[:-1]])
    weight = embedding.detach().float().cpu()
    return torch.nn.functional.embedding_bag(flat, weight, offsets, mode="mean")


def model_word_vectors(model: LoadedModel, words: list[str], side: str = "input") -> torch.Tensor:
    """Word vectors from the model's ``input`` or ``output`` embedding matrix (n_words × d)."""
    hf = model.hf_model
    module = hf.get_input_embeddings() if side == "input" else hf.get_output_embeddings()
    return word_vectors(module.weight, word_token_ids(model.tokenizer, words))


def load_static_vectors(path: str | Path, words: list[str]) -> tuple[torch.Tensor, np.ndarray]:
    """Rows of a GloVe / word2vec text file for ``words`` → (n_words × d vectors, found mask).

    Format: ``word v1 v2 ... vd`` per line; word2vec's ``count dim`` header line is recognised and skipped. Lookup
    is exact, then lower-case (GloVe 6B is lower-cased). Words not in the file get a zero vector, i.e. cosine 0 with
    everything, so they never pass the co-occurrence threshold (the paper's GloVe encoder behaves the same way).
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"word-vector file {path} does not exist; pass a GloVe/word2vec text file")
    wanted: dict[str, list[int]] = {}
    for index, word in enumerate(words):
        wanted.setdefault(word, []).append(index)
        if word.lower() != word:
            wanted.setdefault(word.lower(), [])
    rows: dict[str, np.ndarray] = {}
    dim = None
    with path.open(encoding="utf8", errors="replace") as handle:
        for line_no, line in enumerate(handle, 1):
            parts = line.rstrip().split(" ")
            if line_no == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec header: "<count> <dim>"
            if len(parts) < 2:
                continue
            if dim is None:
                dim = len(parts) - 1
            if len(parts) - 1 != dim:
                raise InvalidInputError(
                    f"{path}, line {line_no}: {len(parts) - 1} numbers after the word, expected {dim} "
                    "(GloVe/word2vec text format: 'word v1 ... vd', space-separated)"
                )
            if parts[0] in wanted and parts[0] not in rows:
                rows[parts[0]] = np.asarray(parts[1:], dtype=np.float32)
    if dim is None:
        raise InvalidInputError(f"{path}: no vectors found (expected GloVe/word2vec text format)")
    vectors = np.zeros((len(words), dim), dtype=np.float32)
    found = np.zeros(len(words), dtype=bool)
    for index, word in enumerate(words):
        row = rows.get(word, rows.get(word.lower()))
        if row is not None:
            vectors[index], found[index] = row, True
    return torch.from_numpy(vectors), found
