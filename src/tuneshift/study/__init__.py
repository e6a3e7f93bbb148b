"""Studies over many models: the model zoo, base-vs-tuned comparisons, the statistics of Aw et al. 2023, figures."""

from tuneshift.study.zoo import REPORTED_KEYS, Zoo, ZooEntry, load_zoo

__all__ = ["REPORTED_KEYS", "Zoo", "ZooEntry", "load_zoo"]
