"""FFN concepts: principal components of the down-projection's value vectors (Wu et al. 2023, §4.3;
``Generator.ffn_explain``).

Each FFN neuron i writes its value vector v_i (a row of the down-projection seen from the intermediate side:
``down_proj.weight.T``, intermediate × hidden) into the residual stream. Per layer, the value vectors are centred
(mean over neurons) and decomposed by SVD; each right singular vector (a hidden-size direction) is a "concept",
explained by the ``top_k`` = 50 vocabulary words w with the largest |PC · ê_w|, ê_w the L2-normalised mean of w's
sub-token rows in the output embedding. The explained-variance share of component r is s_r² / Σ s² (all singular
values). The paper keeps the top 300 components. Concepts are then labelled (:mod:`tuneshift.interpret.labelers`)
and the shares of task / linguistic-level categories are compared per layer group between base and tuned models.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from scipy import stats

from tuneshift.errors import InvalidParameterError
from tuneshift.interpret.labelers import LEVELS, TASKS, Labeler
from tuneshift.interpret.layers import check_layers, layer_groups
from tuneshift.interpret.vocab import load_vocabulary, model_word_vectors
from tuneshift.models.load import LoadedModel
from tuneshift.models.weights import ffn_value_vectors

SVD_METHODS = ("auto", "full", "randomized")


@torch.no_grad()
def principal_components(
    values: torch.Tensor, n_components: int = 300, method: str = "auto", seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top principal directions of the rows of ``values`` (n × d) → (components k × d, explained-variance share k).

    ``full``: torch.linalg.svd. ``randomized``: torch.svd_lowrank (Halko et al.) with 4 power iterations, for big
    layers; its shares still divide by the exact total variance ‖W − mean‖²_F. ``auto`` picks randomized when the
    smaller side exceeds 2,048 and fewer than a quarter of the components are wanted.
    """
    if method not in SVD_METHODS:
        raise InvalidParameterError("method", " | ".join(SVD_METHODS), method)
    centred = values.float() - values.float().mean(dim=0, keepdim=True)
    k = min(n_components, *centred.shape)
    randomized = method == "randomized" or (
        method == "auto" and min(centred.shape) > 2048 and 4 * k < min(centred.shape)
    )
    if randomized:
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        _, singular, v = torch.svd_lowrank(centred, q=min(k + 20, *centred.shape), niter=4)
        torch.random.set_rng_state(generator_state)
        components = v.T[:k]
    else:
        _, singular, vh = torch.linalg.svd(centred, full_matrices=False)
        components = vh[:k]
    total = (centred**2).sum()
    return components, (singular[:k] ** 2) / total


