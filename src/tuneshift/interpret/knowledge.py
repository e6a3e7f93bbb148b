"""What heads know and how tuning changed it (Wu et al. 2023, §4.2, Table 3): a head's "knowledge" is the word
pairs it encodes in more than one dimension; base and tuned heads are compared on instruction vs frequent verbs."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from tuneshift.interpret.layers import layer_groups
from tuneshift.interpret.verbs import INSTRUCTION_VERBS, frequent_verbs


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
