"""Run Brain-Score Language's own metric on .npy inputs; executed by the OLD venv (numpy<2, xarray<2022.6).

Not part of tuneshift: called by benchmarks/brainscore_parity.py and benchmarks/metric.py through subprocess.
Uses the published wheels brainscore_language 2.3.0 / brainscore_core 2.5.0 unmodified (see benchmarks/README.md).

usage: python run_brainscore_metric.py INPUT_DIR METRIC CV_JSON OUTPUT_JSON
INPUT_DIR holds features.npy (stimuli × features), targets.npy (stimuli × neuroids), optional groups.npy.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
from brainscore_core.supported_data_standards.brainio.assemblies import NeuroidAssembly


def assembly(values, groups):
    n_stimuli, n_neuroids = values.shape
    return NeuroidAssembly(
        values,
        coords={
            "stimulus_id": ("presentation", np.arange(n_stimuli)),
            "story": ("presentation", groups),
            "neuroid_id": ("neuroid", np.arange(n_neuroids)),
            # a second neuroid coordinate, as in every packaged assembly (a lone one makes xarray's stack fail)
            "subject": ("neuroid", np.zeros(n_neuroids, dtype=int)),
        },
        dims=["presentation", "neuroid"],
    )


def load_metric(name, cv_kwargs):
    if name in ("linear_pearsonr", "ridge_pearsonr"):
        from brainscore_language.metrics.linear_predictivity import metric

        return getattr(metric, name)(crossvalidation_kwargs=cv_kwargs)
    if name == "cka":
        from brainscore_language.metrics.cka.metric import CKACrossValidated

        return CKACrossValidated(crossvalidation_kwargs=cv_kwargs or None)
    if name == "rdm":
        from brainscore_language.metrics.rdm.metric import RDMCrossValidated

        return RDMCrossValidated(crossvalidation_kwargs=cv_kwargs or None)
    raise SystemExit(f"unknown metric {name}")


def main(input_dir, metric_name, cv_json, output_json):
    inputs = Path(input_dir)
    features, targets = np.load(inputs / "features.npy"), np.load(inputs / "targets.npy")
    groups_path = inputs / "groups.npy"
    groups = np.load(groups_path) if groups_path.exists() else np.zeros(len(targets), dtype=int)
    metric = load_metric(metric_name, json.loads(cv_json))
    source, target = assembly(features, groups), assembly(targets, groups)
    start = time.perf_counter()
    score = metric(source, target)
    elapsed = time.perf_counter() - start
    raw = score.attrs.get("raw")
    out = {"score": float(score.values), "seconds": elapsed}
    if raw is not None and "split" in raw.dims:
        out["per_split"] = raw.median("neuroid").values.tolist() if "neuroid" in raw.dims else raw.values.tolist()
    Path(output_json).write_text(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:])
