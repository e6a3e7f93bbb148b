"""`tuneshift readout`: per-word surprisal and every layer's activations for a TSV of passages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import typer
from rich.console import Console

from tuneshift.errors import InvalidInputError

console = Console()


def read_passages_tsv(path: Path) -> tuple[list, list[list[str]]]:
    """(passage labels, passages) from a TSV with columns `passage` and `word`, one row per word in reading order."""
    try:
        frame = pd.read_csv(path, sep="\t", dtype={"word": str}, keep_default_na=False, quoting=3)
    except (OSError, pd.errors.ParserError) as error:
        raise InvalidInputError(f"{path}: cannot read as a tab-separated file: {error}") from error
    missing = {"passage", "word"} - set(frame.columns)
    if missing:
        raise InvalidInputError(
            f"{path}: missing column(s) {sorted(missing)}; expected a header with `passage` and `word` "
            f"(one row per word, in order), got {list(frame.columns)}."
        )
    blank = frame["word"].str.strip() == ""
    if blank.any():
        row = int(np.flatnonzero(blank)[0]) + 2  # 1-based, after the header
        raise InvalidInputError(f"{path}, row {row}: empty word; every row needs a non-blank `word`.")
    order = pd.unique(frame["passage"])
    return list(order), [frame.loc[frame["passage"] == key, "word"].tolist() for key in order]


def readout(
    passages: Path = typer.Option(..., exists=True, dir_okay=False, help="TSV with columns passage, word."),
    out: Path = typer.Option(..., help="Output directory."),
    model: str = typer.Option("smollm2-135m-instruct", help="Hub id, local directory, .gguf file or catalog name."),
    random_init: bool = typer.Option(False, help="Same architecture with random weights (the control)."),
    seed: int = typer.Option(0, help="Seed of --random-init."),
    layers: str = typer.Option("all", help='"all", "none" (surprisal only) or comma-separated layer indices.'),
    pooling: str = typer.Option("last", help="last (the word's last token) or mean (over its tokens)."),
    dtype: str = typer.Option("float32", help="Model dtype: float32, bfloat16, float16."),
    device: str = typer.Option("cpu", help="cpu, cuda, mps or auto."),
    store_dtype: str = typer.Option("float32", help="Stored activation dtype: float32 or float16."),
    batch_size: int = typer.Option(8, min=1, help="Passages (windows) per forward pass."),
    max_context: int = typer.Option(0, min=0, help="Window length in tokens (0: the model's maximum)."),
    cache: bool = typer.Option(True, help="Reuse / store results in the activation cache."),
) -> None:
    """Read a passages TSV through a model.

    Writes OUT/words.csv (passage, word_index, word, n_tokens, surprisal_bits), OUT/activations.npy — a float
    array of shape (layers, words, hidden), rows in words.csv order, layer 0 = embeddings, i = block i — and
    OUT/layers.json (the layer indices stored along the first axis).
    """
    from tuneshift.models import load_model
    from tuneshift.models.readout import read_out

    labels, texts = read_passages_tsv(passages)
    chosen = "all" if layers == "all" else [] if layers == "none" else [int(x) for x in layers.split(",")]
    loaded = load_model(model, dtype=dtype, device=device, random_init=random_init, seed=seed)
    result = read_out(
        loaded,
        texts,
        layers=chosen,
        pooling=pooling,
        batch_size=batch_size,
        max_context=max_context or None,
        store_dtype=store_dtype,
        cache=cache,
    )
    result.words = result.words.assign(passage=np.asarray(labels, dtype=object)[result.words["passage"].to_numpy()])
    result.save(out)
    n_words = len(result.words)
    console.print(f"[green]{loaded.name}[/green]: {len(texts)} passages, {n_words} words -> {out}")
