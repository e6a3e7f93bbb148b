"""Instruction recognition (Wu et al. 2023, §3): does the model's attribution concentrate on the instruction?

The data are the paper's FinalDataset.tsv (ID, Prompt, Response, Instruct&Context; "/n" and "/t" escape newlines
and tabs; instruction fragments separated by "|||", the input/context after "&&&") and AnnotatedDataset.tsv
(ratings 1–4 of Vicuna-7B's responses; -1 = unrated). As in the paper's ``utils.annotate``, each instruction
fragment is widened to the whole prompt sentence(s) containing it (sentences: prompt lines split after . ! ? :
followed by whitespace; a sentence starting with "Input:" loses that prefix; an empty fragment — e.g. the text
after a trailing "|||" — matches the first prompt sentence, a quirk of the paper's code kept for parity).

Instruction tokens are found through character offsets, so any tokenizer works: a token belongs to the instruction
when its characters overlap a widened sentence; edge tokens that are only whitespace or a space plus a double quote
are dropped, as the paper's code strips "▁", "<0x0A>" and '▁"' pieces from the ends of each span.

    instruction score = Σ_{n ∈ instruction tokens} a_n / log2(2 + #instruction tokens)

with a_n the normalized importance density (:func:`tuneshift.interpret.aggregate.importance_density`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from tuneshift.errors import DataNotFoundError, InvalidInputError
from tuneshift.interpret.aggregate import THRESHOLD, importance_density
from tuneshift.interpret.attribution import Attribution, attribute
from tuneshift.models.load import LoadedModel

Span = tuple[int, int]
SOURCES = {"user_oriented_task_": "Self-Instruct", "lima_author_": "LIMA", "mtbench_": "MT-Bench"}
_SENTENCE_END = re.compile(r"(?<=[.!?:])\s+")


def decode(text: str) -> str:
    """Undo the dataset's escapes ("/t" → tab, "/n" → newline), drop one pair of enclosing double quotes and
    un-double the inner ones (the paper's ``utils.decode``)."""
    text = text.replace("/t", "\t").replace("/n", "\n")
    if text.startswith('"') and text.endswith('"'):
        text = text[1:-1]
    return text.replace('""', '"')


def source_of(sample_id: str) -> str:
    """Self-Instruct, LIMA or MT-Bench from the sample ID's prefix ("other" otherwise)."""
    return next((name for prefix, name in SOURCES.items() if sample_id.startswith(prefix)), "other")


def _sentences(text: str) -> list[str]:
    return _SENTENCE_END.split(text)


def widen_instructions(sample_id: str, prompt: str, annotation: str) -> tuple[list[str], str]:
    """Instruction sentences of `prompt` named by `annotation` (decoded), and the context part after "&&&"."""
    if annotation.startswith('"') and annotation.endswith('"'):
        annotation = annotation[1:-1]
    if not annotation:
        return [], ""
    instruction, _, context = annotation.partition("&&&")
    prompt_sentences = [s for line in prompt.split("\n") for s in _sentences(line)]
    widened: list[str] = []
    for fragment in instruction.replace("\n", "|||").split("|||"):
        for piece in _sentences(fragment):
            match = next((s for s in prompt_sentences if piece in s), None)
            if match is None:
                raise InvalidInputError(
                    f"{sample_id}: instruction fragment {piece!r} is not in any sentence of the prompt. "
                    "Fix the Instruct&Context column so every fragment is copied from the prompt."
                )
            match = match[6:].strip() if match.startswith("Input:") else match
            if match not in widened and match != "Output:":
                widened.append(match)
    return widened, context


@dataclass
class Sample:
    id: str
    prompt: str
    response: str
    instructions: list[str]
    context: str

    @property
    def source(self) -> str:
        return source_of(self.id)


def load_final_dataset(path: str | Path) -> list[Sample]:
    """Parse FinalDataset.tsv (header row; empty lines skipped; extra tab-separated fields ignored)."""
    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(f"{path}: FinalDataset.tsv not found (datasets/ of Interpret_Instruction_Tuning_LLMs).")
    samples = []
    with path.open(encoding="utf8") as handle:
        handle.readline()
        for line_no, row in enumerate(handle, start=2):
            if len(row) <= 1:
                continue
            fields = row.rstrip("\n").split("\t")
            if len(fields) < 4:
                raise InvalidInputError(
                    f"{path}:{line_no}: expected 4 tab-separated fields (ID, Prompt, Response, Instruct&Context), "
                    f"got {len(fields)}."
                )
            sample_id, prompt, response, annotation = fields[:4]
            prompt = decode(prompt)
            instructions, context = widen_instructions(sample_id, prompt, decode(annotation))
            samples.append(Sample(sample_id, prompt, decode(response), instructions, context))
    return samples


def load_ratings(path: str | Path) -> pd.DataFrame:
    """AnnotatedDataset.tsv → columns id, model (lower case, e.g. "vicuna_7b"), rating (float; -1 = unrated)."""
    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(f"{path}: AnnotatedDataset.tsv not found.")
    rows = []
    with path.open(encoding="utf8") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        if header[:2] != ["File", "Model"] or header[-1] != "Rating":
            raise InvalidInputError(f"{path}: expected a header File, Model, ..., Rating; got {header}.")
        for line_no, row in enumerate(handle, start=2):
            fields = row.rstrip("\n").split("\t")
            if len(fields) != len(header):
                raise InvalidInputError(f"{path}:{line_no}: expected {len(header)} fields, got {len(fields)}.")
            rows.append((fields[0].rsplit(".", 1)[0], fields[1].lower(), float(fields[-1])))
    return pd.DataFrame(rows, columns=["id", "model", "rating"])


# ---------------------------------------------------------------------------------------- spans → token mask
def instruction_char_spans(prompt: str, instructions: Sequence[str]) -> list[Span]:
    """Character span of each instruction sentence's first occurrence in `prompt` (empty ones skipped)."""
    spans = []
    for sentence in instructions:
        if sentence:
            start = prompt.find(sentence)
            if start < 0:
                raise InvalidInputError(f"instruction {sentence!r} does not occur in the prompt.")
            spans.append((start, start + len(sentence)))
    return spans


def _piece_text(token: str) -> str:
    return token.replace("▁", " ").replace("Ġ", " ").replace("Ċ", "\n").replace("<0x0A>", "\n")


def _is_edge_filler(token: str) -> bool:
    text = _piece_text(token)
    return not text.strip() or text == ' "'


def instruction_mask(
    token_spans: Sequence[Span], tokens: Sequence[str], char_spans: Sequence[Span], offset: int = 0
) -> np.ndarray:
    """1.0 for tokens overlapping an instruction span (span positions shifted by `offset` into token
    coordinates), edge filler tokens excluded; (n_tokens,) float."""
    starts = np.array([s for s, _ in token_spans], dtype=np.int64).reshape(-1)
    ends = np.array([e for _, e in token_spans], dtype=np.int64).reshape(-1)
    mask = np.zeros(len(tokens))
    for lo, hi in char_spans:
        inside = np.flatnonzero((starts < hi + offset) & (ends > lo + offset))
        while len(inside) and _is_edge_filler(tokens[inside[0]]):
            inside = inside[1:]
        while len(inside) and _is_edge_filler(tokens[inside[-1]]):
            inside = inside[:-1]
        mask[inside] = 1.0
    return mask


def instruction_score(density: np.ndarray, mask: np.ndarray) -> float:
    """Σ_{n in instruction} density_n / log2(2 + #instruction tokens) (the paper's ``evaluate``)."""
    mask = np.asarray(mask, dtype=float)
    return float((np.asarray(density) * mask).sum() / math.log2(2 + mask.sum()))


# -------------------------------------------------------------------------------------------------- analyses
def _welch_less(low: np.ndarray, high: np.ndarray) -> float:
    """One-sided Welch t-test p-value for mean(low) < mean(high); NaN with fewer than 2 values per group."""
    if len(low) < 2 or len(high) < 2:
        return float("nan")
    return float(stats.ttest_ind(low, high, equal_var=False, alternative="less").pvalue)


def followed_vs_unfollowed(scores: pd.DataFrame, model: str | None = None, min_output_tokens: int = 5) -> pd.DataFrame:
    """Table 1: per source, instruction scores of followed (rating 2–4) vs unfollowed (rating 1) responses;
    unrated samples and outputs under `min_output_tokens` tokens dropped; p for unfollowed < followed."""
    frame = scores if model is None else scores[scores["model"] == model]
    frame = frame[(frame["rating"] > 0) & (frame["n_output_tokens"] >= min_output_tokens)]
    followed = frame["rating"] >= 2
    return _compare(frame, followed, "followed_vs_unfollowed", ("unfollowed", "followed"))


def base_vs_tuned(scores: pd.DataFrame, base: str, tuned: str) -> pd.DataFrame:
    """Table 2: per source, instruction scores of the base vs the tuned model on all samples; p for
    base < tuned."""
    frame = scores[scores["model"].isin([base, tuned])]
    return _compare(frame, frame["model"] == tuned, "base_vs_tuned", (base, tuned))


def _compare(frame: pd.DataFrame, is_high: pd.Series, comparison: str, names: tuple[str, str]) -> pd.DataFrame:
    rows = []
    frame = frame.assign(_high=np.asarray(is_high, dtype=bool))
    for source, group in frame.groupby("source", sort=True):
        high = group["_high"].to_numpy()
        values = group["score"].to_numpy(dtype=float)
        p_value = _welch_less(values[~high], values[high])
        for name, selected in ((names[0], values[~high]), (names[1], values[high])):
            mean = float(selected.mean()) if len(selected) else float("nan")
            rows.append((source, comparison, name, mean, len(selected), p_value))
    return pd.DataFrame(rows, columns=["source", "comparison", "group", "mean", "n", "p_value"])


# ------------------------------------------------------------------------------------------------ scoring
SCORE_COLUMNS = ["id", "source", "model", "score", "n_instruction_tokens", "n_output_tokens", "rating"]


def score_prompt_tokens(
    sample: Sample,
    text: str,
    token_spans: Sequence[Span],
    tokens: Sequence[str],
    matrix: np.ndarray,
    n_output: int,
    *,
    threshold: float = THRESHOLD,
    where: str = "",
) -> tuple[float, int]:
    """Instruction score of an attribution matrix (prompt tokens × `n_output` response tokens) whose rows are
    `tokens` at `token_spans` of `text`, and its number of instruction tokens; an empty response scores 0, as in the
    paper. `where` names the attribution in errors (default the sample's ID)."""
    prompt = sample.prompt.strip()
    base = text.find(prompt)
    if base < 0:
        raise InvalidInputError(
            f"{where or sample.id}: the attributed text does not contain the prompt of {sample.id}."
        )
    shift = base - (len(sample.prompt) - len(sample.prompt.lstrip()))
    char_spans = instruction_char_spans(sample.prompt, sample.instructions)
    mask = instruction_mask(token_spans, tokens, char_spans, offset=shift)
    if n_output == 0:
        return 0.0, int(mask.sum())
    return instruction_score(importance_density(matrix, threshold=threshold), mask), int(mask.sum())


def score_attribution(attribution: Attribution, sample: Sample) -> tuple[float, int]:
    """Instruction score of a computed attribution for `sample`, and its number of instruction tokens."""
    return score_prompt_tokens(
        sample,
        attribution.text,
        attribution.prompt_spans,
        attribution.prompt_tokens,
        attribution.matrix.numpy(),
        len(attribution.response_tokens),
    )


def score_with_model(
    model: LoadedModel,
    samples: Sequence[Sample],
    *,
    model_name: str | None = None,
    use_reference: bool = False,
    progress: bool = True,
    **attribute_kwargs: Any,
) -> pd.DataFrame:
    """Attribute each sample's response (generated greedily, or the dataset's reference with `use_reference`)
    and score it; rows as in :data:`SCORE_COLUMNS` (rating NaN), model named `model_name` (default its name)."""
    from rich.progress import track

    name = model_name or model.name
    rows = []
    for sample in track(samples, description=f"attributing ({name})", disable=not progress):
        response = sample.response if use_reference else None
        attribution = attribute(model, sample.prompt, response, **attribute_kwargs)
        score, n_instruction = score_attribution(attribution, sample)
        rows.append((sample.id, sample.source, name, score, n_instruction, len(attribution.response_tokens), np.nan))
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def join_ratings(scores: pd.DataFrame, ratings: pd.DataFrame | None) -> pd.DataFrame:
    """`scores` with its ``rating`` column from `ratings` (:func:`load_ratings`), matched on (id, lower-cased
    model); NaN where a sample is not rated for that model, or without ratings."""
    if ratings is None:
        return scores.assign(rating=np.nan)
    lookup = {(row.id, row.model): row.rating for row in ratings.itertuples(index=False)}
    keys = zip(scores["id"], scores["model"].astype(str).str.lower(), strict=True)
    return scores.assign(rating=[lookup.get(key, np.nan) for key in keys])


def summarize(scores: pd.DataFrame, base: str | None = None, tuned: str | None = None) -> pd.DataFrame:
    """Table 1 (:func:`followed_vs_unfollowed`) for every model with ratings, and Table 2 (:func:`base_vs_tuned`)
    for `base` vs `tuned` — by default the two models when `scores` holds exactly two, in order of appearance."""
    names = list(dict.fromkeys(scores["model"]))
    summaries = [
        followed_vs_unfollowed(scores, m) for m in names if scores.loc[scores.model == m, "rating"].gt(0).any()
    ]
    if not (base and tuned) and len(names) == 2:
        base, tuned = names
    if base and tuned:
        summaries.append(base_vs_tuned(scores, base, tuned))
    columns = ["source", "comparison", "group", "mean", "n", "p_value"]
    return pd.concat(summaries, ignore_index=True) if summaries else pd.DataFrame(columns=columns)
