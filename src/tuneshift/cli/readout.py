"""`tuneshift readout`: per-word surprisal and every layer's activations for a TSV of passages.

Inputs and the output folder are checked before the model loads. The outputs are written into a staging folder
inside ``--out`` and moved into place only when all of them are complete, replacing every output of a previous run
(a file this run does not produce, e.g. ``activations.npy`` under ``--layers none``, is removed), so ``--out`` never
mixes two runs. Staging folders left by a killed run are swept at the next start. Ctrl-C says what was saved and
exits with status 130.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import typer

from tuneshift.cli._console import make_console
from tuneshift.errors import InvalidInputError, InvalidParameterError
from tuneshift.models.catalog import DEFAULT_MODEL

console = make_console()

#: Every file `readout` writes into --out; all of them belong to the latest run.
OUTPUTS = ("words.csv", "activations.npy", "layers.json")
INTERRUPTED = 130  # the shell's status for SIGINT
_STAGING = ".readout-staging-"


def read_passages_tsv(path: Path) -> tuple[list[str], list[list[str]]]:
    """(passage labels, passages) from a TSV with columns `passage` and `word`, one row per word in reading order.

    Labels are kept as written (``01``, ``1`` and ``1.0`` are three passages); an empty, header-only or non-UTF-8
    file, a missing column, a blank label or word raise InvalidInputError naming the file and line.
    """
    from tuneshift.data.validate import read_table

    frame = read_table(path, sep="\t", what="passages TSV")
    missing = {"passage", "word"} - set(frame.columns)
    if missing:
        raise InvalidInputError(
            f"{path}: missing column(s) {sorted(missing)}; expected a header with `passage` and `word` "
            f"(one row per word, in order), got {list(frame.columns)}."
        )
    for column in ("passage", "word"):
        blank = (frame[column].str.strip() == "").to_numpy()
        if blank.any():
            row = int(blank.nonzero()[0][0]) + 2  # file line: the header is line 1
            raise InvalidInputError(f"{path}, row {row}: empty {column}; every row needs a non-blank `{column}`.")
    pairs = [(label, words.tolist()) for label, words in frame.groupby("passage", sort=False)["word"]]
    return [label for label, _ in pairs], [words for _, words in pairs]


def parse_layers(layers: str) -> str | list[int]:
    """--layers: "all", "none" (surprisal only, []) or comma-separated layer indices."""
    if layers in ("all", "none"):
        return "all" if layers == "all" else []
    try:
        return [int(part) for part in layers.split(",")]
    except ValueError:
        raise InvalidParameterError(
            "--layers", '"all", "none" or comma-separated layer indices', layers, "e.g. --layers 0,6,12"
        ) from None


def prepare_out_dir(out: Path) -> None:
    """Create --out if needed and prove it writable (a probe file), so a bad --out fails before the computation;
    remove staging folders of runs on this host that are no longer alive."""
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"--out {out} is a file; expected a directory (it will be created if missing).")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".readout-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise InvalidInputError(
            f"--out {out}: cannot write there ({error.strerror or error}); choose a writable directory."
        ) from None
    for stale in out.glob(f"{_STAGING}*"):
        if not _alive(stale.name):
            shutil.rmtree(stale, ignore_errors=True)


def _staging_name() -> str:
    return f"{_STAGING}{socket.gethostname()}-{os.getpid()}-"


def _alive(name: str) -> bool:
    """Whether the run that made staging folder `name` may still be writing (another host: assume it may)."""
    host, _, pid = name.removeprefix(_STAGING).rpartition("-")[0].rpartition("-")
    if host != socket.gethostname():
        return True
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _no_interrupt() -> Iterator[None]:
    """Hold Ctrl-C while files are moved into place (microseconds), then deliver it."""
    pending: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    except ValueError:  # not the main thread: signals cannot arrive here anyway
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if pending:
            raise KeyboardInterrupt


def publish(staging: Path, out: Path) -> list[str]:
    """Move this run's outputs from `staging` into `out` and remove the previous run's outputs it does not
    replace; returns the names published."""
    produced = [name for name in OUTPUTS if (staging / name).exists()]
    with _no_interrupt():
        for name in OUTPUTS:
            if name not in produced:
                (out / name).unlink(missing_ok=True)
        for name in produced:
            os.replace(staging / name, out / name)
    return produced


def readout(
    passages: Path = typer.Option(
        ..., exists=True, dir_okay=False, metavar="FILE", help="TSV with columns passage, word."
    ),
    out: Path = typer.Option(..., metavar="DIR", help="Output directory."),
    model: str = typer.Option(
        DEFAULT_MODEL, metavar="MODEL", help="Hub id, local directory, .gguf file or catalog name."
    ),
    random_init: bool = typer.Option(False, help="Same architecture with random weights (the control)."),
    seed: int = typer.Option(0, help="Seed of --random-init."),
    layers: str = typer.Option(
        "all", metavar="LIST", help='"all", "none" (surprisal only) or comma-separated layer indices.'
    ),
    pooling: str = typer.Option("last", metavar="NAME", help="last (the word's last token) or mean (over its tokens)."),
    dtype: str = typer.Option("float32", metavar="DTYPE", help="Model dtype: float32, bfloat16, float16."),
    device: str = typer.Option("cpu", metavar="DEVICE", help="cpu, cuda, mps or auto."),
    store_dtype: str = typer.Option("float32", metavar="DTYPE", help="Stored activation dtype: float32 or float16."),
    batch_size: int = typer.Option(8, min=1, help="Passages (windows) per forward pass."),
    max_context: int = typer.Option(0, min=0, help="Window length in tokens (0: the model's maximum)."),
    cache: bool = typer.Option(True, help="Reuse / store results in the activation cache."),
) -> None:
    """Read a passages TSV through a model.

    Writes OUT/words.csv (passage, word_index, word, n_tokens, surprisal_bits), OUT/activations.npy — a float
    array of shape (layers, words, hidden), rows in words.csv order, layer 0 = embeddings, i = block i — and
    OUT/layers.json (the layer indices stored along the first axis). Outputs of an earlier run in OUT are replaced,
    all together, when this run finishes.
    """
    labels, texts = read_passages_tsv(passages)
    chosen = parse_layers(layers)
    prepare_out_dir(out)
    published: list[str] = []
    try:
        from tuneshift.models import load_model
        from tuneshift.models.readout import read_out

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
        import numpy as np

        result.words = result.words.assign(passage=np.asarray(labels, dtype=object)[result.words["passage"]])
        staging = Path(tempfile.mkdtemp(prefix=_staging_name(), dir=out))
        try:
            result.save(staging)
            published = publish(staging, out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except KeyboardInterrupt:
        kept = [name for name in OUTPUTS if (out / name).exists()]
        if published:
            state = f"this run's {', '.join(published)} were saved in {out}"
        elif kept:
            state = f"nothing of this run was written; {out} still holds the previous run's {', '.join(kept)}"
        else:
            state = f"nothing was written to {out}"
        resume = " (finished readouts are reused from the activation cache)" if cache else ""
        console.print(f"[yellow]interrupted[/yellow]: {state}. Run the same command again to resume{resume}.")
        raise typer.Exit(INTERRUPTED) from None
    n_words = len(result.words)
    console.print(f"[green]{loaded.name}[/green]: {len(texts)} passages, {n_words} words -> {out}")
