"""Studies over many models: the model zoo, base-vs-tuned comparisons, the statistics of Aw et al. 2023, figures.

Importing this package also registers the CKA and RDM variants of the neural benchmarks
(:mod:`tuneshift.study.similarity`).
"""

from tuneshift.study import similarity
from tuneshift.study.zoo import REPORTED_KEYS, Zoo, ZooEntry, load_zoo

__all__ = ["REPORTED_KEYS", "Zoo", "ZooEntry", "load_zoo", "similarity"]
