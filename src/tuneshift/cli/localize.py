"""`tuneshift localize`: find a model's language network (sentences > non-words), and optionally score it on a
neural benchmark against random units, ablate it on Natural Stories, and compare it with a base model's."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tuneshift._io import write_csv
from tuneshift.cli._console import make_console
from tuneshift.errors import InvalidParameterError
from tuneshift.models.catalog import DEFAULT_MODEL

if TYPE_CHECKING:
    import pandas as pd

console = make_console(stderr=True)


def localize(
    out: Path = typer.Option(..., metavar="DIR", help="Output directory."),
    model: str = typer.Option(
        DEFAULT_MODEL, metavar="MODEL", help="Hub id, local directory, .gguf file or catalog name."
    ),
    random_init: bool = typer.Option(False, help="Same architecture with random weights (the control)."),
    seed: int = typer.Option(0, help="Seed of --random-init, and first seed of the random-unit controls."),
    top: str = typer.Option("1%", metavar="SHARE", help="Share of model units kept: 1% (or 0.01)."),
    per_layer: bool = typer.Option(False, help="Keep the top share of each layer instead of the whole model."),
    pooling: str = typer.Option(
        "mean", metavar="NAME", help="A stimulus's response: mean over its tokens, or last token."
    ),
    dtype: str = typer.Option("float32", metavar="DTYPE", help="Model dtype: float32, bfloat16, float16."),
    device: str = typer.Option("cpu", metavar="DEVICE", help="cpu, cuda, mps or auto."),
    cache: bool = typer.Option(True, help="Reuse / store readouts and statistics in the cache."),
    score: list[str] = typer.Option(
        [], "--score", metavar="ID", help="Neural benchmark to score the network on (repeatable)."
    ),
    n_random: int = typer.Option(5, min=0, help="Random model-unit masks of the network's size (controls)."),
    match: str = typer.Option(
        "model", metavar="NAME", help="Random units drawn over the whole model, or per layer (layer)."
    ),
    ablate: bool = typer.Option(False, help="Ablate the network and random units; Natural Stories surprisal."),
    ablation: str = typer.Option("zero", metavar="NAME", help="zero, or mean (the unit's mean localizer response)."),
    exclude_outliers: bool = typer.Option(
        False, help="Leave massive-activation dimensions out of the ablated network and random draws."
    ),
    stories: str = typer.Option(
        "all", metavar="LIST", help='Natural Stories stories to ablate on: "all" or 2+, e.g. "1,2,3".'
    ),
    words_per_story: int = typer.Option(0, min=0, help="Read only the first N words of each story (0: all)."),
    compare: Path | None = typer.Option(None, metavar="DIR", help="Output directory of the base model's localization."),
    progress: bool = typer.Option(True, help="Show progress."),
) -> None:
    """Localize the language network of a model with the Fedorenko 2010 localizer.

    Writes OUT/t_maps.npz (t, df, p, q, condition means, mask; (layers, hidden) each), OUT/mask.npz, OUT/layers.csv
    (units per layer), OUT/units.csv, OUT/localization.json and OUT/depth.png; with --score, OUT/network_scores.csv;
    with --ablate, OUT/ablation.csv; with --compare, OUT/pairs.csv.
    """
    from tuneshift.localize import Localization, parse_top
    from tuneshift.localize import localize as run_localizer
    from tuneshift.models import load_model

    fraction = parse_top(top)
    loaded = load_model(model, dtype=dtype, device=device, random_init=random_init, seed=seed)
    network = run_localizer(
        loaded,
        top=fraction,
        scope="layer" if per_layer else "model",
        pooling=pooling,
        cache=cache,
        progress=progress,
    )
    network.save(out)
    counts = network.per_layer()
    where = ", ".join(f"{r.layer}:{r.n_selected}" for r in counts.itertuples() if r.n_selected)
    dims = network.describe()["n_distinct_dimensions"]
    console.print(
        f"[green]{loaded.name}[/green]: {network.n_units} localized units of {network.t.size} model units, {dims} "
        f"distinct residual dimensions (layer:count {where})"
    )
    if score:
        from tuneshift.localize.scoring import score_network

        tables = [
            score_network(
                loaded, network, name, n_random=n_random, match=match, seed=seed, cache=cache, progress=progress
            )
            for name in score
        ]
        import pandas as pd

        scores = pd.concat(tables, ignore_index=True)
        write_csv(out / "network_scores.csv", scores)
        console.print(scores.to_string(index=False))
    if ablate:
        from tuneshift.localize.ablate import ablation_surprisal

        texts, words = _story_passages(stories, words_per_story)
        table = ablation_surprisal(
            loaded,
            texts,
            network.layers,
            network.mask,
            ablation=ablation,
            unit_mean=network.unit_mean,
            n_random=n_random,
            match=match,
            seed=seed,
            exclude_dimensions=network.outlier_dimensions() if exclude_outliers else (),
            reading_times=words,
            progress=progress,
        )
        write_csv(out / "ablation.csv", table)
        console.print(table.to_string(index=False))
    if compare is not None:
        from tuneshift.localize.pairs import compare_networks

        pairs = compare_networks(Localization.load(compare).select(network.top, network.scope), network)
        write_csv(out / "pairs.csv", pairs)
        console.print(pairs.tail(1).to_string(index=False))
    from tuneshift.report import write_localize_report

    console.print(f"report: {write_localize_report(out)}")


def _story_passages(stories: str, words_per_story: int) -> tuple[list[list[str]], pd.DataFrame]:
    """Natural Stories passages (one per story) restricted to `stories` and to their first words, and the corpus
    rows of those words (for the reading-time fit)."""
    from tuneshift.benchmarks.futrell2018 import passages
    from tuneshift.data.naturalstories import N_STORIES, load_naturalstories

    words = load_naturalstories()
    if stories != "all":
        try:
            chosen = sorted({int(s) for s in stories.split(",")})
        except ValueError:
            chosen = []
        if not chosen or chosen[0] < 1 or chosen[-1] > N_STORIES:
            raise InvalidParameterError("stories", f'"all" or comma-separated story numbers in 1..{N_STORIES}', stories)
        words = words[words["story"].isin(chosen)]
    if words_per_story:
        words = words[words["word_index"] < words_per_story]
    return passages(words, "story"), words.reset_index(drop=True)
