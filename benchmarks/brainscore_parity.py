"""Brain-Score parity: the same seeded inputs through Brain-Score Language's own metrics (old venv, subprocess)
and through tuneshift.metrics (this venv); prints both scores and fails if any pair differs by more than 1e-3.

    python benchmarks/brainscore_parity.py [--python /tmp/bs-venv/bin/python] [--write-json PATH]

Set up the old venv as described in benchmarks/README.md (## Metric).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from tuneshift.metrics import METRICS
from tuneshift.metrics._synthetic import synthetic_encoding_data

HERE = Path(__file__).parent
RUNNER = HERE / "brainscore" / "run_brainscore_metric.py"
TOLERANCE = 1e-3

#: name, Brain-Score metric, its crossvalidation_kwargs, our metric, our options, data shape (n, p, T, snr)
CASES = [
    ("linear shuffle p>n", "linear_pearsonr", {}, "linear_pearsonr", {}, (200, 400, 600, 1.0)),
    ("linear shuffle p<n", "linear_pearsonr", {}, "linear_pearsonr", {}, (200, 50, 600, 1.0)),
    (
        "ridge group (Pereira-ridge)",
        "ridge_pearsonr",
        {"split_coord": "story", "kfold": "group", "random_state": 1234},
        "ridge_pearsonr",
        {"cv": "group"},
        (200, 400, 600, 1.0),
    ),
    (
        "ridge group 8 (Blank-ridge)",
        "ridge_pearsonr",
        {"splits": 8, "split_coord": "story", "kfold": "group", "random_state": 1234},
        "ridge_pearsonr",
        {"cv": "group", "n_splits": 8},
        (160, 80, 300, 0.5),
    ),
    ("cka", "cka", {}, "cka", {}, (120, 300, 200, 1.0)),
    ("rsa (rdm)", "rdm", {}, "rsa", {}, (120, 300, 200, 1.0)),
]


def brainscore_score(python: str, features, targets, groups, metric: str, cv_kwargs: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "features.npy", features)
        np.save(Path(tmp) / "targets.npy", targets)
        np.save(Path(tmp) / "groups.npy", groups)
        out = Path(tmp) / "out.json"
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        subprocess.run([python, str(RUNNER), tmp, metric, json.dumps(cv_kwargs), str(out)], check=True, env=env)
        return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=os.environ.get("BRAINSCORE_PYTHON", "/tmp/bs-venv/bin/python"))
    parser.add_argument("--write-json", type=Path, default=None, help="record the numbers (for pinned tests)")
    args = parser.parse_args()
    rows, worst = [], 0.0
    print(f"{'case':32s} {'brainscore':>12s} {'tuneshift':>12s} {'|diff|':>10s}")
    for seed, (name, bs_metric, cv_kwargs, our_metric, options, (n, p, t, snr)) in enumerate(CASES):
        features, targets, groups = synthetic_encoding_data(n, p, t, snr=snr, seed=seed)
        theirs = brainscore_score(args.python, features, targets, groups, bs_metric, cv_kwargs)["score"]
        ours = METRICS.get(our_metric)(features, targets, groups=groups, **options).score
        diff = abs(theirs - ours)
        worst = max(worst, diff)
        rows.append({"case": name, "seed": seed, "shape": [n, p, t, snr], "brainscore": theirs, "tuneshift": ours})
        print(f"{name:32s} {theirs:12.8f} {ours:12.8f} {diff:10.2e}")
    print(f"max |diff| = {worst:.2e} (tolerance {TOLERANCE:g})")
    if args.write_json:
        args.write_json.write_text(json.dumps(rows, indent=1) + "\n")
    if worst > TOLERANCE:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
