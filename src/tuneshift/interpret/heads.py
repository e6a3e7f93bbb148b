"""Self-attention heads as word-word pairs (Wu et al. 2023, §4.2; ``Generator.att_explain``).

For head h of layer l, a word w with input-embedding vector e_w (mean of its sub-token rows) activates query dimension
j by (e_w ⊙ g) W_q[h][:, j] and key dimension j by (e_w ⊙ g) W_k[h][:, j], g being the attention-input norm's gain
(folded into the weights). Per head dimension, the 100 words with the largest |activation| on the query side and on
the key side are paired; a pair (q, k) is kept when the static-embedding cosine of q and k exceeds both words'
co-occurrence thresholds (mean + 1.96 sd of that word's cosine to the 3,000 most frequent vocabulary words) and the
two activations have the same sign, so that the pair raises the attention score. Dimensions are ranked by their
activation energy Σ_w (q_wj² + k_wj²) — the paper's "Score".

Family details (module paths from :mod:`tuneshift.models.families`):

- fused QKV: GPT-2's ``Conv1D`` ``c_attn`` (weight d × 3d, columns [q | k | v]); GPT-NeoX's ``query_key_value``
  (rows interleaved per head as [q_h | k_h | v_h]).
- grouped-query attention: key heads are repeated for the query heads that share them (``repeat_interleave``).
- norm gain: LayerNorm and RMSNorm ``weight``; Gemma's RMSNorm ``1 + weight``. LayerNorm's shift β and projection
  biases do not depend on the word; like the paper (LLaMA has neither) they are left out of word activations, and
  kept in :class:`QKWeights` (``q_bias``, ``k_bias``) so the exact projections can be rebuilt. OPT models with
  ``do_layer_norm_before=False`` (OPT-350m) normalise after attention: nothing is folded there.
- per-head query/key norms (Gemma 3, Qwen 3: ``self_attn.q_norm``/``k_norm``, an RMSNorm over each head's vector)
  are not linear, so they cannot be folded; they are applied to each word's projected head vector with the
  model's own module, which is exactly what the model does to a token whose normalised input is that word vector.
- RoPE rotates query/key pairs by position and is left out, as in the paper: the pairs describe the content part.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from scipy import stats

from tuneshift.errors import InvalidParameterError
from tuneshift.interpret.vocab import load_static_vectors, load_vocabulary, model_word_vectors
from tuneshift.models.families import ModuleMap, blocks_of, family_of, get_module

#: The paper's instruction verbs (``analysis_bilinear_interpret.py``: instruct1 ∪ instruct2).
INSTRUCTION_VERBS = (
    "act", "analyze", "clarify", "classify", "compose", "correct", "create", "demonstrate", "describe", "design",
    "detect", "develop", "edit", "estimate", "evaluate", "explain", "find", "follow", "format", "generate", "give",
    "have", "help", "identify", "interpret", "make", "output", "predict", "recommend", "repeat", "retrieve", "revise",
    "say", "solve", "summarize", "tell", "translate", "write",
)  # fmt: skip

#: Closed-class words excluded from the frequent verbs (the paper excludes NLTK's English stop words; this is the
#: part of that list that can be a verb form or is frequent enough to pass the -ing test by accident).
STOP_WORDS = frozenset(
    "a about above after again against all am an and any are as at be been before being below between both but by "
    "can could did do does doing down during each few for from further had has have having he her here hers him his "
    "how i if in into is it its just me might more most must my no nor not now of off on once only or other our out "
    "over own same she should so some such than that the their them then there these they this those through to too "
    "under until up very was we were what when where which while who whom why will with would you your thing".split()
)


@dataclass(frozen=True)
class QKWeights:
    """Query/key maps of every explained layer, the input-norm gain folded in, key heads repeated for GQA.

    q, k: (n_layers, n_heads, d_model, head_dim); x̂ @ q[i, h] + q_bias[i, h] is head h's query for a normalised
    attention input x̂ (before any per-head norm and RoPE). q_bias, k_bias: (n_layers, n_heads, head_dim).
    q_norm, k_norm: per layer, the model's per-head norm module (Gemma 3, Qwen 3) or None. layers: block indices.
    """

    q: torch.Tensor
    k: torch.Tensor
    q_bias: torch.Tensor
    k_bias: torch.Tensor
    q_norm: tuple[torch.nn.Module | None, ...]
    k_norm: tuple[torch.nn.Module | None, ...]
    layers: tuple[int, ...]

    @property
    def n_heads(self) -> int:
        return self.q.shape[1]


def _text_config(model):
    config = model.config
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def norm_gain_and_shift(block: torch.nn.Module, family: ModuleMap, config) -> tuple[torch.Tensor, torch.Tensor]:
    """Effective (gain, shift) of a block's attention-input norm: LayerNorm (weight, bias), RMSNorm (weight, 0),
    Gemma RMSNorm (1 + weight, 0); (1, 0) where the norm does not precede attention (OPT-350m)."""
    norm = get_module(block, family.attn_norm)
    weight = norm.weight.detach().float()
    if family.family == "opt" and not getattr(config, "do_layer_norm_before", True):
        return torch.ones_like(weight), torch.zeros_like(weight)
    gain = 1.0 + weight if family.norm_kind == "rms_plus_one" else weight
    bias = getattr(norm, "bias", None) if family.norm_kind == "layer" else None
    shift = bias.detach().float() if bias is not None else torch.zeros_like(weight)
    return gain, shift


def _projection(module: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """(d_in × d_out weight, d_out bias) of an nn.Linear or a GPT-2 Conv1D (whose weight is already d_in × d_out)."""
    weight = module.weight.detach().float()
    weight = weight if type(module).__name__ == "Conv1D" else weight.T
    bias = getattr(module, "bias", None)
    return weight, (bias.detach().float() if bias is not None else torch.zeros(weight.shape[1]))


def _raw_qk(block: torch.nn.Module, family: ModuleMap, n_heads: int) -> tuple[torch.Tensor, ...]:
    """Unfolded (W_q, b_q, W_k, b_k) of one block, weights d_in × (heads·head_dim) in the model's head order."""
    if family.qkv_layout == "separate":
        return (*_projection(get_module(block, family.q)), *_projection(get_module(block, family.k)))
    weight, bias = _projection(get_module(block, family.qkv))
    d_in, d_out = weight.shape
    if family.qkv_layout == "gpt2_conv1d":  # columns [q | k | v]
        third = d_out // 3
        return weight[:, :third], bias[:third], weight[:, third : 2 * third], bias[third : 2 * third]
    if family.qkv_layout == "neox_interleaved":  # per head [q_h | k_h | v_h]
        head_dim = d_out // (3 * n_heads)
        w = weight.reshape(d_in, n_heads, 3, head_dim)
        b = bias.reshape(n_heads, 3, head_dim)
        return (
            w[:, :, 0].reshape(d_in, -1),
            b[:, 0].reshape(-1),
            w[:, :, 1].reshape(d_in, -1),
            b[:, 1].reshape(-1),
        )
    raise InvalidParameterError("qkv_layout", "separate, gpt2_conv1d or neox_interleaved", family.qkv_layout)