def explain_ffn(
    model: LoadedModel,
    words: Sequence[str] | None = None,
    *,
    n_components: int = 300,
    top_k: int = 50,
    layers: Sequence[int] | None = None,
    method: str = "auto",
) -> pd.DataFrame:
    """Concepts of every FFN layer (numbered as everywhere in tuneshift: layer i = block i, 1..n): one row per
    (layer, component) with ``rank`` (1 = largest variance),
    ``share`` (explained-variance share), ``words`` (top words by |PC · ê_w|, ``"|||"``-joined) and ``scores``
    (their |PC · ê_w|, same order)."""
    if n_components < 1 or top_k < 1:
        raise InvalidParameterError("n_components/top_k", "positive integers", (n_components, top_k))
    words = list(load_vocabulary() if words is None else words)
    unit = torch.nn.functional.normalize(model_word_vectors(model, words, side="output"), dim=-1)
    vocab = np.asarray(words, dtype=object)
    frames = []
    for layer in check_layers(layers, model.n_layers):
        components, shares = principal_components(ffn_value_vectors(model, layer - 1), n_components, method)
        top = (components @ unit.T).abs().topk(min(top_k, len(words)), dim=1)
        frames.append(
            pd.DataFrame(
                {
                    "layer": layer,
                    "rank": np.arange(1, len(shares) + 1),
                    "share": shares.numpy(),
                    "words": ["|||".join(row) for row in vocab[top.indices.numpy()]],
                    "scores": ["|||".join(f"{s:.4f}" for s in row) for row in top.values.numpy()],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def to_paper_format(frame: pd.DataFrame, model: str, size: str = "") -> pd.DataFrame:
    """The repository's TSV layout ``Model Size Layer Type Head Rank Score TopK`` (Type = "FFN", Head = 0); its Layer
    is the paper's 0-based block index (tuneshift's layer − 1)."""
    return pd.DataFrame(
        {
            "Model": model,
            "Size": size,
            "Layer": frame["layer"] - 1,
            "Type": "FFN",
            "Head": 0,
            "Rank": frame["rank"],
            "Score": frame["share"].round(4),
            "TopK": frame["words"],
        }
    )


def label_components(frame: pd.DataFrame, labeler: Labeler, n_words: int = 15) -> pd.DataFrame:
    """Add the labeller's ``summary``, ``explainable``, ``tasks`` (";"-joined) and ``level`` from each component's
    first ``n_words`` words (the paper shows its annotator 15)."""
    labels = [labeler.label(words.split("|||")[:n_words]) for words in frame["words"]]
    return frame.assign(
        summary=[label.summary for label in labels],
        explainable=[label.explainable for label in labels],
        tasks=[";".join(label.tasks) for label in labels],
        level=[label.level for label in labels],
    )


def category_shares(labelled: dict[str, pd.DataFrame], n_layers: int, n_groups: int = 8) -> pd.DataFrame:
    """Share of explainable components in each task and linguistic-level category, per model and layer group
    (and ``group = "all"``), as the paper's Table 5 / Figure 3. A component may serve several tasks.

    labelled: model name (e.g. "base", "tuned") → output of :func:`label_components`. Columns: model, group, layers
    (1-based range), scheme (task | level), category, share, n_hits, n_explainable, n_components.
    """
    rows = []
    for name, frame in labelled.items():
        frame = frame.assign(group=layer_groups(frame["layer"], n_layers, n_groups).astype(object))
        for group, part in [*frame.groupby("group"), ("all", frame)]:
            explainable = part[part["explainable"]]
            first, last = int(part["layer"].min()), int(part["layer"].max())
            for scheme, categories, column in (("task", TASKS, "tasks"), ("level", LEVELS, "level")):
                for category in categories:
                    hits = explainable[column].str.split(";").apply(lambda cats, c=category: c in cats)
                    rows.append(
                        {
                            "model": name,
                            "group": group,
                            "layers": f"{first}-{last}",
                            "scheme": scheme,
                            "category": category,
                            "share": float(hits.mean()) if len(explainable) else np.nan,
                            "n_hits": int(hits.sum()),
                            "n_explainable": len(explainable),
                            "n_components": len(part),
                        }
                    )
    return pd.DataFrame(rows)


def compare_categories(shares: pd.DataFrame, base: str = "base", tuned: str = "tuned") -> pd.DataFrame:
    """Base vs tuned over all layers, per category: the two shares and a two-sided Fisher exact test on the counts
    (the paper compares five annotation seeds with a t-test; one labelling gives counts, hence Fisher)."""
    overall = shares[shares["group"] == "all"].set_index(["scheme", "category", "model"])
    rows = []
    for scheme, category in overall.index.droplevel("model").unique():
        b, t = overall.loc[(scheme, category, base)], overall.loc[(scheme, category, tuned)]
        table = [[b["n_hits"], b["n_explainable"] - b["n_hits"]], [t["n_hits"], t["n_explainable"] - t["n_hits"]]]
        testable = b["n_explainable"] > 0 and t["n_explainable"] > 0
        rows.append(
            {
                "scheme": scheme,
                "category": category,
                f"share_{base}": b["share"],
                f"share_{tuned}": t["share"],
                "change": t["share"] - b["share"],
                "p_fisher": float(stats.fisher_exact(table).pvalue) if testable else np.nan,
            }
        )
    return pd.DataFrame(rows)
