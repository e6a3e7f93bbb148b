"""`--preset aw2023`: the paper's capability settings as options, overridable, with its deviations printed."""

from __future__ import annotations

import pytest

from tuneshift.benchmarks import BENCHMARKS
from tuneshift.benchmarks.capability import DEVIATIONS, PRESETS
from tuneshift.benchmarks.run import resolve_options
from tuneshift.cli.score import parse_option_flags
from tuneshift.errors import InvalidParameterError


def _benchmarks(*names: str) -> list:
    return [BENCHMARKS.get(name) for name in names]  # data need not be here: nothing runs


def test_the_preset_sets_the_papers_shots_for_the_benchmarks_chosen(capsys):
    options = parse_option_flags(["limit=3"], preset="aw2023", benchmarks=["MMLU", "WikiText2-nwp"])
    assert options == {"MMLU": {"num_fewshot": 5}, "limit": "3"}  # BBH not chosen: not set
    printed = capsys.readouterr().out
    assert "preset aw2023" in printed and printed.count("deviation:") == len(DEVIATIONS)
    resolved = resolve_options(_benchmarks("MMLU", "WikiText2-nwp"), options)
    assert resolved["MMLU"].num_fewshot == PRESETS["aw2023"]["MMLU"]["num_fewshot"] == 5
    assert resolved["MMLU"].limit == resolved["WikiText2-nwp"].limit == 3


def test_an_option_for_one_benchmark_overrides_the_preset():
    options = parse_option_flags(["MMLU:num_fewshot=0"], preset="aw2023", benchmarks=["MMLU", "BBH"])
    resolved = resolve_options(_benchmarks("MMLU", "BBH"), options)
    assert resolved["MMLU"].num_fewshot == 0 and resolved["BBH"].num_fewshot == 3
    assert resolved["BBH"].chain_of_thought is False


@pytest.mark.parametrize(
    ("preset", "benchmarks", "message"),
    [("aw2024", ["MMLU"], "one of aw2023"), ("aw2023", ["Tuckute2024-ridge"], "Add them with -b")],
)
def test_an_unknown_preset_or_one_that_sets_nothing_is_refused(preset, benchmarks, message):
    with pytest.raises(InvalidParameterError, match=message):
        parse_option_flags(None, preset=preset, benchmarks=benchmarks)
