"""`tuneshift explain attention|ffn`: Wu et al. (2023) global explanations of a model's attention heads (word
pairs) and FFN layers (principal-component concepts), optionally against its base model."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tuneshift._io import write_atomic, write_csv
from tuneshift.errors import InvalidParameterError

if TYPE_CHECKING:
    from tuneshift.models.load import LoadedModel

app = typer.Typer(help="Explain attention heads and FFN layers (Wu et al. 2023).", no_args_is_help=True)

MODEL_HELP = (
    "Model (the instruction-tuned one): local directory, .gguf file, hub id or catalog name (`tuneshift models list`)."
)
BASE_HELP = "Its base (pre-trained) model, to compare with."


def _layers(spec: str | None) -> list[int] | None:
    """'1,3,5-7' → [1, 3, 5, 6, 7]."""
    if not spec:
        return None
    try:
        out = []
        for part in spec.split(","):
            first, _, last = part.partition("-")
            out += list(range(int(first), int(last or first) + 1))
        return out
    except ValueError:
        raise InvalidParameterError("--layers", "layer numbers such as '1,3,5-7'", spec) from None


def _load_pair(model: str, base: str | None) -> dict[str, LoadedModel]:
    """role ("tuned", "base") → loaded model; warns when the base is not the same architecture (family, blocks,
    width), since a base/tuned comparison then compares different models."""
    from tuneshift.models import load_model

    loaded = {role: load_model(name) for role, name in (("tuned", model), ("base", base)) if name is not None}
    if "base" in loaded:
        shape = {role: (m.family.family, m.n_layers, m.hidden_size) for role, m in loaded.items()}
        if shape["base"] != shape["tuned"]:
            message = (
                f"--base {base} is not the tuned model's architecture (family, blocks, width: {shape['base']} vs "
                f"{shape['tuned']}); the comparison is between different models, not before and after tuning."
            )
            warnings.warn(message, stacklevel=2)
            typer.echo(f"warning: {message}", err=True)
    return loaded


def _stems(loaded: dict[str, LoadedModel]) -> dict[str, str]:
    """role → output file stem: the model's name made file-safe, with the role appended when two would clash."""
    stems = {role: re.sub(r"[^\w.-]+", "_", m.name) for role, m in loaded.items()}
    return {role: f"{stem}_{role}" for role, stem in stems.items()} if len(set(stems.values())) < len(stems) else stems


def _size(n_parameters: int) -> str:
    """The paper's Size column: 135M, 7B, 1.1B."""
    return f"{n_parameters / 1e9:.3g}B" if n_parameters >= 1e9 else f"{n_parameters / 1e6:.3g}M"


@app.command()
def attention(
    model: str = typer.Option(..., "--model", metavar="MODEL", help=MODEL_HELP),
    out: Path = typer.Option(..., "--out", metavar="DIR", help="Output folder."),
    base: str | None = typer.Option(None, "--base", metavar="MODEL", help=BASE_HELP),
    vocab: Path | None = typer.Option(
        None, "--vocab", metavar="FILE", help="word<TAB>frequency file (default: ShareGPT vocab)."
    ),
    word_vectors: Path | None = typer.Option(
        None,
        "--word-vectors",
        metavar="FILE",
        help="GloVe/word2vec text file (default: the model's own input embeddings).",
    ),
    layers: str | None = typer.Option(
        None,
        "--layers",
        metavar="LIST",
        help="Layers to explain, e.g. '1,3,5-7' (layer i = block i, as in `score`; default all).",
    ),
    groups: int = typer.Option(4, "--groups", help="Layer groups for the verb comparison (paper: 4)."),
) -> None:
    """Word pairs of every attention-head dimension → heads_<model>.tsv (the paper's format, its Layer column 0-based
    as the paper's); with --base, the
    instruction-verb vs frequent-verb comparison (verbs_tests.csv, verbs_shares.csv, verbs.png)."""
    from tuneshift.interpret import heads, knowledge, plots
    from tuneshift.interpret.vocab import load_vocabulary

    out.mkdir(parents=True, exist_ok=True)
    words = load_vocabulary(vocab)
    pairs = {}
    models = _load_pair(model, base)
    for (role, loaded), stem in zip(models.items(), _stems(models).values(), strict=True):
        dims, pairs[role] = heads.explain_heads(
            loaded,
            words,
            static_vectors=str(word_vectors) if word_vectors else None,
            layers=_layers(layers),
        )
        n_layers = loaded.n_layers
        paper = heads.to_paper_format(dims, loaded.name, _size(loaded.n_parameters))
        path = out / f"heads_{stem}.tsv"
        write_atomic(path, lambda tmp, frame=paper: frame.to_csv(tmp, sep="\t", index=False))
        typer.echo(f"{role}: {len(dims)} head dimensions, {len(pairs[role])} word pairs → {path}")
    if "base" in pairs:
        tests, shares = knowledge.compare_verbs(pairs["base"], pairs["tuned"], n_layers, n_groups=groups)
        write_csv(out / "verbs_tests.csv", tests)
        write_csv(out / "verbs_shares.csv", shares)
        plots.plot_verb_shares(shares, out / "verbs.png")
        typer.echo(tests.to_string(index=False))


