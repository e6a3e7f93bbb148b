"""The methods section, written from what the run recorded so that a figure can be cited: which weights
(fingerprint, source, dtype, device), which protocol as it ran (regression, splits and their seeds, the honest
layer choice actually used, options), which data (digests), which software (versions) and how long each step took.

Every fact comes from the run directory: the per-unit provenance the results store writes (``units/*.json``), the
score tables, and compare.json / study.json / the study's task files. A fact the run did not record is said to be
missing ("not recorded"), never filled in from the environment that renders the report.
"""

from __future__ import annotations

import json
import platform
from importlib import metadata

import pandas as pd

from tuneshift.errors import UnknownNameError
from tuneshift.report._embed import Table, table
from tuneshift.report._run import Run

MODEL_COLUMNS = [
    "model", "fingerprint", "spec", "source", "random_init", "seed", "quantization", "dtype", "device", "family",
    "n_parameters", "n_layers", "options", "readout",
]  # fmt: skip
SUBJECT_FIELDS = ("source", "fingerprint", "random_init", "seed", "dtype", "device", "family", "n_parameters",
                  "n_layers", "quantization")  # fmt: skip
VERSIONED = ("tuneshift", "torch", "transformers", "numpy", "scipy", "scikit-learn", "python")
NOT_RECORDED = "not recorded by this run"
BEST_AND_HONEST = (
    "Best layer: the layer with the highest cross-validated score, chosen on the test data (optimistic when many "
    "layers are scored). Honest: the layer chosen in each outer split on that split's training stimuli only (the "
    "method per benchmark is in the table below), its outer-test score averaged over splits. Normalized = raw / "
    "ceiling, clipped to [0, 1]; no ceiling, no normalized score."
)
HONEST_METHODS = {
    "loo": "leave-one-out predictions of each split's training stimuli (from the ridge GCV fit; no extra fit)",
    "inner": "inner {inner_splits}-fold CV on each split's training stimuli (grouped by passage/story where the "
    "dataset has groups; seed 0)",
    "other-subsets": "in each subset, the layer best on the mean of the other subsets",
    "none": "none (one score: the output surprisal, no layer chosen)",
}


def methods(run: Run) -> dict:
    """Tables and facts for the methods section: models, benchmarks (protocol as it ran, data, time), settings,
    software versions."""
    models = _models(run)
    return {
        "models": table(models, MODEL_COLUMNS + [c for c in models if c not in MODEL_COLUMNS], name="methods-models")
        if len(models)
        else None,
        "benchmarks": _benchmarks(run),
        "deviations": _capability_deviations(run),
        "protocol": BEST_AND_HONEST,
        "settings": {key: flat_value(value) for key, value in run.methods.get("settings", {}).items()},
        "environment": _environment(run),
    }


def _capability_deviations(run: Run) -> list[str]:
    """Where the capability protocols differ from Aw et al. 2023's (InstructEval), when the run scored one."""
    if not any(_kind(run, name) == "capability" for name in dict.fromkeys(run.summary.get("benchmark", []))):
        return []
    from tuneshift.benchmarks.capability import DEVIATIONS

    return list(DEVIATIONS)


def _models(run: Run) -> pd.DataFrame:
    """One row per model: what its units' provenance records (subject description), over what the tables carry."""
    rows = {row["model"]: dict(row) for row in run.methods.get("models", [])}
    for (model, _), unit in run.units.items():
        subject = unit.provenance.get("subject", {})
        recorded = {key: subject[key] for key in SUBJECT_FIELDS if subject.get(key) is not None}
        recorded["fingerprint"] = unit.provenance.get("fingerprint", recorded.get("fingerprint"))
        rows[model] = {**rows.get(model, {"model": model}), **recorded}
    frame = pd.DataFrame(list(rows.values()))
    return frame.drop(columns=[c for c in frame if frame[c].isna().all()]) if len(frame) else frame


def protocol(run: Run, benchmark: str) -> dict:
    """How `benchmark` was scored in this run: recorded by the benchmark (``details["protocol"]``) where it records
    it, else the registered protocol of its id with the splitters' defaults and the encoding's honest rule."""
    for (_, name), details in run.details.items():
        if name == benchmark and isinstance(details.get("protocol"), dict):
            return {**details["protocol"], "source": "recorded"}
    identifier = benchmark.split(" [")[0]
    from tuneshift.benchmarks.neural import PROTOCOLS, NeuralOptions, protocol_facts

    if identifier in PROTOCOLS:  # units scored before benchmarks recorded their protocol
        return {**protocol_facts(PROTOCOLS[identifier], NeuralOptions()), "source": "registered protocol"}
    kind = _kind(run, benchmark)
    if kind in ("neural", "similarity") and identifier.rsplit("-", 1)[-1] in ("cka", "rdm"):
        return {"regression": identifier.rsplit("-", 1)[-1], "cv": "10 random 90 % subsets", "split_seed": 1,
                "honest_method": "other-subsets", "source": "registered protocol"}  # fmt: skip
    if kind == "behavioral":
        return {"cv": "leave-one-story-out (ΔLL)", "bootstrap": "1000 draws resampling stories, seed 0",
                "honest_method": "none", "source": "registered protocol"}  # fmt: skip
    return {}


