"""Self-attention heads as word-word pairs (Wu et al. 2023, §4.2; ``Generator.att_explain``).

For head h of layer l, a word w with input-embedding vector e_w (mean of its sub-token rows) activates query dimension
j by (e_w ⊙ g) W_q[h][:, j] and key dimension j by (e_w ⊙ g) W_k[h][:, j], g being the attention-input norm's gain
(folded into the weights, as each family stores them: :mod:`tuneshift.models.weights`). Per head dimension, the 100
words with the largest |activation| on the query side and on the key side are paired; a pair (q, k) is kept when the
static-embedding cosine of q and k exceeds both words' co-occurrence thresholds (mean + 1.96 sd of that word's cosine
to the 3,000 most frequent vocabulary words) and the two activations have the same sign, so that the pair raises the
attention score. Dimensions are ranked by their activation energy Σ_w (q_wj² + k_wj²) — the paper's "Score".
Like the paper (LLaMA has neither), word activations leave out LayerNorm's shift and projection biases, and RoPE.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from tuneshift.errors import InvalidParameterError
from tuneshift.interpret.layers import check_layers
from tuneshift.interpret.vocab import load_static_vectors, load_vocabulary, model_word_vectors
from tuneshift.models.load import LoadedModel
from tuneshift.models.weights import head_activations, qk_weights


def cooccurrence_thresholds(
    unit_vectors: torch.Tensor, n_baseline: int = 3000, z: float = 1.96, chunk: int = 4096
) -> torch.Tensor:
    """Per word: mean + z·sd (population sd, numpy's default) of its cosine to the ``n_baseline`` most frequent words
    (the first rows of ``unit_vectors``, which are L2-normalised static word vectors, vocabulary order)."""
    baseline = unit_vectors[:n_baseline]
    out = []
    for start in range(0, unit_vectors.shape[0], chunk):
        cosine = unit_vectors[start : start + chunk] @ baseline.T
        out.append(cosine.mean(1) + z * cosine.std(1, correction=0))
    return torch.cat(out)


@torch.no_grad()
def _layer_pairs(
    hq: torch.Tensor, hk: torch.Tensor, unit: torch.Tensor, thresholds: torch.Tensor, top_k: int
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """One layer, all heads at once: (energy per head dim (H × D), kept pairs as rows of
    [head, dim, query word, key word] (P × 4), and their cosines (P,))."""
    energy = (hq**2).sum(1) + (hk**2).sum(1)  # (H, D): the paper's dimension score
    hq, hk = hq.transpose(1, 2), hk.transpose(1, 2)  # (H, D, V)
    top_k = min(top_k, hq.shape[-1])
    iq = hq.abs().topk(top_k, dim=-1).indices  # (H, D, K)
    ik = hk.abs().topk(top_k, dim=-1).indices
    vq, vk = hq.gather(-1, iq), hk.gather(-1, ik)
    cosine = unit[iq] @ unit[ik].transpose(-1, -2)  # (H, D, K, K)
    keep = (
        (cosine > thresholds[iq][..., None])
        & (cosine > thresholds[ik][..., None, :])
        & (vq[..., None] * vk[..., None, :] > 0)  # both activations of one sign: the pair adds to q·k
        & (iq[..., None] != ik[..., None, :])
        & (cosine > 0)
    )
    head, dim, a, b = keep.nonzero(as_tuple=True)
    rows = torch.stack([head, dim, iq[head, dim, a], ik[head, dim, b]], dim=1)
    return energy, rows, cosine[head, dim, a, b].numpy()


def explain_heads(
    model: LoadedModel,
    words: Sequence[str] | None = None,
    *,
    static_vectors: torch.Tensor | str | None = None,
    top_k: int = 100,
    n_baseline: int = 3000,
    z: float = 1.96,
    layers: Sequence[int] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Word pairs of every head dimension (the paper's ``att_explain``).

    layers: which to explain, numbered as everywhere in tuneshift (layer i = block i, 1..n; default all); the
    ``layer`` column of the results uses the same numbers.

    words: vocabulary, most frequent first (default: the bundled SingleShareGPT vocabulary). static_vectors: a
    GloVe/word2vec text file or an (n_words × d) tensor for the co-occurrence filter; default (documented fallback)
    the model's own input-embedding word vectors — the paper used GloVe 840B 300d.

    Returns ``(dims, pairs)``: ``dims`` has one row per (layer, head, dim) with ``rank`` (1 = most energetic
    dimension of the head), ``score`` (its energy), ``n_pairs`` and ``pairs`` (``"key=query|||..."`` by falling
    cosine, the paper's TopK); ``pairs`` is the long form: layer, head, dim, query, key, cosine.
    """
    if top_k < 1:
        raise InvalidParameterError("top_k", "a positive number of words per side", top_k)
    words = list(load_vocabulary() if words is None else words)
    vectors = model_word_vectors(model, words, side="input")
    if static_vectors is None:
        static = vectors
    elif isinstance(static_vectors, torch.Tensor):
        static = static_vectors.float()
    else:
        static = load_static_vectors(static_vectors, words)[0]
    if static.shape[0] != len(words):
        raise InvalidParameterError("static_vectors", f"{len(words)} rows, one per word", tuple(static.shape))
    unit = torch.nn.functional.normalize(static, dim=-1)
    thresholds = cooccurrence_thresholds(unit, n_baseline, z)
    weights = qk_weights(model, [layer - 1 for layer in check_layers(layers, model.n_layers)])
    vocab = np.asarray(words, dtype=object)
    dim_frames, pair_frames = [], []
    for position, block in enumerate(weights.layers):
        layer = block + 1  # tuneshift's layer numbering, as `score`: 0 = embeddings, i = output of block i
        hq, hk = head_activations(weights, position, vectors)
        energy, rows, cosine = _layer_pairs(hq, hk, unit, thresholds, top_k)
        n_heads, n_dims = energy.shape
        ranks = energy.argsort(dim=1, descending=True).argsort(dim=1) + 1
        pairs = pd.DataFrame(
            {
                "layer": layer,
                "head": rows[:, 0].numpy(),
                "dim": rows[:, 1].numpy(),
                "query": vocab[rows[:, 2].numpy()],
                "key": vocab[rows[:, 3].numpy()],
                "cosine": cosine,
            }
        ).sort_values(["head", "dim", "cosine"], ascending=[True, True, False], kind="stable")
        joined = (pairs["key"] + "=" + pairs["query"]).groupby([pairs["head"], pairs["dim"]]).agg("|||".join)
        dims = pd.DataFrame(
            {
                "layer": layer,
                "head": np.repeat(np.arange(n_heads), n_dims),
                "dim": np.tile(np.arange(n_dims), n_heads),
                "rank": ranks.flatten().numpy(),
                "score": energy.flatten().numpy(),
            }
        )
        index = pd.MultiIndex.from_arrays([dims["head"], dims["dim"]])
        dims["pairs"] = joined.reindex(index).fillna("").to_numpy()
        dims["n_pairs"] = pairs.groupby(["head", "dim"]).size().reindex(index).fillna(0).astype(int).to_numpy()
        dim_frames.append(dims.sort_values(["head", "rank"]))
        pair_frames.append(pairs)
    return pd.concat(dim_frames, ignore_index=True), pd.concat(pair_frames, ignore_index=True)


def to_paper_format(dims: pd.DataFrame, model: str, size: str = "") -> pd.DataFrame:
    """The repository's TSV layout ``Model Size Layer Type Head Dim Rank Score TopK`` (Type = "QK"); its Layer is
    the paper's 0-based block index (tuneshift's layer − 1)."""
    return pd.DataFrame(
        {
            "Model": model,
            "Size": size,
            "Layer": dims["layer"] - 1,
            "Type": "QK",
            "Head": dims["head"],
            "Dim": dims["dim"],
            "Rank": dims["rank"],
            "Score": dims["score"].round(4),
            "TopK": dims["pairs"],
        }
    )