@app.command()
def ffn(
    model: str = typer.Option(..., "--model", metavar="MODEL", help=MODEL_HELP),
    out: Path = typer.Option(..., "--out", metavar="DIR", help="Output folder."),
    base: str | None = typer.Option(None, "--base", metavar="MODEL", help=BASE_HELP),
    components: int = typer.Option(300, "--components", help="Principal components kept per layer (paper: 300)."),
    vocab: Path | None = typer.Option(
        None, "--vocab", metavar="FILE", help="word<TAB>frequency file (default: ShareGPT vocab)."
    ),
    labeler: str = typer.Option(
        "lexicon", "--labeler", metavar="NAME", help="lexicon (offline) or openai (chat endpoint)."
    ),
    endpoint: str | None = typer.Option(
        None, "--endpoint", metavar="URL", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1"
    ),
    labeler_model: str | None = typer.Option(
        None, "--labeler-model", metavar="NAME", help="Model name served at --endpoint."
    ),
    api_key_env: str = typer.Option(
        "OPENAI_API_KEY", "--api-key-env", metavar="NAME", help="Environment variable with the key."
    ),
    layers: str | None = typer.Option(
        None,
        "--layers",
        metavar="LIST",
        help="Layers to explain, e.g. '1,3,5-7' (layer i = block i, as in `score`; default all).",
    ),
    groups: int = typer.Option(8, "--groups", help="Layer groups for the category shares (paper: 8)."),
) -> None:
    """FFN concepts → ffn_<model>.csv (top words, variance share, labels) and the paper's TSV; category shares per
    layer group (ffn_shares.csv, ffn_levels.png, ffn_tasks.png) and, with --base, base vs tuned (ffn_compare.csv)."""
    from tuneshift.interpret import ffn as ffn_lib
    from tuneshift.interpret import plots
    from tuneshift.interpret.labelers import ChatLabeler, LexiconLabeler
    from tuneshift.interpret.vocab import load_vocabulary

    if labeler == "lexicon":
        annotator = LexiconLabeler()
    elif labeler == "openai":
        if not endpoint or not labeler_model:
            raise InvalidParameterError(
                "--endpoint/--labeler-model", "both, with --labeler openai", (endpoint, labeler_model)
            )
        annotator = ChatLabeler(endpoint, labeler_model, api_key_env=api_key_env)
    else:
        raise InvalidParameterError("--labeler", "lexicon | openai", labeler)
    out.mkdir(parents=True, exist_ok=True)
    words = load_vocabulary(vocab)
    labelled = {}
    models = _load_pair(model, base)
    for (role, loaded), stem in zip(models.items(), _stems(models).values(), strict=True):
        frame = ffn_lib.explain_ffn(loaded, words, n_components=components, layers=_layers(layers))
        labelled[role] = ffn_lib.label_components(frame, annotator)
        n_layers = loaded.n_layers
        write_csv(out / f"ffn_{stem}.csv", labelled[role])
        paper = ffn_lib.to_paper_format(frame, loaded.name, _size(loaded.n_parameters))
        write_atomic(out / f"ffn_{stem}.tsv", lambda path, frame=paper: frame.to_csv(path, sep="\t", index=False))
        typer.echo(f"{role}: {len(frame)} components, {int(labelled[role]['explainable'].sum())} explainable")
    shares = ffn_lib.category_shares(labelled, n_layers, n_groups=groups)
    write_csv(out / "ffn_shares.csv", shares)
    for scheme in ("level", "task"):
        plots.plot_category_shares(shares, out / f"ffn_{scheme}s.png", scheme=scheme)
    if "base" in labelled:
        compared = ffn_lib.compare_categories(shares)
        write_csv(out / "ffn_compare.csv", compared)
        typer.echo(compared.to_string(index=False))
