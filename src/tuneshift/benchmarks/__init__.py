"""Benchmarks: dataset + readout + metric + ceiling, registered under Brain-Score-style ids.

>>> from tuneshift.benchmarks import BENCHMARKS, score
>>> BENCHMARKS.names()  # doctest: +SKIP
"""

from tuneshift.benchmarks import capability, futrell2018, neural, similarity, wehbe2014
from tuneshift.benchmarks._base import BENCHMARKS, SCORE_COLUMNS, Benchmark, BenchmarkResult, score_rows
from tuneshift.benchmarks.run import available_benchmarks, score

__all__ = [
    "BENCHMARKS",
    "SCORE_COLUMNS",
    "Benchmark",
    "BenchmarkResult",
    "available_benchmarks",
    "capability",
    "futrell2018",
    "neural",
    "score",
    "score_rows",
    "similarity",
    "wehbe2014",
]
