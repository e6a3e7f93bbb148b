"""Data readers: every format becomes (instruction, input, output) examples; bad rows are named by file and line."""

from __future__ import annotations

import json

import pytest

from tuneshift.errors import DataNotFoundError, InvalidInputError
from tuneshift.tune import load_dataset
from tuneshift.tune.data import split_prompt

FINAL_HEADER = "ID\tPrompt\tResponse\tInstruct&Context\n"


def test_bundled_sets_are_complete_and_offline():
    seeds = load_dataset("seed-tasks")
    final = load_dataset("finaldataset")
    # 175 Self-Instruct seed tasks with one instance each; Wu et al.'s 632 prompts, none with an empty reference
    assert (len(seeds.examples), seeds.skipped_empty, seeds.format) == (175, 0, "seed-tasks")
    assert (len(final.examples), final.skipped_empty, final.format) == (632, 0, "finaldataset")
    assert seeds.sha256 == "7779004fa198fdf27cf70a159363879d8a26c53329e11b436af17b3941875f48"
    assert "shared" not in str(seeds.path) and seeds.path.parent.name == "bundled"
    assert sum(bool(e.input) for e in final.examples) == 65  # prompts with an "&&&" context


def test_alpaca_json_lines_empty_responses_and_bad_rows(tmp_path):
    records = [
        {"instruction": "Add the numbers.", "input": "2 and 3", "output": "5"},
        {"instruction": "Say hi.", "output": "Hi!"},
        {"instruction": "Nothing to say.", "input": "", "output": "  "},
    ]
    path = tmp_path / "alpaca.json"
    path.write_text(json.dumps(records, indent=1))
    data = load_dataset(path)
    assert data.format == "alpaca" and data.skipped_empty == 1
    assert [(e.instruction, e.input, e.output) for e in data.examples] == [
        ("Add the numbers.", "2 and 3", "5"),
        ("Say hi.", "", "Hi!"),
    ]
    assert data.examples[1].origin == f"{path}:7"  # json.dumps(indent=1) puts the second object on line 7

    records[1]["output"] = 3
    path.write_text(json.dumps(records, indent=1))
    with pytest.raises(InvalidInputError, match=rf"{path}:7: field 'output' must be a string"):
        load_dataset(path)

    lines = tmp_path / "data.jsonl"
    lines.write_text('{"instruction": "a", "output": "b"}\n\n{"instruction": "c", "input": "d"}\n')
    with pytest.raises(InvalidInputError, match=rf"{lines}:3: missing field 'output'"):
        load_dataset(lines)
    lines.write_text('{"instruction": "a", "output": "b"}\n{"instruction": "c", \n')
    with pytest.raises(InvalidInputError, match=rf"{lines}:2: not valid JSON"):
        load_dataset(lines, "jsonl")


def test_seed_tasks_give_one_example_per_instance(tmp_path):
    path = tmp_path / "seeds.jsonl"
    task = {
        "id": "t0",
        "instruction": "Classify.",
        "instances": [{"input": "x", "output": "A"}, {"input": "y", "output": ""}],
    }
    path.write_text(json.dumps(task) + "\n" + json.dumps({"id": "t1", "instruction": "Go.", "instances": []}) + "\n")
    with pytest.raises(InvalidInputError, match=rf"{path}:2: expected a non-empty list 'instances'"):
        load_dataset(path)
    path.write_text(json.dumps(task) + "\n")
    data = load_dataset(path)
    assert data.format == "seed-tasks" and data.skipped_empty == 1
    assert [(e.instruction, e.input, e.output, e.origin) for e in data.examples] == [
        ("Classify.", "x", "A", f"{path}:1#0")
    ]


def test_final_dataset_splits_instruction_from_context(tmp_path):
    path = tmp_path / "FinalDataset.tsv"
    rows = [
        "user_oriented_task_9\tFix the grammar./n/nInput: me go home/n/nOutput:\tI go home.\t"
        "Fix the grammar.|||Input: &&&me go home",
        "lima_author_1\tWrite a haiku about rain.\t\t",  # empty reference: skipped and counted
        "mtbench_3\tUse emojis./n/nInput: Cute cat/nplayful/n/nOutput:\t🐱\tUse emojis.&&&Cute cat|||playful",
    ]
    path.write_text(FINAL_HEADER + "\n".join(rows) + "\n")
    data = load_dataset(path)
    assert data.skipped_empty == 1
    assert [(e.instruction, e.input, e.output) for e in data.examples] == [
        ("Fix the grammar.", "me go home", "I go home."),
        ("Use emojis.", "Cute cat\nplayful", "🐱"),  # a context whose line breaks were written as "|||"
    ]
    path.write_text(FINAL_HEADER + "x\tAsk./n/nInput: a/n/nOutput:\tb\tAsk.&&&zzz\n")
    with pytest.raises(InvalidInputError, match=rf"{path}:2: the context after '&&&'"):
        load_dataset(path)
    path.write_text("Prompt\tResponse\nx\ty\n")
    with pytest.raises(InvalidInputError, match=rf"{path}:1: expected the header"):
        load_dataset(path)


def test_annotated_dataset_gives_one_example_per_prompt(tmp_path):
    path = tmp_path / "AnnotatedDataset.tsv"
    header = "File\tModel\tPrompt\tReference\tInstruct\tResponse\tRating\n"
    row = "t_0.pkl\t{model}\tSay why./n/nInput: sky/n/nOutput:\tIt scatters.\tSay why.&&&sky\tanswer\t4\n"
    path.write_text(header + row.format(model="vicuna_7B") + row.format(model="llama_7B"))
    data = load_dataset(path)
    assert [(e.instruction, e.input, e.output) for e in data.examples] == [("Say why.", "sky", "It scatters.")]


def test_split_prompt_without_context_drops_the_output_cue():
    assert split_prompt("Name three birds.\n\nOutput:", "", "f:1") == ("Name three birds.", "")


def test_missing_file_names_the_bundled_sets(tmp_path):
    with pytest.raises(DataNotFoundError, match="seed-tasks, finaldataset"):
        load_dataset(tmp_path / "nope.json")
