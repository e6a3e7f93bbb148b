"""The packaged zoo, user overrides, and malformed entries refused by file, line and field."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tuneshift.cli.zoo import app
from tuneshift.errors import InvalidInputError, UnknownNameError
from tuneshift.models.catalog import CATALOG
from tuneshift.study import load_zoo


def test_packaged_zoo_holds_the_paper_models_and_the_catalog():
    zoo = load_zoo()
    paper = [entry for entry in zoo.values() if entry.source == "aw2023"]
    assert len(paper) == 33 and sum(e.instruction_tuned for e in paper) == 21
    assert set(CATALOG.names()) <= set(zoo)
    vicuna = zoo["vicuna-13b"]
    assert (vicuna.spec, vicuna.base_model) == ("lmsys/vicuna-13b-v1.3", "llama-13b")
    assert (vicuna.params_b, vicuna.layers) == (13.0, 40)
    assert vicuna.reported == {
        "pereira2018": 0.423, "blank2014": 0.148, "wehbe2014": 0.116, "brain_avg": 0.229, "futrell2018": 0.184,
        "nwp_loss": 4.130, "mmlu": 0.521, "bbh": 0.387,
    }  # fmt: skip
    assert zoo["llama-7b"].spec is None  # the paper's exact checkpoint is unknown
    assert ("t5-xl", "flan-sharegpt-xl") in zoo.pairs() and len(zoo.pairs()) == 21
    with pytest.raises(UnknownNameError, match="vicuna-7b"):
        zoo["vicuna-7"]


def test_user_zoo_adds_and_overrides(tmp_path):
    user = tmp_path / "mine.yaml"
    user.write_text(
        "models:\n"
        "  llama-7b:\n"
        "    spec: /shared/weights/llama-7b\n"
        "    reported: {mmlu: 0.35}\n"
        "  my-tuned:\n"
        "    spec: ./my-tuned\n"
        "    family: llama\n"
        "    base_model: llama-7b\n"
        "    instruction_tuned: true\n"
        "    params_b: 6.7\n"
    )
    zoo = load_zoo([user])
    assert zoo["llama-7b"].spec == "/shared/weights/llama-7b"
    assert zoo["llama-7b"].reported["pereira2018"] == 0.405 and zoo["llama-7b"].reported["mmlu"] == 0.35
    assert zoo["llama-7b"].defined_at == f"{user}:2"
    assert ("llama-7b", "my-tuned") in zoo.pairs()


@pytest.mark.parametrize(
    ("body", "line", "field"),
    [
        ("  a:\n    params_b: -1\n", 3, "'params_b'"),
        ("  a:\n    family: t5\n    layer: 12\n", 4, "unknown field 'layer'. Did you mean 'layers'"),
        ("  a:\n    instruction_tuned: yes please\n", 3, "'instruction_tuned'"),
        ("  a:\n    reported:\n      mmlu: high\n", 4, "'reported.mmlu'"),
        ("  a:\n    reported: {brain: 0.2}\n", 3, "unknown reported value 'brain'"),
        ("  a: [1, 2]\n", 2, "not a mapping"),
        ("  a:\n    base_model: nowhere\n", 2, "'base_model': 'nowhere' is not in the zoo"),
        ("  a:\n    spec: [unclosed\n", 3, "not valid YAML"),
    ],
)
def test_malformed_entries_are_refused_with_file_line_and_field(tmp_path, body, line, field):
    path = tmp_path / "zoo.yaml"
    path.write_text("models:\n" + body)
    with pytest.raises(InvalidInputError) as error:
        load_zoo([path])
    assert str(error.value).startswith(f"{path}:{line}:") and field in str(error.value)


def test_zoo_cli_list_and_show(tmp_path):
    runner = CliRunner()
    listed = runner.invoke(app, ["list", "--where", "family=t5"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    assert "flan-alpaca-gpt4-xl" in listed.output and "vicuna" not in listed.output and "17 models" in listed.output
    shown = runner.invoke(app, ["show", "flan-t5-xl"])
    assert shown.exit_code == 0
    assert "base_model: t5-xl" in shown.output and "mmlu: 0.493" in shown.output and "zoo.yaml:" in shown.output
