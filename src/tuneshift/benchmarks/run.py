"""Score one subject on benchmarks, writing each finished unit as it finishes and resuming an interrupted run.

Results live in a :class:`tuneshift.benchmarks.store.ResultStore`: one file per (subject fingerprint and variant,
benchmark, options, data) under ``out_dir/units/``, and ``out_dir/scores.csv`` (one row per model × benchmark ×
layer: :data:`SCORE_COLUMNS` plus extras and provenance columns) and ``out_dir/summary.json`` (per model and
benchmark: best layer, best raw and normalized score, honest score, provenance) assembled from them. A unit that
is already there is skipped; other options or another dtype add units, they never replace them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.markup import escape

from tuneshift.benchmarks import options as opts
from tuneshift.benchmarks._base import BENCHMARKS, KINDS, REPRESENTATION_KINDS, Benchmark, summarize
from tuneshift.benchmarks.store import ResultStore, Unit, data_digest, label, new_unit, unit_key
from tuneshift.errors import InvalidParameterError
from tuneshift.models.subject import ReadoutOptions, Subject

console = Console(stderr=True)
DEFAULT_VARIANT = {"dtype": "float32"}


def available_benchmarks(*, default_only: bool = False) -> list[str]:
    """Ids of the registered benchmarks whose data is on this machine (or bundled); `default_only`: those of them
    that run when no benchmark is named (:attr:`Benchmark.in_default`)."""
    return [
        name
        for name in BENCHMARKS
        if BENCHMARKS.get(name).available() and (BENCHMARKS.get(name).in_default or not default_only)
    ]


def resolve_options(benchmarks: Sequence[Benchmark], options: Mapping[str, Any] | None) -> dict[str, ReadoutOptions]:
    """Each benchmark's options from `options`: ``{name: value}`` applies to every benchmark that has the option
    (each name must be accepted by at least one), ``{benchmark_id: {name: value} | options}`` to that one."""
    options = dict(options or {})
    ids = {b.identifier for b in benchmarks}
    shared = {k: v for k, v in options.items() if k not in ids}
    for name in shared:
        if name in BENCHMARKS:
            raise InvalidParameterError("option", f"options of a chosen benchmark, one of {sorted(ids)}", name)
        if not any(name in opts.accepted(b.options) for b in benchmarks):
            accepted = sorted({n for b in benchmarks for n in opts.accepted(b.options)})
            raise InvalidParameterError("option", f"an option of the chosen benchmarks, one of {accepted}", name)
    resolved = {}
    for bench in benchmarks:
        mine = {k: v for k, v in shared.items() if k in opts.accepted(bench.options)}
        own = options.get(bench.identifier, {})
        own = dataclasses.asdict(own) if isinstance(own, ReadoutOptions) else own
        resolved[bench.identifier] = opts.build(bench.options, {**mine, **own}, benchmark=bench.identifier)
    return resolved


def check_benchmarks(
    names: Sequence[str] | None,
    *,
    layers: bool = True,
    kinds: Sequence[str] = KINDS,
    why: str = "",
    subject: str = "the subject",
) -> list[Benchmark]:
    """The benchmarks named (default: every available one of `kinds` that runs by default), checked before anything
    loads: refused by name when unknown, without data, not of `kinds` (`why` says why), or needing representations
    (neural, similarity) when the subject has none (``layers=False``: a token log-probability file). The one
    pre-load check of ``tuneshift score`` and of :func:`score`."""
    allowed = [k for k in kinds if layers or k not in REPRESENTATION_KINDS]
    if names:
        chosen = [BENCHMARKS.get(name) for name in names]
    else:
        chosen = [
            BENCHMARKS.get(n) for n in available_benchmarks(default_only=True) if BENCHMARKS.get(n).kind in allowed
        ]
    missing = [b.identifier for b in chosen if not b.available()]
    if missing:
        raise InvalidParameterError(
            "benchmark", "a benchmark whose data is present", missing, "Run `tuneshift data list` to see what is."
        )
    unfit = [b.identifier for b in chosen if b.kind not in kinds]
    if unfit:
        raise InvalidParameterError("benchmark", f"a {' or '.join(kinds)} benchmark ({why})", unfit)
    needing = [b.identifier for b in chosen if b.kind not in allowed]
    if needing:
        readable = [k for k in KINDS if k not in REPRESENTATION_KINDS]
        raise InvalidParameterError(
            "benchmark", f"a {' or '.join(readable)} benchmark ({subject} has no representations)", needing
        )
    return chosen


def score(
    subject: Subject,
    benchmarks: Sequence[str] | None = None,
    out_dir: str | Path | None = None,
    *,
    options: Mapping[str, Any] | None = None,
    cache: bool = True,
    progress: bool = True,
) -> pd.DataFrame:
    """Run `benchmarks` (default: every available one `subject` can take) on `subject`; return this run's score
    rows (with the ``unit_key`` of each: ``ResultStore(out_dir).units()`` holds their summaries, provenance and
    values; :func:`score_units` returns the units themselves).

    options: benchmark options (see :func:`resolve_options`), e.g. ``{"context": "stream"}`` or
    ``{"Futrell2018-pearsonr": {"sentences": "brainscore"}}``; ``tuneshift score --list`` shows each benchmark's.
    Without `out_dir` nothing is written and nothing is reused.
    """
    units = score_units(subject, benchmarks, out_dir, options=options, cache=cache, progress=progress)
    frames = [unit.scores.assign(model=unit.model, benchmark=unit.benchmark, unit_key=unit.key) for unit in units]
    return pd.concat(frames, ignore_index=True)


def score_units(
    subject: Subject,
    benchmarks: Sequence[str] | None = None,
    out_dir: str | Path | None = None,
    *,
    options: Mapping[str, Any] | None = None,
    cache: bool = True,
    progress: bool = True,
) -> list[Unit]:
    """:func:`score`, returning one :class:`~tuneshift.benchmarks.store.Unit` per benchmark: its score rows, summary
    and provenance, found in `out_dir` when finished there, else computed. A computed unit carries its per-unit
    ``values``; a found one leaves them on disk (``ResultStore(out_dir).values(unit)`` reads them)."""
    chosen = check_benchmarks(benchmarks, layers=bool(subject.layers), subject=subject.name)
    resolved = resolve_options(chosen, options)
    store = ResultStore(out_dir) if out_dir is not None else None
    variant = dict(subject.variant)
    model = label(subject.name, {k: v for k, v in variant.items() if DEFAULT_VARIANT.get(k) != v})
    units = []
    for bench in chosen:
        bench_options = resolved[bench.identifier]
        bench_label = label(bench.identifier, opts.changed(bench_options))
        digest = data_digest(bench.files())
        key = unit_key(subject.fingerprint, variant, bench.identifier, opts.keyed(bench_options), digest, bench.version)
        unit = store.find(bench.identifier, key, model) if store else None
        if unit is not None:
            again = f" (as {unit.provenance['same_as']})" if "same_as" in unit.provenance else ""
            console.print(f"[dim]{escape(bench_label)}: already scored{escape(again)} in {store.root}, skipped[/dim]")
        else:
            console.print(f"[bold]{escape(bench_label)}[/bold] on {escape(model)}")
            started = time.perf_counter()
            result = bench.run(subject, bench_options, cache=cache, progress=progress)
            wall_s = round(time.perf_counter() - started, 3)
            unit = new_unit(
                key,
                model,
                bench_label,
                result.scores.assign(model=model, benchmark=bench_label),
                summarize(result),
                values=result.values,
                benchmark_id=bench.identifier,
                kind=bench.kind,
                higher_is_better=bench.higher_is_better,
                version=bench.version,
                citation=bench.citation,
                wall_s=wall_s,
                fingerprint=subject.fingerprint,
                variant=variant,
                options=opts.keyed(bench_options),
                data_digest=digest,
                subject=dict(subject.describe()),
            )
            if store:
                store.save(unit)
            console.print(f"  {summary_line(unit.summary, bench.kind, bench.higher_is_better)}")
        units.append(unit)
    return units


def summary_line(best: dict, kind: str, higher_is_better: bool = True) -> str:
    """One benchmark's summary in words: what was scored (the best layer, the selected model units, or the model's
    output), its raw and normalized score, and the honest score."""
    text = f"{scored_label(best, kind, higher_is_better)}: raw {format_number(best['best_raw'])}"
    if best.get("ci_low") is not None:
        text += f" [{format_number(best['ci_low'])}, {format_number(best['ci_high'])}]"
    text += f", normalized {format_number(best['best_normalized'])}"
    if best.get("best_layer") is not None:
        text += f"; honest raw {format_number(best['honest_raw'])}"
    return text


def scored_label(best: dict, kind: str, higher_is_better: bool = True) -> str:
    """What a summary's score was measured on, named for people: ``best layer N``; ``selected model units``
    (``--units``); or the output by what the benchmark measures there — the surprisal of reading-time benchmarks
    (`kind` behavioral), the accuracy or loss (lower is better) of capabilities."""
    if best.get("best_layer") is not None:
        return f"best layer {best['best_layer']}"
    if best.get("scored") == "units":
        return "selected model units"
    if kind == "capability":
        return "output (accuracy)" if higher_is_better else "output (loss)"
    return "output surprisal"


def format_number(value: float | None, digits: int = 4) -> str:
    """A value for people: fixed digits, or "–" where there is none (no ceiling, no interval)."""
    return "–" if value is None or value != value else f"{value:.{digits}f}"
