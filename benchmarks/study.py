"""Benchmark: the study layer's overhead over scoring each model by hand, and the dry-run plan of the full zoo.

    python benchmarks/study.py [--repeats 2] [--benchmarks Tuckute2024-ridge Futrell2018-pearsonr]

1. The tiny study (three tiny random models of the test suite's configs + their random-init controls, two
   benchmarks = 12 tasks) run by ``run_study`` (local executor) vs the same work done by hand as `tuneshift score`
   does it, per model: ``load_model`` then ``score(model, benchmarks, out)``. Same process, activation cache off,
   the two alternated ``--repeats`` times; the minimum of each is compared (target: overhead ≤ 5 %).
2. The dry run of a study of all 33 zoo models of Aw et al. on the four benchmarks of the paper (132 tasks):
   ``load_study`` + ``plan_study`` wall time (the four LLaMA checkpoints the zoo has no hub id for get placeholder
   paths, as a user's zoo file would give them).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests._tiny import save_tiny  # the test suite's tiny models


def tiny_models(root: Path) -> dict[str, Path]:
    torch.manual_seed(0)
    return save_tiny(root, ["gpt2", "llama", "gpt_neox"])


def by_hand(paths: dict[str, Path], benchmarks: list[str], out: Path) -> float:
    from tuneshift.benchmarks import score
    from tuneshift.models import load_model

    start = time.perf_counter()
    for path in paths.values():
        for random_init in (False, True):
            model = load_model(path, random_init=random_init)
            score(model, benchmarks, out / f"{path.name}-{random_init}", cache=False, progress=False)
    return time.perf_counter() - start


def with_study(paths: dict[str, Path], benchmarks: list[str], out: Path) -> float:
    from tuneshift.study.run import load_study, run_study

    study_file = out.with_suffix(".yaml")
    models = [{"name": name, "spec": str(path)} for name, path in paths.items()]
    study_file.write_text(json.dumps({"models": models, "benchmarks": benchmarks, "controls": True,
                                      "options": {"cache": False}}))  # fmt: skip
    start = time.perf_counter()
    outcome = run_study(load_study(study_file), out, progress=False)
    seconds = time.perf_counter() - start
    assert outcome.done == 6 * len(benchmarks), outcome
    return seconds


def zoo_dry_run(root: Path) -> tuple[float, int, float]:
    from tuneshift.study.run import load_study, plan_study
    from tuneshift.study.zoo import load_zoo

    zoo = load_zoo()
    names = [name for name, entry in zoo.items() if entry.source == "aw2023"]
    unknown = [name for name in names if not zoo[name].spec]
    (root / "weights.yaml").write_text(
        "models:\n" + "".join(f"  {name}:\n    spec: /shared/models/{name}\n" for name in unknown)
    )
    study = root / "zoo-study.yaml"
    benchmarks = ["Pereira2018-linear", "Blank2014-linear", "Wehbe2014-ridge", "Futrell2018-pearsonr"]
    study.write_text(json.dumps({"models": names, "benchmarks": benchmarks, "zoo": ["weights.yaml"]}))
    start = time.perf_counter()
    plan = plan_study(load_study(study), root / "zoo-out")
    seconds = time.perf_counter() - start
    return seconds, len(plan.tasks), max(plan.memory.values()) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--benchmarks", nargs="+", default=["Tuckute2024-ridge", "Futrell2018-pearsonr"])
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["TUNESHIFT_CACHE"] = str(root / "cache")
        paths = tiny_models(root / "models")
        by_hand(paths, args.benchmarks, root / "warmup")  # imports, data loading and caches of the data files
        hand, study = [], []
        for repeat in range(args.repeats):
            hand.append(by_hand(paths, args.benchmarks, root / f"hand{repeat}"))
            study.append(with_study(paths, args.benchmarks, root / f"study{repeat}"))
        overhead = 100 * (min(study) - min(hand)) / min(hand)
        dry, n_tasks, largest = zoo_dry_run(root)
    print("| measurement | seconds |")
    print("|---|---:|")
    print(f"| 12 tasks by hand (load + score per model), min of {args.repeats} | {min(hand):.2f} |")
    print(f"| the same as a study (local executor), min of {args.repeats} | {min(study):.2f} |")
    print(f"| study overhead | {overhead:+.1f} % |")
    print(f"| dry-run plan of the 33-model zoo ({n_tasks} tasks; largest group {largest:.0f} GB) | {dry:.2f} |")
    print(json.dumps({"hand_s": hand, "study_s": study, "overhead_pct": overhead, "dry_run_s": dry}))


if __name__ == "__main__":
    main()
