"""The paper's shipped attribution files: safe loading, offsets from pieces, and per-sample instruction scores
checked against an independent hand computation from the paper's definitions."""

from __future__ import annotations

import math
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from tuneshift.errors import InvalidInputError
from tuneshift.interpret.instructions import load_final_dataset, load_ratings
from tuneshift.interpret.pickles import load_attribution_pickle, piece_offsets, score_attribution_dir

WU = Path(__file__).parents[1] / "fixtures" / "wu2023"  # the paper's six shipped samples (GPL-3.0, see SOURCE.md)

# Instruction-token ranges (half-open, in Input pieces), read by hand from the pieces and the widened sentences.
HAND_RANGES = {
    "user_oriented_task_0": [(0, 45)],  # three instruction sentences, up to '.' before '<0x0A>'
    "user_oriented_task_1": [(0, 113)],
    "lima_author_1": [(0, 22), (199, 208)],  # first sentence + "Help me write the paper's introduction."
    "lima_author_2": [(0, 33)],
    "mtbench_coding_121": [(0, 27)],
    "mtbench_coding_122": [(0, 18)],
}
# Values of this hand computation on the shipped samples (llama_7b, vicuna_7b), to catch silent changes.
PINNED = {
    "user_oriented_task_0": (0.434620, 0.047338),
    "user_oriented_task_1": (0.072969, 1.648904),
    "lima_author_1": (0.880767, 1.342407),
    "lima_author_2": (1.934012, 2.769699),
    "mtbench_coding_121": (1.911768, 2.431538),
    "mtbench_coding_122": (1.630733, 0.927691),
}


def hand_score(explain: np.ndarray, ranges: list[tuple[int, int]]) -> float:
    """utils.compute_density(eps=7, p=4) then evaluate(): written out plainly."""
    x = explain.astype(np.float64).copy()
    x[x <= 7] = 0
    density = x.sum(1) / ((x**4).sum(1) ** 0.25 + 1e-9)
    density = density / (density.max() + 1e-9)
    chosen = [i for lo, hi in ranges for i in range(lo, hi)]
    return density[chosen].sum() / math.log2(2 + len(chosen))


def test_sample_scores_match_hand_computation():
    samples = load_final_dataset(WU / "FinalDataset.tsv")
    ratings = load_ratings(WU / "AnnotatedDataset.tsv")
    for column, model in enumerate(("llama_7b", "vicuna_7b")):
        directory = WU / "attributions_sample" / f"ifa_{model}"
        table = score_attribution_dir(directory, samples, ratings).set_index("id")
        assert set(table.index) == set(HAND_RANGES)
        for sample_id, ranges in HAND_RANGES.items():
            shipped = load_attribution_pickle(directory / f"{sample_id}.pkl")
            end = ranges[-1][1]
            assert end == len(shipped.input_tokens) or shipped.input_tokens[end] == "<0x0A>"
            expected = hand_score(shipped.explain, ranges)
            row = table.loc[sample_id]
            assert row.n_instruction_tokens == sum(hi - lo for lo, hi in ranges)
            assert math.isclose(row.score, expected, rel_tol=1e-5), (model, sample_id)
            assert math.isclose(expected, PINNED[sample_id][column], abs_tol=1e-6)
            assert row.source in {"Self-Instruct", "LIMA", "MT-Bench"}
            # AnnotatedDataset rates Vicuna's responses only (all six samples: 4)
            assert row.rating == 4.0 if model == "vicuna_7b" else np.isnan(row.rating)


def test_piece_offsets_bytes_and_spaces():
    pieces = ["▁caf", "<0xC3>", "<0xA9>", "<0x0A>", "Hi", "▁there"]
    text, spans = piece_offsets(pieces)
    assert text == " café\nHi there"
    # both bytes of "é" map to that one character
    assert spans == [(0, 4), (4, 5), (4, 5), (5, 6), (6, 8), (8, 14)]


def test_refuses_code_in_pickles(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"ID": os.system}))
    with pytest.raises(InvalidInputError, match=r"evil\.pkl: refused to unpickle posix\.system|evil\.pkl: refused"):
        load_attribution_pickle(path)
    good = tmp_path / "ok.pkl"
    explain = np.array([[0, 10], [8, 3]], dtype=np.float32)
    good.write_bytes(pickle.dumps({"ID": "x", "Input": ["▁a", "▁b"], "Output": ["▁c", "▁d"], "Explain": explain}))
    loaded = load_attribution_pickle(good)
    np.testing.assert_array_equal(loaded.explain, explain)
    Path(tmp_path / "bad.pkl").write_bytes(
        pickle.dumps({"ID": "x", "Input": ["▁a"], "Output": ["▁c"], "Explain": explain})
    )
    with pytest.raises(InvalidInputError, match=r"bad\.pkl: Explain has shape"):
        load_attribution_pickle(tmp_path / "bad.pkl")
