"""The methods section, generated from the run so that a figure can be cited: which weights (fingerprint, source,
dtype, device, quantization), which protocol (regression, CV, seeds, ceiling), which data (checksums), which
software (package versions) and how long each benchmark took."""

from __future__ import annotations

import platform
from importlib import metadata

import pandas as pd

from tuneshift.errors import UnknownNameError
from tuneshift.report._embed import Table, table
from tuneshift.report._run import Run

PACKAGES = ("tuneshift", "torch", "transformers", "numpy", "scipy", "scikit-learn", "pandas", "himalaya", "gguf")
MODEL_COLUMNS = ["model", "fingerprint", "spec", "source", "quantization", "dtype", "device", "options", "readout"]
HONEST_PROTOCOL = (
    "Best layer: the layer with the highest cross-validated score, chosen on the test data (optimistic when many "
    "layers are scored). Honest: in each outer split an inner 5-fold CV on the training stimuli only (grouped by "
    "passage or story where the benchmark is) chooses the layer whose outer-test score is reported. Normalized = "
    "raw / ceiling, clipped to [0, 1]; no ceiling, no normalized score."
)


def methods(run: Run) -> dict:
    """Tables for the methods section: models, benchmarks (protocol, ceiling, data, time), environment."""
    models = pd.DataFrame(run.methods.get("models", []))
    return {
        "models": table(models, MODEL_COLUMNS + [c for c in models if c not in MODEL_COLUMNS]) if len(models) else None,
        "benchmarks": _benchmarks(run),
        "protocol": HONEST_PROTOCOL,
        "settings": {key: _flat(value) for key, value in run.methods.get("settings", {}).items()},
        "environment": _environment(run.methods.get("environment") or {}),
    }


def _benchmarks(run: Run) -> Table | None:
    recorded = run.methods.get("benchmarks", {})
    names = list(dict.fromkeys([*run.summary.get("benchmark", []), *recorded]))
    if not names:
        return None
    ceilings = run.summary.groupby("benchmark")["ceiling"].first() if len(run.summary) else pd.Series(dtype=float)
    rows = [
        {
            "benchmark": name,
            "protocol": _description(name),
            "ceiling": ceilings.get(name),
            **{key: _flat(value) for key, value in recorded.get(name, {}).items()},
        }
        for name in names
    ]
    return table(pd.DataFrame(rows))


def _description(benchmark: str) -> str:
    """The registered benchmark's own description (regression, CV scheme), or a note when it is not registered."""
    from tuneshift.benchmarks import BENCHMARKS  # registers every benchmark; imported only for the methods section

    try:
        return BENCHMARKS.get(benchmark).description
    except UnknownNameError:
        return "(not a registered benchmark of this tuneshift version)"


def _flat(value: object) -> object:
    """Nested values (a checksum per file, seeds) as one readable string."""
    if isinstance(value, dict):
        return "; ".join(f"{key}: {_flat(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(str(_flat(item)) for item in value)
    return value


def _environment(recorded: dict) -> dict:
    """Package versions the run recorded, or (said so) those of the environment rendering the report."""
    if recorded:
        return {"source": "recorded with the run", "items": {k: _flat(v) for k, v in recorded.items()}}
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    versions["python"] = platform.python_version()
    return {"source": "the run recorded none: versions of the environment that rendered this report", "items": versions}
