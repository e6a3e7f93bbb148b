"""`tuneshift explain ...`: what instruction tuning changed inside a model (Wu et al. 2023).

attribution: input→output attribution of one prompt/response; instructions: instruction scores from the paper's
attribution files or computed with a model, with the followed/unfollowed and base/tuned comparisons.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tuneshift._io import write_atomic, write_csv, write_json

if TYPE_CHECKING:
    from tuneshift.models.load import LoadedModel

app = typer.Typer(help="Explain what instruction tuning changed inside a model (Wu et al. 2023).", no_args_is_help=True)


def _load(model: str) -> LoadedModel:
    """The model named on the command line (every explain command loads through here)."""
    from tuneshift.models import load_model  # lazy: heavy, and owned by tuneshift.models

    return load_model(model)


@app.command()
def attribution(
    model: str = typer.Option(
        ..., metavar="MODEL", help="Hub id, local directory, .gguf file or catalog name (`tuneshift models list`)."
    ),
    prompt: str = typer.Option(..., metavar="TEXT", help="The prompt (instruction)."),
    response: str | None = typer.Option(
        None, metavar="TEXT", help="Response to explain; generated greedily when omitted."
    ),
    max_new_tokens: int = typer.Option(300, help="Length limit of a generated response."),
    chat_template: bool = typer.Option(False, help="Wrap the prompt in the tokenizer's chat template."),
    out: Path = typer.Option(..., metavar="DIR", help="Output folder."),
) -> None:
    """Write attribution.npy (raw I[n, m], prompt × response tokens), tokens.json and attribution.png."""
    from tuneshift.interpret.attribution import attribute
    from tuneshift.interpret.plots import plot_attribution

    result = attribute(
        _load(model), prompt=prompt, response=response, max_new_tokens=max_new_tokens, chat_template=chat_template
    )
    matrix = result.matrix.numpy()
    import numpy as np

    def save(path: Path) -> None:
        with open(path, "wb") as handle:
            np.save(handle, matrix)

    write_atomic(out / "attribution.npy", save)
    write_json(
        out / "tokens.json",
        {
            "text": result.text,
            "prompt_tokens": result.prompt_tokens,
            "response_tokens": result.response_tokens,
            "prompt_spans": result.prompt_spans,
            "response_spans": result.response_spans,
            "probabilities": result.probabilities.tolist(),
        },
    )
    plot_attribution(matrix, result.prompt_tokens, result.response_tokens, out / "attribution.png", title=model)
    typer.echo(f"{matrix.shape[0]} prompt × {matrix.shape[1]} response tokens → {out}")


@app.command()
def instructions(
    dataset: Path = typer.Option(..., exists=True, metavar="FILE", help="FinalDataset.tsv."),
    out: Path = typer.Option(..., metavar="DIR", help="Output folder."),
    attributions: list[Path] = typer.Option(
        None, metavar="DIR", help="ifa_<model> folder(s) of the paper's <ID>.pkl files."
    ),
    model: list[str] = typer.Option(
        None, metavar="MODEL", help="Compute attributions with this model instead (repeatable)."
    ),
    ratings: Path | None = typer.Option(
        None, exists=True, metavar="FILE", help="AnnotatedDataset.tsv (followed vs unfollowed)."
    ),
    base: str | None = typer.Option(None, metavar="NAME", help="Base model name for the base-vs-tuned comparison."),
    tuned: str | None = typer.Option(None, metavar="NAME", help="Tuned model name for the base-vs-tuned comparison."),
    ids: list[str] = typer.Option(None, metavar="ID", help="Only these sample IDs (with --model)."),
    limit: int | None = typer.Option(None, help="Only the first N samples (with --model)."),
    max_new_tokens: int = typer.Option(300, help="Length limit of generated responses (with --model)."),
    chat_template: bool = typer.Option(False, help="Wrap prompts in the tokenizer's chat template (with --model)."),
    plot: str | None = typer.Option(None, metavar="ID", help="Sample ID whose attribution heatmap to write."),
) -> None:
    """Write instruction_scores.csv (one row per sample) and summary.csv (per source and comparison)."""
    from tuneshift.interpret import instructions as ins
    from tuneshift.interpret import pickles

    samples = ins.load_final_dataset(dataset)
    rating_table = ins.load_ratings(ratings) if ratings else None
    frames = [pickles.score_attribution_dir(d, samples, rating_table) for d in attributions or []]
    if model:
        chosen = [s for s in samples if not ids or s.id in ids][:limit]
        for name in model:
            loaded = _load(name)
            generation = {"max_new_tokens": max_new_tokens, "chat_template": chat_template}
            frames.append(ins.score_with_model(loaded, chosen, model_name=name, **generation))
            if plot:
                _plot_model(loaded, name, next(s for s in samples if s.id == plot), out, generation)
    if not frames:
        raise typer.BadParameter("give --attributions DIR or --model M", param_hint="--attributions/--model")
    import pandas as pd

    scores = ins.join_ratings(pd.concat(frames, ignore_index=True), rating_table)
    summary = ins.summarize(scores, base, tuned)
    write_csv(out / "instruction_scores.csv", scores)
    write_csv(out / "summary.csv", summary)
    if plot:
        for directory in attributions or []:
            file = Path(directory) / f"{plot}.pkl"
            if file.exists():
                _plot_pickle(file, out / f"{plot}_{pickles.model_name_of(Path(directory))}.png")
    typer.echo(json.dumps({"samples": len(scores), "summary_rows": len(summary), "out": str(out)}))


def _plot_pickle(file: Path, path: Path) -> None:
    from tuneshift.interpret.pickles import load_attribution_pickle
    from tuneshift.interpret.plots import plot_attribution

    shipped = load_attribution_pickle(file)
    plot_attribution(shipped.explain, shipped.input_tokens, shipped.output_tokens, path, title=str(file))


def _plot_model(loaded: LoadedModel, name: str, sample, out: Path, generation: dict) -> None:
    from tuneshift.interpret.aggregate import sparsify
    from tuneshift.interpret.attribution import attribute
    from tuneshift.interpret.plots import plot_attribution

    result = attribute(loaded, prompt=sample.prompt, **generation)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    plot_attribution(
        sparsify(result.matrix.numpy(), threshold=0),
        result.prompt_tokens,
        result.response_tokens,
        out / f"{sample.id}_{safe}.png",
        title=f"{name}: {sample.id}",
    )


def _mount_internals() -> None:
    """`tuneshift explain attention|ffn` live in explain_internals; one `explain` group holds all four."""
    from tuneshift.cli import explain_internals

    app.registered_commands += explain_internals.app.registered_commands


_mount_internals()
