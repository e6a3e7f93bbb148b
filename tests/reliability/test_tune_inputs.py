"""Issue 25: tuning refuses options that would diverge or train nothing before any work starts, stops with a named
error (saving no model) when the loss or a weight becomes non-finite, and names non-UTF-8 data by file and line."""

from __future__ import annotations

import json
import math

import pytest
import typer
from typer.testing import CliRunner

from tuneshift.cli.tune import tune as tune_command
from tuneshift.errors import InvalidInputError, InvalidParameterError
from tuneshift.tune import RECORD, TrainingDivergedError, TuneOptions, load_dataset, tune


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("learning_rate", math.inf),
        ("learning_rate", math.nan),
        ("learning_rate", 0.0),
        ("learning_rate", -1.0),
        ("epochs", math.nan),
        ("epochs", math.inf),
        ("epochs", 0.0),
        ("epochs", -2.0),
        ("lora_dropout", 1.5),
        ("lora_dropout", 1.0),
        ("lora_dropout", -0.1),
        ("lora_dropout", math.nan),
        ("max_length", 1),
        ("max_length", 0),
        ("batch_size", 0),
        ("batch_size", 2.5),
        ("grad_accum", True),
        ("warmup_ratio", math.nan),
        ("weight_decay", math.inf),
        ("max_grad_norm", 0.0),
        ("lora_alpha", 0),
        ("max_steps", 0),
        ("save_every", 0),
        ("dtype", "float64"),
    ],
)
def test_out_of_range_options_are_refused_by_name(option, value):
    with pytest.raises(InvalidParameterError) as caught:
        TuneOptions(**{option: value})
    assert caught.value.parameter == option and repr(value) in str(caught.value)


def test_a_checkpoint_interval_longer_than_the_run_is_refused():
    with pytest.raises(InvalidParameterError, match=r"at most the number of steps \(10\)"):
        TuneOptions(max_steps=10, save_every=11)
    TuneOptions(max_steps=10, save_every=10)  # the last step is a checkpoint: allowed


@pytest.mark.parametrize(
    ("flag", "value", "named"),
    [
        ("--lr", "inf", "learning_rate"),
        ("--lr", "nan", "learning_rate"),
        ("--lr", "-1", "learning_rate"),
        ("--epochs", "nan", "epochs"),
        ("--lora-dropout", "1.5", "lora_dropout"),
        ("--max-length", "1", "max_length"),
    ],
)
def test_cli_refuses_before_loading_anything(tmp_path, flag, value, named):
    """The base does not exist: an option checked after the load would fail with 'model not found' instead."""
    app = typer.Typer()
    app.command()(tune_command)
    result = CliRunner().invoke(app, ["--base", str(tmp_path / "no-model"), "--out", str(tmp_path / "o"), flag, value])
    assert result.exit_code != 0 and isinstance(result.exception, InvalidParameterError), result.output
    assert f"Invalid value for '{named}'" in str(result.exception) and "\n" not in str(result.exception)
    assert not (tmp_path / "o").exists()


def test_diverging_loss_stops_and_saves_no_model(tiny_model_dirs, tmp_path):
    """Learning rate 1e30 (finite, so accepted): AdamW moves every LoRA weight by ~1e30 at step 2 (step 1 has
    learning rate 0 under warm-up), so step 3's forward pass overflows to NaN."""
    rows = []
    out = tmp_path / "diverged"
    options = TuneOptions(max_steps=6, learning_rate=1e30, save_every=2, batch_size=4, max_length=64)
    with pytest.raises(TrainingDivergedError, match=r"diverged at step 3/6: the loss is nan .*learning rate 1e\+30"):
        tune(str(tiny_model_dirs["llama"]), out, options=options, progress=False, on_step=rows.append)
    assert [row["step"] for row in rows] == [1, 2]
    assert not (out / RECORD).exists() and not list(out.glob("*.safetensors"))
    # the step-2 checkpoint held the weights (finite, ~1e30) that gave step 3 its NaN loss: it is deleted
    assert not (out / "checkpoints" / "step-000002").exists() and not list((out / "checkpoints").iterdir())


def test_non_finite_weight_stops_the_run(tiny_model_dirs, tmp_path, monkeypatch):
    """A finite loss and gradient but an update that leaves an infinite weight (an optimizer fault) is caught too."""
    import torch

    real_step = torch.optim.AdamW.step

    def poisoned_step(self, *args, **kwargs):
        result = real_step(self, *args, **kwargs)
        with torch.no_grad():
            self.param_groups[0]["params"][0].view(-1)[0] = math.inf
        return result

    monkeypatch.setattr(torch.optim.AdamW, "step", poisoned_step)
    with pytest.raises(TrainingDivergedError, match="step 1/3: a weight became non-finite"):
        tune(
            str(tiny_model_dirs["llama"]),
            tmp_path / "o",
            options=TuneOptions(max_steps=3, max_length=64),
            progress=False,
        )
    assert not (tmp_path / "o" / RECORD).exists()


def test_non_utf8_data_is_named_by_file_and_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    lines = [{"instruction": "Say hi.", "output": "Hi"}, {"instruction": "Name a drink.", "output": "Un café"}]
    path.write_bytes("\n".join(json.dumps(r, ensure_ascii=False) for r in lines).encode("latin-1"))
    with pytest.raises(InvalidInputError, match=rf"{path}:2: not UTF-8 text \(byte 0xe9 at column \d+\)"):
        load_dataset(path)
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(lines[1], ensure_ascii=False).encode())  # UTF-8 with a BOM: fine
    assert load_dataset(path).examples[0].output == "Un café"