def _kind(run: Run, benchmark: str) -> str | None:
    from tuneshift.report._sections import benchmark_kind

    return benchmark_kind(run, benchmark)


def _benchmarks(run: Run) -> Table | None:
    recorded = run.methods.get("benchmarks", {})
    names = list(dict.fromkeys([*run.summary.get("benchmark", []), *recorded]))
    if not names:
        return None
    ceilings = run.summary.groupby("benchmark")["ceiling"].first() if len(run.summary) else pd.Series(dtype=float)
    rows = []
    for name in names:
        ran = protocol(run, name)
        honest = HONEST_METHODS.get(ran.get("honest_method", ""), ran.get("honest_method", ""))
        units = [unit for (_, b), unit in run.units.items() if b == name]
        row = {
            "benchmark": name,
            "kind": _kind(run, name),
            "protocol": _description(name),
            "regression": ran.get("regression"),
            "splits": _splits(ran),
            "honest layer": honest.format(inner_splits=ran.get("inner_splits", 5)) if honest else None,
            "ceiling": ceilings.get(name),
            "options": _distinct(json.dumps(u.provenance.get("options", {}), sort_keys=True) for u in units),
            "data digest": _distinct(u.provenance.get("data_digest") for u in units),
            "wall_s": _wall(units),
            **{key: flat_value(value) for key, value in recorded.get(name, {}).items()},
        }
        rows.append({k: v for k, v in row.items() if v not in (None, "")})
    return table(pd.DataFrame(rows), name="methods-benchmarks")


def _splits(ran: dict) -> str | None:
    if "cv" not in ran:
        return None
    text = f"{ran['cv']}" + (f", {ran['n_splits']} splits" if ran.get("n_splits") else "")
    return text + (f", seed {ran['split_seed']}" if ran.get("split_seed") is not None else "")


def _wall(units: list) -> str | None:
    """Seconds each unit's benchmark took, as recorded (one model: the number; several: their median and total)."""
    seconds = [float(u.provenance["wall_s"]) for u in units if u.provenance.get("wall_s") is not None]
    if not seconds:
        return NOT_RECORDED if units else None
    if len(seconds) == 1:
        return f"{seconds[0]:.1f}"
    return f"median {pd.Series(seconds).median():.1f}, total {sum(seconds):.1f}"


def _distinct(values) -> str | None:
    found = [str(v) for v in dict.fromkeys(values) if v]
    return "; ".join(found) if found else None


def _description(benchmark: str) -> str:
    """The registered benchmark's own description, or a note when it is not registered."""
    from tuneshift.benchmarks import BENCHMARKS  # registers every benchmark; imported only for the methods section

    try:
        return BENCHMARKS.get(benchmark.split(" [")[0]).description
    except UnknownNameError:
        return "(not a registered benchmark of this tuneshift version)"


def flat_value(value: object) -> object:
    """Nested values (a checksum per file, seeds) as one readable string."""
    if isinstance(value, dict):
        return "; ".join(f"{key}: {flat_value(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(str(flat_value(item)) for item in value)
    return value


def _environment(run: Run) -> dict:
    """Package versions as the run recorded them (per unit; differing versions are all listed), the missing ones
    said to be missing, and, apart, the versions of the environment rendering this report."""
    recorded: dict[str, list[str]] = {}
    for unit in run.units.values():
        versions = {"tuneshift": unit.provenance.get("tuneshift_version"), **unit.provenance.get("versions", {})}
        for package, version in versions.items():
            if version:
                recorded.setdefault(package, []).append(str(version))
    for package, version in (run.methods.get("environment") or {}).items():
        recorded.setdefault(package, []).append(str(version))
    items = {package: " / ".join(dict.fromkeys(found)) for package, found in recorded.items()}
    if run.units or recorded:
        items |= {package: NOT_RECORDED for package in VERSIONED if package not in items}
    rendering = {}
    for package in ("tuneshift", "matplotlib"):
        try:
            rendering[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    rendered = ", ".join(f"{k} {v}" for k, v in rendering.items()) + f", python {platform.python_version()}"
    return {"items": items, "rendered": rendered}
