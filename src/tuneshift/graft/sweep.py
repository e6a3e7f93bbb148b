"""Standard graft sweeps, scored through the ordinary benchmark runner, and the table of what each part recovers.

Sweeps walk the model's *units* bottom to top — ``embed``, every block (or every `group` blocks: ``block:0-2``),
``norm:final`` and ``head`` (left out when the head is the embedding tensor) — or the units given:

- ``leave-one-in``: the base with one unit from the tuned model;
- ``leave-one-out``: the tuned model with one unit restored to the base (direction "reverse");
- ``cumulative-bottom`` / ``cumulative-top``: the base with units 0..k / the top k+1 units from the tuned model;
- ``attn-ffn``: the base with the attention, the FFN or the norms of the block units from the tuned model
  (default: all blocks at once, ``attn:*`` vs ``ffn:*`` vs ``norm:*``);
- ``alpha``: base + α·(tuned − base) on the whole model (or on the units given), for each α.

``always`` parts (e.g. ``norm:final`` where the final norm carries most of a change) hold the tuned weights in every
hybrid of the sweeps, whatever the step asks; the default units leave out those that lie wholly within them. The
share keeps its definition against the base and the tuned model, and the table adds the *always baseline* (the base
with only the always parts tuned; sweep "ends", part "always"): a step's share minus the baseline's is what the step
adds on top of the always parts.

Every hybrid is a :class:`tuneshift.graft.hybrid.Graft` scored by :func:`tuneshift.benchmarks.run.score` into one
output directory: each (hybrid, benchmark) is a unit there, so an interrupted sweep resumes where it stopped and the
ends (base, tuned) are shared by all sweeps. The share of the base→tuned change a hybrid recovers is
``(hybrid − base) / (tuned − base)`` of the benchmark's score (best layer's raw score; the honest score is kept
beside it): 0 = no change carried, 1 = the whole change; NaN where tuned − base is no change. Its interval
(:mod:`tuneshift.graft.share`) resamples the benchmark's own paired units (stories, splits, neuroids, items: the
same draw for base, tuned and hybrid) and recomputes each score with the benchmark's own aggregate.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tuneshift._io import write_csv, write_json
from tuneshift.benchmarks.store import ResultStore
from tuneshift.errors import InvalidParameterError
from tuneshift.graft.hybrid import GraftPair
from tuneshift.graft.parts import PartMap, split_parts
from tuneshift.graft.share import N_BOOT, recovered

SWEEPS = ("leave-one-in", "leave-one-out", "cumulative-bottom", "cumulative-top", "attn-ffn", "alpha")
ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
TABLE, RECORD = "graft.csv", "graft.json"
TABLE_COLUMNS = [
    "sweep", "step", "part", "parts", "always", "direction", "alpha", "benchmark", "score", "honest", "base", "tuned",
    "share", "share_ci_low", "share_ci_high", "ci_from", "fingerprint", "unit_key", "seconds",
]  # fmt: skip


@dataclass(frozen=True)
class Step:
    """One hybrid of a sweep: `parts` (names given to :meth:`GraftPair.graft`) with `direction`, `alpha` and the
    `always` parts kept tuned; `part` is what the table shows (the unit added, left out, or reached)."""

    sweep: str
    step: int
    part: str
    parts: tuple[str, ...]
    direction: str = "forward"
    alpha: float = 1.0
    always: tuple[str, ...] = ()


def sweep_units(parts: PartMap, group: int = 1) -> list[str]:
    """The units a sweep walks, bottom to top: embed, the blocks `group` at a time, norm:final, head (untied)."""
    if group < 1:
        raise InvalidParameterError("group", "a whole number of blocks >= 1", group)
    blocks = []
    for first in range(0, parts.n_blocks, group):
        last = min(first + group, parts.n_blocks) - 1
        blocks.append(f"block:{first}" if first == last else f"block:{first}-{last}")
    return ["embed", *blocks, "norm:final"] + ([] if parts.tied_head else ["head"])


def sweep_steps(
    pair: GraftPair,
    sweep: str,
    *,
    units: Sequence[str] | None = None,
    group: int = 1,
    alphas: Sequence[float] = ALPHAS,
    always: Sequence[str] = (),
) -> list[Step]:
    """The hybrids of `sweep` (one of :data:`SWEEPS`) over `units` (default :func:`sweep_units`, less the units
    wholly within the `always` parts), each keeping `always` tuned."""
    if sweep not in SWEEPS:
        raise InvalidParameterError("sweep", f"one of {SWEEPS}", sweep)
    given = split_parts(units) if units else None
    kept = tuple(split_parts(always))
    for unit in [*(given or ()), *kept]:
        pair.parts.resolve(unit)  # an unknown part is refused before anything is scored
    held = set(pair.parts.resolve(kept))

    def free(defaults: list[str]) -> list[str]:
        return [unit for unit in defaults if not set(pair.parts.resolve(unit)) <= held]

    def step(i: int, part: str, parts: Sequence[str], **how: Any) -> Step:
        return Step(sweep, i, part, tuple(parts), always=kept, **how)

    if sweep == "alpha":
        label = ",".join(given) if given else "all"
        return [step(i, label, given or ["all"], alpha=float(a)) for i, a in enumerate(alphas)]
    if sweep == "attn-ffn":
        blocks = [u.split(":", 1)[1] for u in given or ["block:*"] if u.startswith("block:")]
        if not blocks:
            raise InvalidParameterError("parts", "block parts (block:I, ranges, block:*) for the attn-ffn sweep", given)
        pieces = [f"{kind}:{index}" for index in blocks for kind in ("attn", "ffn", "norm")]
        return [step(i, piece, [piece]) for i, piece in enumerate(pieces if given else free(pieces))]
    seq = given or free(sweep_units(pair.parts, group))
    if sweep == "leave-one-in":
        return [step(i, unit, [unit]) for i, unit in enumerate(seq)]
    if sweep == "leave-one-out":
        return [step(i, unit, [unit], direction="reverse") for i, unit in enumerate(seq)]
    if sweep == "cumulative-bottom":
        return [step(i, unit, seq[: i + 1]) for i, unit in enumerate(seq)]
    return [step(i, unit, seq[len(seq) - i - 1 :]) for i, unit in enumerate(reversed(seq))]


def end_steps(always: Sequence[str] = ()) -> list[Step]:
    """The reference hybrids: the base, the tuned model and, with `always` parts, the base with only those tuned."""
    kept = tuple(split_parts(always))
    baseline = [Step("ends", 2, "always", (), always=kept)] if kept else []
    return [Step("ends", 0, "base", ()), Step("ends", 1, "tuned", ("all",)), *baseline]


def run_sweeps(
    pair: GraftPair,
    sweeps: Sequence[str],
    benchmarks: Sequence[str],
    out_dir: str | Path,
    *,
    units: Sequence[str] | None = None,
    group: int = 1,
    alphas: Sequence[float] = ALPHAS,
    always: Sequence[str] = (),
    options: Mapping[str, Any] | None = None,
    cache: bool = True,
    progress: bool = True,
) -> pd.DataFrame:
    """Score the ends (base, tuned, the always baseline) and every hybrid of `sweeps` (`always` parts kept tuned in
    each) on `benchmarks` into `out_dir` (resumable), write there ``graft.json`` (the pair and the settings) and
    :func:`write_outputs` (graft.csv, figures, report.html), and return the table of :func:`graft_table` (one row
    per hybrid × benchmark; ``seconds``: its wall time here). `options`: benchmark options, as
    :func:`tuneshift.benchmarks.run.score` takes them."""
    from tuneshift.benchmarks.run import score

    steps = end_steps(always) + [
        step
        for sweep in sweeps
        for step in sweep_steps(pair, sweep, units=units, group=group, alphas=alphas, always=always)
    ]
    settings = {"sweeps": list(sweeps), "benchmarks": list(benchmarks), "units": split_parts(units or []),
                "group": group, "alphas": list(alphas), "always": split_parts(always),
                "options": dict(options or {})}  # fmt: skip
    write_json(Path(out_dir) / RECORD, {**pair.describe(), **settings})
    rows = []
    for step in steps:
        graft = pair.graft(step.parts, alpha=step.alpha, direction=step.direction, always=step.always)
        started = time.perf_counter()
        scored = score(graft, benchmarks, out_dir, options=options, cache=cache, progress=progress)
        seconds = time.perf_counter() - started
        for bench_label, key in scored.drop_duplicates("unit_key")[["benchmark", "unit_key"]].itertuples(index=False):
            rows.append({**asdict(step), "parts": ",".join(step.parts), "always": ",".join(step.always),
                         "benchmark": bench_label, "unit_key": key, "fingerprint": graft.fingerprint,
                         "seconds": seconds})  # fmt: skip
    table = graft_table(pd.DataFrame(rows), ResultStore(out_dir))
    write_outputs(table, out_dir)
    return table


def graft_table(steps: pd.DataFrame, store: ResultStore, *, n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """:data:`TABLE_COLUMNS` for `steps` (sweep, step, part, parts, always, direction, alpha, benchmark, unit_key,
    fingerprint, seconds; the ends' rows have sweep "ends", part "base" / "tuned" / "always"): scores read from the
    units in `store`."""
    units = {unit.key: unit for unit in store.units()}
    table = steps.assign(
        score=[units[k].summary["best_raw"] for k in steps["unit_key"]],
        honest=[units[k].summary.get("honest_raw", np.nan) for k in steps["unit_key"]],
    )
    ends = table[table["sweep"] == "ends"].set_index(["benchmark", "part"])
    shares = []
    for row in table.itertuples(index=False):
        base_unit, tuned_unit = (units[ends.loc[(row.benchmark, end), "unit_key"]] for end in ("base", "tuned"))
        shares.append(recovered(base_unit, tuned_unit, units[row.unit_key], store, n_boot=n_boot, seed=seed))
    table = pd.concat([table.reset_index(drop=True), pd.DataFrame(shares)], axis=1)
    return table[TABLE_COLUMNS]


def write_outputs(table: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """``graft.csv``, the figures (PNG + SVG) — one share heatmap per part sweep (``graft-<sweep>``), the α curves
    (``graft-alpha``) — and the report (``report.html``, :func:`tuneshift.report.write_graft_report`) in `out_dir`.
    Returns the paths written."""
    from tuneshift.report import write_graft_report
    from tuneshift.report.figures import alpha_curves, share_heatmap
    from tuneshift.study.figures import save_figure

    out_dir = Path(out_dir)
    written = [write_csv(out_dir / TABLE, table)]
    for sweep in [s for s in table["sweep"].unique() if s not in ("ends", "alpha")]:
        written += save_figure(share_heatmap(table, sweep), out_dir / f"graft-{sweep}")
    if (table["sweep"] == "alpha").any():
        written += save_figure(alpha_curves(table), out_dir / "graft-alpha")
    return [*written, write_graft_report(out_dir)]
