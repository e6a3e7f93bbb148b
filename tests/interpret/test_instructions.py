"""FinalDataset parsing, sentence widening, token masks through offsets, scores and Welch tests."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tuneshift.errors import InvalidInputError
from tuneshift.interpret.aggregate import importance_density
from tuneshift.interpret.attribution import Attribution
from tuneshift.interpret.instructions import (
    base_vs_tuned,
    decode,
    followed_vs_unfollowed,
    instruction_mask,
    instruction_score,
    load_final_dataset,
    load_ratings,
    score_attribution,
    widen_instructions,
)

HEADER = "ID\tPrompt\tResponse\tInstruct&Context\n"


def write(tmp_path, rows, name="FinalDataset.tsv", header=HEADER):
    path = tmp_path / name
    path.write_text(header + "".join("\t".join(r) + "\n" for r in rows), encoding="utf8")
    return path


def test_decode_and_widening(tmp_path):
    assert decode('"say ""hi""/n/tnow"') == 'say "hi"\n\tnow'
    prompt = "Read the text. Then summarize it in one line!\nInput: The cat sat.\n\nOutput:"
    widened, context = widen_instructions("x", prompt, "summarize it|||Input: &&&The cat sat.")
    # fragment → whole sentence; "Input:" sentence loses the prefix (empty, skipped later); the empty fragment
    # after "Input: " matches the first prompt sentence (the paper's quirk)
    assert widened == ["Then summarize it in one line!", "", "Read the text."]
    assert context == "The cat sat."
    with pytest.raises(InvalidInputError, match="x: instruction fragment"):
        widen_instructions("x", prompt, "translate it")
    path = write(tmp_path, [("user_oriented_task_9", prompt.replace("\n", "/n"), "ok", "summarize it")])
    (sample,) = load_final_dataset(path)
    assert sample.source == "Self-Instruct" and sample.instructions == ["Then summarize it in one line!"]
    bad = write(tmp_path, [("a", "b")], name="bad.tsv")
    with pytest.raises(InvalidInputError, match=r"bad\.tsv:2"):
        load_final_dataset(bad)


def test_mask_uses_offsets_and_strips_edge_fillers():
    # text: 'Do it. "Write a poem" now'
    tokens = ["▁Do", "▁it", ".", '▁"', "Write", "▁a", "▁poem", '"', "▁now"]
    spans = [(0, 2), (2, 5), (5, 6), (6, 8), (8, 13), (13, 15), (15, 20), (20, 21), (21, 25)]
    mask = instruction_mask(spans, tokens, [(7, 21)])  # '"Write a poem"': the '▁"' edge piece is dropped
    assert mask.tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 0]
    density = np.array([0.1, 0.2, 0.3, 0.4, 1.0, 0.5, 0.25, 0.0, 0.9])
    assert math.isclose(instruction_score(density, mask), 1.75 / math.log2(6))


def test_score_attribution_with_real_tokenizer(tiny_models):
    tokenizer = tiny_models["llama"].tokenizer
    prompt, response = "Taste that fowl and those fish. The sea is blue.", "Waves are loud."
    text = prompt + " " + response
    enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
    n_prompt = sum(1 for a, _ in enc["offset_mapping"] if a < len(prompt))
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"])
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(n_prompt, len(tokens) - n_prompt)).astype(np.float32)
    attribution = Attribution(
        matrix=__import__("torch").from_numpy(matrix),
        prompt_tokens=tokens[:n_prompt],
        response_tokens=tokens[n_prompt:],
        prompt_spans=[tuple(s) for s in enc["offset_mapping"][:n_prompt]],
        response_spans=[],
        text=text,
        prompt=prompt,
        response=response,
        probabilities=None,
    )
    from tuneshift.interpret.instructions import Sample

    sample = Sample("lima_author_7", prompt, response, ["Taste that fowl and those fish."], "")
    score, n_instruction = score_attribution(attribution, sample)
    first_sentence = [i for i, (a, _) in enumerate(enc["offset_mapping"][:n_prompt]) if a < len(sample.instructions[0])]
    assert n_instruction == len(first_sentence) > 0
    expected = importance_density(matrix)[first_sentence].sum() / math.log2(2 + len(first_sentence))
    assert math.isclose(score, expected, rel_tol=1e-6)


def test_ratings_and_welch_tables(tmp_path):
    path = write(
        tmp_path,
        [("a.pkl", "vicuna_7B", "p", "r", "i", "o", "4")],
        name="AnnotatedDataset.tsv",
        header="File\tModel\tPrompt\tReference\tInstruct\tResponse\tRating\n",
    )
    assert load_ratings(path).to_dict("records") == [{"id": "a", "model": "vicuna_7b", "rating": 4.0}]
    scores = pd.DataFrame(
        {
            "id": [f"lima_author_{i}" for i in range(8)],
            "source": "LIMA",
            "model": "vicuna_7b",
            "score": [1.0, 1.2, 0.4, 0.5, 2.0, 9.0, 0.3, 0.2],
            "n_instruction_tokens": 3,
            "n_output_tokens": [10, 10, 10, 10, 10, 2, 10, 10],
            "rating": [4, 3, 1, 1, 2, 4, -1, 1],
        }
    )
    table = followed_vs_unfollowed(scores).set_index("group")
    # the 2-token output (9.0) and the unrated sample (0.3) are dropped
    assert table.loc["followed", "n"] == 3 and math.isclose(table.loc["followed", "mean"], 4.2 / 3)
    assert table.loc["unfollowed", "n"] == 3
    p = stats.ttest_ind([0.4, 0.5, 0.2], [1.0, 1.2, 2.0], equal_var=False, alternative="less").pvalue
    assert math.isclose(table.loc["followed", "p_value"], p)
    both = pd.concat([scores.assign(model="llama_7b", score=scores.score - 0.5), scores])
    table = base_vs_tuned(both, "llama_7b", "vicuna_7b").set_index("group")
    assert table.loc["llama_7b", "n"] == 8 and table.loc["vicuna_7b", "p_value"] < 0.5


def test_cli_instructions_from_shipped_files(tmp_path):
    from typer.testing import CliRunner

    from tuneshift.cli.explain import app

    wu = Path(__file__).parents[1] / "fixtures" / "wu2023"  # the six shipped samples (GPL-3.0, see SOURCE.md)
    sample = wu / "attributions_sample"
    result = CliRunner().invoke(
        app,
        [
            "instructions",
            "--dataset",
            str(wu / "FinalDataset.tsv"),
            "--ratings",
            str(wu / "AnnotatedDataset.tsv"),
            "--attributions",
            str(sample / "ifa_llama_7b"),
            "--attributions",
            str(sample / "ifa_vicuna_7b"),
            "--plot",
            "lima_author_2",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(tmp_path / "instruction_scores.csv")
    assert list(scores.columns) == [
        "id",
        "source",
        "model",
        "score",
        "n_instruction_tokens",
        "n_output_tokens",
        "rating",
    ]
    assert len(scores) == 12
    summary = pd.read_csv(tmp_path / "summary.csv")
    tuned = summary[(summary.comparison == "base_vs_tuned") & (summary.group == "vicuna_7b")].set_index("source")
    assert tuned.loc["LIMA", "n"] == 2
    assert math.isclose(
        tuned.loc["LIMA", "mean"], scores.query("model == 'vicuna_7b' and source == 'LIMA'").score.mean()
    )
    assert (tmp_path / "lima_author_2_vicuna_7b.png").stat().st_size > 1000


def test_cli_with_a_local_model(tmp_path, tiny_model_dirs):
    from typer.testing import CliRunner

    from tuneshift.cli.explain import app

    runner = CliRunner()
    out = tmp_path / "attr"
    result = runner.invoke(
        app,
        [
            "attribution",
            "--model",
            str(tiny_model_dirs["llama"]),
            "--prompt",
            "Write a short poem.",
            "--response",
            "The sea is blue.",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    matrix = np.load(out / "attribution.npy")
    import json

    tokens = json.loads((out / "tokens.json").read_text())
    assert matrix.shape == (len(tokens["prompt_tokens"]), len(tokens["response_tokens"])) and np.abs(matrix).max() > 0
    assert (out / "attribution.png").exists()
    dataset = write(
        tmp_path, [("mtbench_writing_1", "Write a short poem about the sea. Use rhyme.", "ok", "Write a short poem")]
    )
    result = runner.invoke(
        app,
        [
            "instructions",
            "--dataset",
            str(dataset),
            "--model",
            str(tiny_model_dirs["llama"]),
            "--max-new-tokens",
            "5",
            "--plot",
            "mtbench_writing_1",
            "--out",
            str(tmp_path / "m"),
        ],
    )
    assert result.exit_code == 0, result.output
    (row,) = pd.read_csv(tmp_path / "m" / "instruction_scores.csv").to_dict("records")
    assert row["source"] == "MT-Bench" and row["n_output_tokens"] >= 1 and row["n_instruction_tokens"] >= 4
    assert 0 <= row["score"]
