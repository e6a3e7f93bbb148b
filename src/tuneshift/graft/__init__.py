"""Grafting: hybrids of a base and a tuned model, scored like any model, to find where the change lives.

``GraftPair(base, tuned).graft("attn:*", alpha=1.0, direction="forward")`` is a Subject (see
:mod:`tuneshift.graft.hybrid`); part names come from :mod:`tuneshift.graft.parts`; standard sweeps, the
share-recovered table and its outputs (graft.csv, figures drawn by :mod:`tuneshift.report.figures`, report.html) from
:mod:`tuneshift.graft.sweep`; the share and its paired interval from :mod:`tuneshift.graft.share`.
"""

from tuneshift.graft.hybrid import Graft, GraftPair, check_pair
from tuneshift.graft.parts import PartMap, part_map
from tuneshift.graft.sweep import SWEEPS, graft_table, run_sweeps, sweep_steps, sweep_units, write_outputs

__all__ = [
    "SWEEPS",
    "Graft",
    "GraftPair",
    "PartMap",
    "check_pair",
    "graft_table",
    "part_map",
    "run_sweeps",
    "sweep_steps",
    "sweep_units",
    "write_outputs",
]
