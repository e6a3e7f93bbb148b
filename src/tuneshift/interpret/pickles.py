"""The paper's own attribution files: ``ifa_<model>/<ID>.pkl`` from Wu et al. 2023.

Each file is a pickled dict: ID, Input (sentencepiece pieces of the prompt, no BOS), Reference, Output (pieces of
the model's own response) and Explain (float32, n_input × n_output, already sparsified to 0..10 with b = 0). The
paper's analysis (``analysis_following_*.py``) thresholds it at b = 7, takes the importance density and the
instruction score (:mod:`tuneshift.interpret.instructions`). Loading uses a restricted unpickler: only plain
containers and numpy's array reconstruction are allowed, so a tampered file cannot run code.

The full release (632 prompts × LLaMA-7B / Vicuna-7B) reproduces Tables 1 and 2; only a few sample files are
bundled here.
"""

from __future__ import annotations

import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tuneshift.errors import DataNotFoundError, InvalidInputError
from tuneshift.interpret.attribution import importance_density
from tuneshift.interpret.instructions import (
    SCORE_COLUMNS,
    Sample,
    instruction_char_spans,
    instruction_mask,
    instruction_score,
    source_of,
)

_ALLOWED = {
    ("builtins", "dict"),
    ("builtins", "list"),
    ("builtins", "tuple"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
}
_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only plain containers and numpy arrays; anything else is refused."""

    def __init__(self, file, path: Path):
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise InvalidInputError(
                f"{self.path}: refused to unpickle {module}.{name}; attribution files may only hold dicts, lists "
                "and numpy arrays. Load only files from a trusted source."
            )
        module = module.replace("numpy.core.", "numpy._core.")
        return super().find_class(module, name)


@dataclass
class PaperAttribution:
    id: str
    input_tokens: list[str]
    output_tokens: list[str]
    reference: str
    explain: np.ndarray  # (n_input, n_output), sparsified 0..10
    path: Path


def load_attribution_pickle(path: str | Path) -> PaperAttribution:
    """Read one ``<ID>.pkl`` safely and check its shape."""
    path = Path(path)
    with path.open("rb") as handle:
        data = RestrictedUnpickler(handle, path).load()
    missing = {"ID", "Input", "Output", "Explain"} - set(data if isinstance(data, dict) else ())
    if missing:
        raise InvalidInputError(f"{path}: expected a dict with ID, Input, Output, Explain; missing {sorted(missing)}.")
    explain = np.asarray(data["Explain"])
    n_in, n_out = len(data["Input"]), len(data["Output"])
    if n_out and explain.shape != (n_in, n_out):
        raise InvalidInputError(
            f"{path}: Explain has shape {explain.shape}, expected (len(Input), len(Output)) = ({n_in}, {n_out})."
        )
    return PaperAttribution(
        str(data["ID"]), list(data["Input"]), list(data["Output"]), str(data.get("Reference", "")), explain, path
    )


def piece_offsets(pieces: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """Text and character span of each sentencepiece piece ('▁' = space, '<0xNN>' = one byte of UTF-8)."""
    chunks = [
        bytes([int(m.group(1), 16)]) if (m := _BYTE_PIECE.fullmatch(p)) else p.replace("▁", " ").encode()
        for p in pieces
    ]
    ends = np.cumsum([len(c) for c in chunks]) if chunks else np.zeros(0, dtype=int)
    raw = b"".join(chunks)
    text = raw.decode("utf8", errors="replace")
    # byte offset -> character offset (a continuation byte maps to its character)
    char_of_byte = np.zeros(len(raw) + 1, dtype=np.int64)
    position = 0
    for index, char in enumerate(text):
        width = len(char.encode("utf8")) if char != "\ufffd" else 1
        char_of_byte[position : position + width] = index
        position += width
    char_of_byte[len(raw)] = len(text)
    starts = np.concatenate([[0], ends[:-1]]) if len(ends) else ends
    spans = [
        (int(char_of_byte[s]), int(char_of_byte[e - 1]) + 1 if e > s else int(char_of_byte[s]))
        for s, e in zip(starts, ends, strict=True)
    ]
    return text, spans


def score_paper_attribution(attribution: PaperAttribution, sample: Sample, threshold: float = 7) -> tuple[float, int]:
    """Instruction score of one shipped attribution and its number of instruction tokens (0 for an empty
    response, as in the paper's ``evaluate``)."""
    text, spans = piece_offsets(attribution.input_tokens)
    prompt = sample.prompt.strip()
    base = text.find(prompt)
    if base < 0:
        raise InvalidInputError(f"{attribution.path}: its Input pieces do not spell the prompt of {sample.id}.")
    char_spans = instruction_char_spans(sample.prompt, sample.instructions)
    shift = base - (len(sample.prompt) - len(sample.prompt.lstrip()))
    mask = instruction_mask(spans, attribution.input_tokens, char_spans, offset=shift)
    if not attribution.output_tokens:
        return 0.0, int(mask.sum())
    return instruction_score(importance_density(attribution.explain, threshold=threshold), mask), int(mask.sum())


def model_name_of(directory: Path) -> str:
    """ "ifa_vicuna_7b" → "vicuna_7b" (lower case, to match AnnotatedDataset's Model column)."""
    name = directory.name.lower()
    return name[4:] if name.startswith("ifa_") else name


def score_attribution_dir(
    directory: str | Path, samples: list[Sample], ratings: pd.DataFrame | None = None, model: str | None = None
) -> pd.DataFrame:
    """One row per ``<ID>.pkl`` whose ID is in the dataset: id, source, model, score, n_instruction_tokens,
    n_output_tokens, rating (NaN when unrated or no ratings given)."""
    directory = Path(directory)
    files = sorted(directory.glob("*.pkl"))
    if not files:
        raise DataNotFoundError(f"{directory}: no <ID>.pkl attribution files found.")
    model = model or model_name_of(directory)
    by_id = {s.id: s for s in samples}
    rating_of = {} if ratings is None else {(r.id, r.model): r.rating for r in ratings.itertuples(index=False)}
    rows = []
    for file in files:
        if file.stem not in by_id:
            continue
        attribution = load_attribution_pickle(file)
        score, n_instruction = score_paper_attribution(attribution, by_id[file.stem])
        rating = rating_of.get((file.stem, model.lower()), np.nan)
        rows.append(
            (file.stem, source_of(file.stem), model, score, n_instruction, len(attribution.output_tokens), rating)
        )
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)
