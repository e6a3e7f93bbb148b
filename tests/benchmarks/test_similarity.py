"""CKA and RDM variants of the neural benchmarks are registered, and their honest layer is chosen out of sample."""

from __future__ import annotations

import numpy as np

from tuneshift.benchmarks import BENCHMARKS, similarity


def test_variants_registered_once_for_each_linear_benchmark():
    names = set(BENCHMARKS.names())
    assert {"Pereira2018-cka", "Pereira2018-rdm", "Blank2014-cka", "Blank2014-rdm", "Tuckute2024-cka"} <= names
    assert "Tuckute2024-rdm" not in names  # one network-averaged response: no RDM
    assert BENCHMARKS.get("Pereira2018-cka").kind == "similarity"  # not predictivity: left out of brain averages
    assert similarity.register() == []  # idempotent


def test_honest_layer_is_chosen_on_the_other_subsets():
    # layer 0 spikes on subset 0 only: subset 0 cannot choose it by itself, the others are swayed by the spike
    per_split = np.array([[0.9, 0.1, 0.1, 0.1], [0.2, 0.3, 0.3, 0.3]])
    score, chosen = similarity._honest(per_split)
    assert chosen == [1, 0, 0, 0]
    assert score == np.mean([0.2, 0.1, 0.1, 0.1])  # below both layers' mean (0.3, 0.275): the choice costs


def test_default_run_leaves_out_capabilities_and_single_target_similarity():
    """`tuneshift score` with no -b runs neither MMLU/BBH/WikiText-2 (hours of CPU; asked for by name) nor CKA on
    Tuckute2024's single network-averaged target (degenerate), though both stay available by name."""
    from tuneshift.benchmarks.run import available_benchmarks, check_benchmarks

    default = {b.identifier for b in check_benchmarks(None)}
    assert {"BBH", "WikiText2-nwp", "Tuckute2024-cka"} <= set(available_benchmarks()) - default
    assert {"Tuckute2024-linear", "Tuckute2024-ridge", "Futrell2018-pearsonr", "Futrell2018-deltall"} <= default
    assert [b.identifier for b in check_benchmarks(["Tuckute2024-cka", "BBH"])] == ["Tuckute2024-cka", "BBH"]
