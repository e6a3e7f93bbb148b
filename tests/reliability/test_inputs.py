"""Bad numbers and misread inputs (issue 11): every case of the probe gets its error (naming file, line and column)
or its warning (saying how much), and the passages TSV of `readout` fails before any model loads."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from tuneshift.cli.readout import read_passages_tsv, readout
from tuneshift.data.naturalstories import bundled_path, load_naturalstories, load_token_logprobs
from tuneshift.data.validate import OUTLIER_RT_MS, check_neural_responses
from tuneshift.errors import InvalidInputError, InvalidParameterError
from tuneshift.models.subject import TokenLogprobs

WORDINFO = pd.read_csv(bundled_path("processed_wordinfo.tsv"), sep="\t", quoting=3, dtype=str, keep_default_na=False)
GPT3 = pd.read_csv(bundled_path("all_stories_gpt3.csv"), dtype=str, keep_default_na=False)


def write_tsv(path, frame: pd.DataFrame):
    frame.to_csv(path, sep="\t", index=False, quoting=3)
    return path


def with_cell(frame: pd.DataFrame, row: int, column: str, value: str) -> pd.DataFrame:
    changed = frame.copy()
    changed.loc[row, column] = value
    return changed


# ------------------------------------------------------------------------------------------------ reading times
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("inf", r"meanItemRT inf is not a possible reading time"),
        ("-500", r"meanItemRT -500.0 is not a possible reading time"),
        ("0", r"meanItemRT 0.0 is not a possible reading time"),
        ("1e12", r"meanItemRT 1000000000000.0 is not a possible reading time"),
        ("fast", r"meanItemRT 'fast' is not a number"),
    ],
)
def test_impossible_reading_times_name_file_line_column(value, reason, tmp_path):
    path = write_tsv(tmp_path / "rts.tsv", with_cell(WORDINFO, 41, "meanItemRT", value))
    with pytest.raises(InvalidInputError, match=rf"rts\.tsv, line 43: {reason}"):
        load_naturalstories(path)


def test_reading_time_outliers_warn_and_load(tmp_path):
    frame = with_cell(with_cell(WORDINFO, 7, "meanItemRT", "6000"), 9, "meanItemRT", "9000.5")
    with pytest.warns(UserWarning, match=rf"2 reading time\(s\) above {OUTLIER_RT_MS:,.0f} ms \(first: line 9, 6,000"):
        words = load_naturalstories(write_tsv(tmp_path / "rts.tsv", frame))
    assert words["mean_rt"].max() == 9000.5


def test_non_numeric_reader_count_names_the_column(tmp_path):
    path = write_tsv(tmp_path / "rts.tsv", with_cell(WORDINFO, 99, "nItem", "abc"))
    with (
        pytest.raises(InvalidInputError, match=r"rts\.tsv, line 101: nItem 'abc' is not a number"),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("error")  # no numpy RuntimeWarning on the way
        load_naturalstories(path)
    path = write_tsv(tmp_path / "rts.tsv", with_cell(WORDINFO, 5, "nItem", "2.5"))
    with pytest.raises(InvalidInputError, match=r"line 7: nItem '2.5' is not a positive whole number"):
        load_naturalstories(path)


def test_partial_file_warns_how_much_it_covers(tmp_path):
    path = write_tsv(tmp_path / "rts.tsv", WORDINFO.iloc[:100])
    with pytest.warns(UserWarning, match=r"rts\.tsv covers 100 of 10,256 .* \(1\.0%\)"):
        words = load_naturalstories(path)
    assert words["mean_rt"].notna().sum() == 100


def test_full_file_loads_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        words = load_naturalstories()
    assert words["mean_rt"].notna().all()


def test_duplicate_rows_are_refused_not_averaged(tmp_path):
    frame = pd.concat([WORDINFO, WORDINFO.iloc[[20]].assign(meanItemRT="900")], ignore_index=True)
    with pytest.raises(InvalidInputError, match=r"rts\.tsv: lines 22, 10258 are the same word \(item \d+, zone \d+\)"):
        load_naturalstories(write_tsv(tmp_path / "rts.tsv", frame))
    # "01" and "1" are the same story: a duplicate too, not a new word
    padded = pd.concat([WORDINFO, WORDINFO.iloc[[20]].assign(item="0" + WORDINFO["item"].iat[20])])
    with pytest.raises(InvalidInputError, match=r"lines 22, 10258 are the same word"):
        load_naturalstories(write_tsv(tmp_path / "rts.tsv", padded))


def test_per_reader_file_refuses_a_reader_twice_on_one_word(tmp_path):
    first = WORDINFO.iloc[:50][["word", "zone", "item"]]
    frame = pd.concat([first.assign(WorkerId="A", RT="300"), first.assign(WorkerId="B", RT="400")], ignore_index=True)
    with pytest.warns(UserWarning, match="covers 50 of 10,256"):
        words = load_naturalstories(write_tsv(tmp_path / "rts.tsv", frame))
    assert words.set_index(["story", "position"])["mean_rt"].dropna().eq(350.0).all()
    twice = pd.concat([frame, frame.iloc[[3]]], ignore_index=True)
    with pytest.raises(InvalidInputError, match=r"lines 5, 102 are the same reader and word \(WorkerId 'A'"):
        load_naturalstories(write_tsv(tmp_path / "rts.tsv", twice))


# -------------------------------------------------------------------------------------- token log-probabilities
def write_csv(path, frame: pd.DataFrame):
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("abc", r"logprob 'abc' is not a number"),
        ("-inf", r"logprob '-inf' is not the log of a probability"),
        ("0.5", r"logprob '0.5' is not the log of a probability"),
    ],
)
def test_bad_logprob_names_file_and_line(value, reason, tmp_path):
    path = write_csv(tmp_path / "davinci.csv", with_cell(GPT3, 200, "logprob", value))
    with pytest.raises(InvalidInputError, match=rf"davinci\.csv, line 202: {reason}"):
        TokenLogprobs.from_file(path)  # what `score --surprisal FILE` reads


def test_duplicate_token_rows_are_refused_not_summed(tmp_path):
    frame = pd.concat([GPT3.iloc[:300], GPT3.iloc[[150]], GPT3.iloc[300:]], ignore_index=True)
    with pytest.raises(InvalidInputError, match=r"davinci\.csv: lines 152, 302 are the same token"):
        load_token_logprobs(write_csv(tmp_path / "davinci.csv", frame))


def test_bad_offset_and_empty_token_file(tmp_path):
    with pytest.raises(InvalidInputError, match=r"line 12: offset '3.5' is not a whole number"):
        load_token_logprobs(write_csv(tmp_path / "p.csv", with_cell(GPT3, 10, "offset", "3.5")))
    (tmp_path / "h.csv").write_text("token,logprob,offset,story\n")
    with pytest.raises(InvalidInputError, match=r"h\.csv: the token log-probability file has a header .* but no rows"):
        load_token_logprobs(tmp_path / "h.csv")


def test_bundled_token_file_still_loads():
    tokens = load_token_logprobs()
    assert len(tokens) == 12_373 and tokens["logprob"].isna().sum() == 10
    assert tokens["logprob"].max() <= 0 and tokens["story"].between(1, 10).all()


# ------------------------------------------------------------------------------------------- neural responses
def test_constant_neural_responses_warn():
    rng = np.random.default_rng(0)
    targets = rng.normal(size=(40, 6))
    targets[:, [1, 4]] = 3.0
    with pytest.warns(
        UserWarning,
        match=r"Pereira: 2 of 6 neuroids have the same response to all 40 stimuli, e\.g\. "
        r"neuroid 'v1'",
    ):
        constant = check_neural_responses(targets, label="Pereira", neuroid_ids=[f"v{i}" for i in range(6)])
    assert constant.tolist() == [False, True, False, False, True, False]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not check_neural_responses(targets[:, [0, 2]], label="ok").any()
    with pytest.warns(UserWarning, match=r"6 of 6 .* \(all of them"):
        check_neural_responses(np.zeros((10, 6)), label="zeros")


# --------------------------------------------------------------------------------------------- passages TSV
def test_passage_labels_are_strings(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_text("passage\tword\n01\tThe\n01\tcat\n1\tA\n1\tdog\n1.0\tOne\n")
    labels, passages = read_passages_tsv(path)
    assert labels == ["01", "1", "1.0"]
    assert passages == [["The", "cat"], ["A", "dog"], ["One"]]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", r"p\.tsv: the passages TSV is empty"),
        (b"passage\tword\n", r"p\.tsv: the passages TSV has a header \(passage, word\) but no rows"),
        (b"passage\tword\n1\tThe\n1\tcaf\xe9\n", r"p\.tsv: line 3, byte 6: 0xe9 is not UTF-8"),
        (b"passage\tword\n\tThe\n", r"p\.tsv, row 2: empty passage"),
        (b"passage\ttoken\n1\tThe\n", r"p\.tsv: missing column\(s\) \['word'\]"),
    ],
)
def test_bad_passages_fail_before_any_model_loads(content, reason, tmp_path, monkeypatch):
    import tuneshift.models

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded before the input was checked")

    monkeypatch.setattr(tuneshift.models, "load_model", no_model)
    path = tmp_path / "p.tsv"
    path.write_bytes(content)
    app = typer.Typer()
    app.command()(readout)
    result = CliRunner().invoke(app, ["--passages", str(path), "--out", str(tmp_path / "out")])
    assert isinstance(result.exception, InvalidInputError), result.output
    with pytest.raises(InvalidInputError, match=reason):
        read_passages_tsv(path)


def test_bad_layers_fail_before_any_model_loads(tmp_path, monkeypatch):
    import tuneshift.models

    monkeypatch.setattr(tuneshift.models, "load_model", lambda *a, **k: pytest.fail("model loaded"))
    path = tmp_path / "p.tsv"
    path.write_text("passage\tword\n1\tThe\n")
    app = typer.Typer()
    app.command()(readout)
    result = CliRunner().invoke(app, ["--passages", str(path), "--out", str(tmp_path / "o"), "--layers", "1,x"])
    assert isinstance(result.exception, InvalidParameterError) and "--layers" in str(result.exception)