def qk_weights(model: torch.nn.Module, layers: Sequence[int] | None = None) -> QKWeights:
    """Per-head query/key maps of the given blocks (all by default; T5: encoder then decoder self-attention)."""
    family = family_of(model)
    config = _text_config(model)
    n_heads = int(config.num_attention_heads)
    n_kv = int(getattr(config, "num_key_value_heads", None) or n_heads)
    blocks = blocks_of(model, family)
    layers = tuple(range(len(blocks))) if layers is None else tuple(int(i) for i in layers)
    bad = [i for i in layers if not 0 <= i < len(blocks)]
    if bad:
        raise InvalidParameterError("layers", f"block indices in 0..{len(blocks) - 1}", bad)
    qs, ks, qbs, kbs, q_norms, k_norms = [], [], [], [], [], []
    for index in layers:
        block = blocks[index]
        gain, shift = norm_gain_and_shift(block, family, config)
        w_q, b_q, w_k, b_k = _raw_qk(block, family, n_heads)
        d_in, head_dim = w_q.shape[0], w_q.shape[1] // n_heads
        # x̂ ⊙ g + β through W: (x̂ ⊙ g) W + (β W + b) = x̂ (diag(g) W) + (β W + b)
        q = (gain[:, None] * w_q).reshape(d_in, n_heads, head_dim).permute(1, 0, 2)
        k = (gain[:, None] * w_k).reshape(d_in, n_kv, head_dim).permute(1, 0, 2)
        qbs.append((shift @ w_q + b_q).reshape(n_heads, head_dim))
        kb = (shift @ w_k + b_k).reshape(n_kv, head_dim)
        qs.append(q)
        ks.append(k.repeat_interleave(n_heads // n_kv, dim=0))
        kbs.append(kb.repeat_interleave(n_heads // n_kv, dim=0))
        attention = get_module(block, family.q.rsplit(".", 1)[0]) if family.q and "." in family.q else None
        q_norms.append(getattr(attention, "q_norm", None))
        k_norms.append(getattr(attention, "k_norm", None))
    return QKWeights(
        q=torch.stack(qs),
        k=torch.stack(ks),
        q_bias=torch.stack(qbs),
        k_bias=torch.stack(kbs),
        q_norm=tuple(q_norms),
        k_norm=tuple(k_norms),
        layers=layers,
    )


@torch.no_grad()
def head_activations(
    weights: QKWeights, position: int, vectors: torch.Tensor, *, bias: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Query and key activations (n_heads × n_inputs × head_dim) of inputs ``vectors`` (n_inputs × d_model) at the
    ``position``-th explained layer; per-head q/k norms applied when the model has them. ``bias=False`` (the paper's
    word activations) leaves out the word-independent shift; ``bias=True`` gives the model's exact projections."""
    vectors = vectors.float()
    hq = torch.einsum("nd,hde->hne", vectors, weights.q[position])
    hk = torch.einsum("nd,hde->hne", vectors, weights.k[position])
    if bias:
        hq = hq + weights.q_bias[position][:, None]
        hk = hk + weights.k_bias[position][:, None]
    if weights.q_norm[position] is not None:
        hq = weights.q_norm[position](hq)
    if weights.k_norm[position] is not None:
        hk = weights.k_norm[position](hk)
    return hq, hk


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
    model: torch.nn.Module,
    tokenizer,
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
    vectors = model_word_vectors(model, tokenizer, words, side="input")
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
    n_blocks = len(blocks_of(model))
    bad = [] if layers is None else [i for i in layers if not 1 <= i <= n_blocks]
    if bad:
        raise InvalidParameterError("layers", f"layers 1..{n_blocks} (layer i = block i; 0 is the embeddings)", bad)
    weights = qk_weights(model, None if layers is None else [i - 1 for i in layers])
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


def head_knowledge(pairs: pd.DataFrame) -> pd.DataFrame:
    """Pairs that a head encodes in more than one of its dimensions (the paper's per-head "knowledge"), as
    lower-cased, order-free ``a=b`` strings: columns layer, head, pair."""
    a, b = pairs["query"].str.lower(), pairs["key"].str.lower()
    canonical = np.where(a <= b, a + "=" + b, b + "=" + a)
    frame = pd.DataFrame({"layer": pairs["layer"], "head": pairs["head"], "dim": pairs["dim"], "pair": canonical})
    frame = frame.drop_duplicates()  # a pair counts once per dimension, as in the paper's per-dim lists
    counts = frame.groupby(["layer", "head", "pair"]).size()
    return counts[counts > 1].reset_index()[["layer", "head", "pair"]]


def _knowledge_words(knowledge: pd.DataFrame) -> pd.DataFrame:
    """(layer, head, word, count): how many of a head's knowledge pairs contain each word."""
    words = knowledge.assign(word=knowledge["pair"].str.split("=")).explode("word")
    counts = words.groupby(["layer", "head", "word"]).size().rename("count").reset_index()
    return counts.astype({"layer": int, "head": int, "word": object, "count": int})


def _is_verb_by_ing(word: str, freq) -> bool:
    """A word is taken as a verb when its present participle is in use: the -ing form (e-drop, ie→y, final
    consonant doubled or not) is at least 1% as frequent as the word itself in wordfreq's English list."""
    stems = {word + "ing"}
    if word.endswith("ie"):
        stems.add(word[:-2] + "ying")
    elif word.endswith("e") and not word.endswith(("ee", "ye", "oe")):
        stems.add(word[:-1] + "ing")
    if len(word) >= 3 and word[-1] not in "aeiouwxy" and word[-2] in "aeiou" and word[-3] not in "aeiou":
        stems.add(word + word[-1] + "ing")
    base = freq(word)
    return base > 0 and max(freq(stem) for stem in stems) >= 0.01 * base


@functools.cache
def frequent_verbs(n: int = 3000, exclude: tuple[str, ...] = INSTRUCTION_VERBS, scan: int = 30000) -> tuple[str, ...]:
    """The ``n`` most frequent English verbs by wordfreq, instruction verbs and stop words excluded.

    The paper takes the first lemma of every WordNet verb synset, ranked by wordfreq. WordNet is not available
    here, so part of speech is decided by a documented heuristic instead: alphabetic lemma-looking words (not
    ending in -ing/-ed/-s forms that are themselves inflections) whose -ing form is in use (:func:`_is_verb_by_ing`).
    Like WordNet's verb lemmas this includes noun-verbs such as "work" and "state".
    """
    from wordfreq import top_n_list, word_frequency

    freq = functools.partial(word_frequency, lang="en")
    excluded = set(exclude) | STOP_WORDS
    verbs = []
    for word in top_n_list("en", scan):
        if len(word) < 3 or not word.isalpha() or word in excluded or word.endswith(("ing", "ed")):
            continue
        if word.endswith("s") and freq(word[:-1]) > freq(word):
            continue  # a plural or third-person form of a more frequent lemma
        if _is_verb_by_ing(word, freq):
            verbs.append(word)
            if len(verbs) == n:
                break
    return tuple(verbs)


def layer_groups(layers: pd.Series | np.ndarray, n_layers: int, n_groups: int) -> np.ndarray:
    """Equal-depth layer groups: group = layer · n_groups // n_layers (32 layers, 4 groups → layer // 8, as the
    paper)."""
    n_groups = max(1, min(n_groups, n_layers))
    return (np.asarray(layers) - 1) * n_groups // n_layers


def compare_verbs(
    base_pairs: pd.DataFrame,
    tuned_pairs: pd.DataFrame,
    n_layers: int,
    *,
    n_groups: int = 4,
    instruction_verbs: Sequence[str] = INSTRUCTION_VERBS,
    general_verbs: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Instruction verbs vs frequent verbs in base vs tuned heads (the paper's Table 3 analysis).

    For each verb and layer group, over the heads where the verb's count in the head's knowledge differs between
    the models, the fraction of heads where the tuned model has more: 0.5 means no change. Per group, a Welch t-test
    compares these fractions for instruction verbs with those for frequent verbs (the paper's test).

    Returns ``(tests, shares)``: tests — group, verb_set, n_verbs, mean, sd, t, p (t and p on the instruction row);
    shares — model (base|tuned), group, verb_set, share of heads whose knowledge involves a verb of the set, share of
    knowledge pairs that do, and the counts.
    """
    general = tuple(frequent_verbs() if general_verbs is None else general_verbs)
    sets = {"instruction": set(instruction_verbs), "frequent": set(general) - set(instruction_verbs)}
    knowledge = {"base": head_knowledge(base_pairs), "tuned": head_knowledge(tuned_pairs)}
    counts = pd.concat(
        {
            name: _knowledge_words(frame).set_index(["layer", "head", "word"])["count"]
            for name, frame in knowledge.items()
        },
        axis=1,
    ).fillna(0)
    counts = counts.reset_index()
    counts["group"] = layer_groups(counts["layer"], n_layers, n_groups)
    counts = counts[counts["base"] != counts["tuned"]]  # the paper ignores heads with no change for a word
    up = (counts["tuned"] > counts["base"]).astype(float)
    per_word = up.groupby([counts["group"], counts["word"]]).mean().rename("up").reset_index()
    rows = []
    for group in range(max(1, min(n_groups, n_layers))):
        fractions = {
            name: per_word.loc[(per_word["group"] == group) & per_word["word"].isin(verbs), "up"].to_numpy()
            for name, verbs in sets.items()
        }
        with warnings.catch_warnings():  # fewer than 2 verbs in a set: t and p are NaN, which the table shows
            warnings.simplefilter("ignore")
            test = stats.ttest_ind(fractions["instruction"], fractions["frequent"], equal_var=False)
        for name, values in fractions.items():
            rows.append(
                {
                    "group": group,
                    "verb_set": name,
                    "n_verbs": len(values),
                    "mean": float(np.mean(values)) if len(values) else np.nan,
                    "sd": float(np.std(values)) if len(values) else np.nan,
                    "t": float(test.statistic) if name == "instruction" else np.nan,
                    "p": float(test.pvalue) if name == "instruction" else np.nan,
                }
            )
    return pd.DataFrame(rows), _verb_shares(knowledge, sets, base_pairs, tuned_pairs, n_layers, n_groups)


def _verb_shares(knowledge, sets, base_pairs, tuned_pairs, n_layers, n_groups) -> pd.DataFrame:
    rows = []
    for name, frame, pairs in (("base", knowledge["base"], base_pairs), ("tuned", knowledge["tuned"], tuned_pairs)):
        heads = pairs[["layer", "head"]].drop_duplicates()
        heads = heads.assign(group=layer_groups(heads["layer"], n_layers, n_groups))
        split = frame["pair"].str.split("=", expand=True) if len(frame) else pd.DataFrame({0: [], 1: []})
        frame = frame.assign(group=layer_groups(frame["layer"], n_layers, n_groups))
        for verb_set, verbs in sets.items():
            hit = split[0].isin(verbs) | split[1].isin(verbs)
            for group, group_heads in heads.groupby("group"):
                in_group = frame["group"] == group
                hit_heads = frame.loc[in_group & hit, ["layer", "head"]].drop_duplicates()
                rows.append(
                    {
                        "model": name,
                        "group": int(group),
                        "verb_set": verb_set,
                        "heads": len(group_heads),
                        "heads_with_verb": len(hit_heads),
                        "head_share": len(hit_heads) / len(group_heads),
                        "knowledge_pairs": int(in_group.sum()),
                        "pairs_with_verb": int((in_group & hit).sum()),
                        "pair_share": float((in_group & hit).sum() / max(1, in_group.sum())),
                    }
                )
    columns = ["model", "group", "verb_set", "heads", "heads_with_verb", "head_share"]
    return pd.DataFrame(rows, columns=[*columns, "knowledge_pairs", "pairs_with_verb", "pair_share"])


def plot_verb_shares(shares: pd.DataFrame, path) -> None:
    """Share of heads whose knowledge involves an instruction / frequent verb, per layer group, base dashed and
    tuned solid (output of :func:`compare_verbs`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for (verb_set, model), rows in shares.groupby(["verb_set", "model"]):
        ax.plot(
            rows["group"] + 1,
            rows["head_share"] * 100,
            color="tab:red" if verb_set == "instruction" else "tab:blue",
            linestyle="-" if model == "tuned" else "--",
            marker="*" if model == "tuned" else "s",
            label=f"{model} · {verb_set} verbs",
        )
    ax.set_xlabel("Layer group")
    ax.set_ylabel("% of heads encoding the verbs")
    ax.grid(True)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
