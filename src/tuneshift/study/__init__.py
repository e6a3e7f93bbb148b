"""Studies over many models: the model zoo, base-vs-tuned comparisons, the statistics of Aw et al. 2023, figures.

The CKA and RDM variants of the neural benchmarks that comparisons use live with the other benchmarks
(:mod:`tuneshift.benchmarks.similarity`).
"""

from tuneshift.study.zoo import REPORTED_KEYS, Zoo, ZooEntry, load_zoo

__all__ = ["REPORTED_KEYS", "Zoo", "ZooEntry", "load_zoo"]
