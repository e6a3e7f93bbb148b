"""Training on tiny models of the test families: the loss falls, the ablation removes exactly the instruction,
an interrupted run resumes to the very same weights, LoRA merges exactly, and T5 tunes too."""

from __future__ import annotations

import json
import signal

import numpy as np
import pytest
import torch
import typer
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer
from typer.testing import CliRunner

from tuneshift.cli.tune import tune as tune_command
from tuneshift.errors import InvalidParameterError
from tuneshift.models import load_model
from tuneshift.models.families import blocks_of
from tuneshift.tune import RECORD, TuneOptions, encode, load_dataset, lora_targets, prepare, prompt_text, tune
from tuneshift.tune.data import _decode, bundled_path
from tuneshift.tune.encode import IGNORE

FAST = dict(batch_size=4, max_length=64)


@pytest.fixture(scope="module")
def llama_with_head(tiny_model_dirs, tmp_path_factory):
    """The tiny LLaMA with its output layer scaled ×25 (weights std 0.02 → 0.5). A random head of std 0.02 caps
    every logit near ±0.1·√32, so no update of the blocks could lower the loss much below ln(vocab)."""
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dirs["llama"])
    with torch.no_grad():
        model.lm_head.weight.mul_(25)
    path = tmp_path_factory.mktemp("llama-head")
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(tiny_model_dirs["llama"]).save_pretrained(path)
    return path


def test_loss_goes_down_on_bundled_data_and_output_is_a_model(llama_with_head, tmp_path):
    out = tmp_path / "tuned"
    result = tune(
        str(llama_with_head), out, options=TuneOptions(max_steps=40, learning_rate=1e-2, **FAST), progress=False
    )
    loss = result.history["loss"].to_numpy()
    # 40 LoRA steps on the seed tasks: the first five steps average ~9.3 nats/token, the last five ~6.4; a model
    # that learned nothing would stay within the step-to-step noise (~0.3) of its start
    assert loss[-5:].mean() < loss[:5].mean() - 1.5
    record = json.loads((out / RECORD).read_text())
    base = load_model(llama_with_head)
    tuned = load_model(out)
    assert record["base"] == str(llama_with_head) and record["base_fingerprint"] == base.fingerprint
    assert tuned.fingerprint != base.fingerprint
    assert record["data"]["sha256"] == load_dataset("seed-tasks").sha256 and record["data"]["examples"] == 175
    assert record["steps"] == 40 and record["final_loss"] == pytest.approx(loss[-10:].mean())
    # rank 8 on q (32→32), k and v (32→16, grouped-query), FFN down (64→32), in both blocks: r·(in + out) each
    assert record["trainable_parameters"] == 2 * 8 * ((32 + 32) + 2 * (32 + 16) + (64 + 32))
    assert (out / "loss.png").stat().st_size > 1000 and len((out / "loss.csv").read_text().splitlines()) == 41
    assert not (out / "checkpoint").exists()
    # a rerun of a finished run returns it without training again
    again = tune(
        str(llama_with_head), out, options=TuneOptions(max_steps=40, learning_rate=1e-2, **FAST), progress=False
    )
    assert again.record["wall_time_s"] == record["wall_time_s"]


def _contains(sequence: list[int], sub: list[int]) -> bool:
    return any(sequence[i : i + len(sub)] == sub for i in range(len(sequence) - len(sub) + 1))


def _final_dataset_spans() -> dict[int, list[str]]:
    """Line number → the raw "|||"-separated instruction fragments of the bundled FinalDataset.tsv."""
    lines = bundled_path("finaldataset").read_text(encoding="utf8").split("\n")
    spans = {}
    for line_no, line in enumerate(lines[1:], start=2):
        if line.strip():
            instruction = _decode(line.split("\t")[3]).partition("&&&")[0]
            spans[line_no] = [s.strip() for s in instruction.split("|||") if len(s.strip().split(" ")) >= 3]
    return spans


@pytest.mark.parametrize("data", ["seed-tasks", "finaldataset"])
def test_drop_instruction_removes_every_instruction_token_and_keeps_the_examples(tiny_models, data):
    tokenizer = tiny_models["gpt2"].tokenizer  # byte-level: every character has tokens, none is <unk>
    dataset = load_dataset(data)
    spans = _final_dataset_spans() if data == "finaldataset" else {}
    found = {True: 0, False: 0}
    n_checked = 0
    for example in dataset.examples:
        fragments = spans.get(int(example.origin.rsplit(":", 1)[1]), []) if spans else [example.instruction]
        for drop in (False, True):
            encoded = encode(example, tokenizer, encoder_decoder=False, max_length=100_000, drop_instruction=drop)
            prompt_ids = [t for t, label in zip(encoded.input_ids, encoded.labels, strict=True) if label == IGNORE]
            for fragment in fragments:
                if fragment in example.input or fragment not in example.instruction:  # kept on purpose / a typo
                    continue
                # the fragment without its first and last word (their tokens merge with the neighbouring text);
                # byte-level BPE tokenizes each space-led word alone, so these ids are the ones inside the prompt
                inner_text = fragment[fragment.index(" ") : fragment.rindex(" ")]
                inner = tokenizer(inner_text, add_special_tokens=False)["input_ids"]
                found[drop] += _contains(prompt_ids, inner)
                n_checked += not drop
    # the same examples in both runs; the instruction's tokens are in every full prompt and in no ablated one
    assert found[False] == n_checked > 150
    assert found[True] == 0


def test_ablation_has_the_same_examples_order_and_responses(tiny_model_dirs, tmp_path):
    seen = {}
    for drop in (False, True):
        rows = []
        tune(
            str(tiny_model_dirs["llama"]),
            tmp_path / str(drop),
            options=TuneOptions(max_steps=3, drop_instruction=drop, batch_size=4, max_length=1024),
            progress=False,
            on_step=rows.append,
        )
        seen[drop] = rows
    assert len(seen[True]) == len(seen[False]) == 3
    # same response tokens, shorter prompts: fewer tokens per step without the instruction
    assert all(a["tokens"] > b["tokens"] for a, b in zip(seen[False], seen[True], strict=True))


def test_resume_after_interrupt_gives_the_same_weights(tiny_model_dirs, tmp_path):
    base = str(tiny_model_dirs["gpt2"])  # GPT-2: LoRA on Conv1D layers, and dropout on, so RNG state matters
    options = TuneOptions(max_steps=7, checkpoint_every=2, grad_accum=2, **FAST)
    whole = tune(base, tmp_path / "whole", options=options, progress=False)

    def ctrl_c_at_step_3(row: dict) -> None:
        if row["step"] == 3:
            signal.raise_signal(signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        tune(base, tmp_path / "resumed", options=options, progress=False, on_step=ctrl_c_at_step_3)
    assert (tmp_path / "resumed" / "checkpoint" / "state.pt").exists() and not (tmp_path / "resumed" / RECORD).exists()
    resumed = tune(base, tmp_path / "resumed", options=options, progress=False)
    np.testing.assert_array_equal(resumed.history["loss"], whole.history["loss"])
    first, second = (load_file(tmp_path / name / "model.safetensors") for name in ("whole", "resumed"))
    assert first.keys() == second.keys()
    for name in first:
        torch.testing.assert_close(second[name], first[name], rtol=0, atol=0)
    # and the tuned weights did move away from the base
    base_weights = load_file(tiny_model_dirs["gpt2"] / "model.safetensors")
    assert not torch.equal(
        first["transformer.h.0.attn.c_attn.weight"], base_weights["transformer.h.0.attn.c_attn.weight"]
    )


@pytest.mark.parametrize("family", ["llama", "gpt2", "t5"])
def test_lora_merged_equals_unmerged(tiny_model_dirs, family):
    loaded = load_model(tiny_model_dirs[family])
    torch.manual_seed(1)
    model = prepare(loaded.hf_model, TuneOptions(lora_dropout=0.0))
    with torch.no_grad():  # B starts at zero (LoRA is then the identity): give it values, as training would
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.5)
    model.eval()
    ids = loaded.tokenizer("The quick brown fox jumps over the lazy dog", return_tensors="pt")["input_ids"]
    kwargs = {"decoder_input_ids": ids[:, :5]} if family == "t5" else {}
    with torch.no_grad():
        before = model(input_ids=ids, **kwargs).logits
        merged = model.merge_and_unload()
        after = merged(input_ids=ids, **kwargs).logits
    assert not hasattr(merged, "peft_config")
    # float32 sums in another order: equal to ~1e-6 of logits of size ~1
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)


def test_lora_targets_follow_each_family_module_map(tiny_models):
    for family, loaded in tiny_models.items():
        targets = lora_targets(loaded.hf_model)
        n_blocks = len(blocks_of(loaded.hf_model))
        per_block = 2 if loaded.family.qkv else 4  # fused qkv + FFN down, or q, k, v + FFN down
        assert len(targets) == n_blocks * per_block, family
    t5 = lora_targets(tiny_models["t5"].hf_model)
    assert "decoder.block.2.layer.2.DenseReluDense.wo" in t5 and "encoder.block.0.layer.0.SelfAttention.q" in t5


def test_t5_tunes_and_loads(tiny_model_dirs, tmp_path):
    result = tune(
        str(tiny_model_dirs["t5"]),
        tmp_path / "t5",
        data="finaldataset",
        options=TuneOptions(max_steps=4, learning_rate=1e-2, **FAST),
        progress=False,
    )
    assert np.isfinite(result.history["loss"]).all() and result.record["steps"] == 4
    tuned = load_model(tmp_path / "t5")
    assert tuned.is_encoder_decoder and tuned.fingerprint != load_model(tiny_model_dirs["t5"]).fingerprint


def test_cli_runs_and_rejects_a_changed_rerun(tiny_model_dirs, tmp_path):
    app = typer.Typer()
    app.command()(tune_command)
    args = [
        "--base",
        str(tiny_model_dirs["opt"]),
        "--out",
        str(tmp_path / "o"),
        "--max-steps",
        "2",
        "--max-length",
        "48",
    ]
    result = CliRunner().invoke(app, [*args, "--quiet"])
    assert result.exit_code == 0, result.output
    assert "2 steps on 175 examples (0 with an empty response skipped)" in result.output
    changed = CliRunner().invoke(app, [*args, "--seed", "1", "--quiet"])
    assert changed.exit_code != 0 and "already holds a model tuned with another" in str(changed.exception)
    both = CliRunner().invoke(app, [*args, "--epochs", "1"])
    assert both.exit_code != 0 and "either epochs or max_steps" in str(both.exception)


def test_bfloat16_tuning_saves_bfloat16_weights(tiny_model_dirs, tmp_path):
    result = tune(
        str(tiny_model_dirs["llama"]),
        tmp_path / "bf16",
        options=TuneOptions(max_steps=2, dtype="bfloat16", **FAST),
        progress=False,
    )
    assert np.isfinite(result.history["loss"]).all()
    weights = load_file(tmp_path / "bf16" / "model.safetensors")
    assert weights["model.layers.0.self_attn.q_proj.weight"].dtype == torch.bfloat16


def test_chat_template_wraps_the_prompt_as_one_user_turn(tiny_models):
    tokenizer = tiny_models["llama"].tokenizer
    example = next(e for e in load_dataset("seed-tasks").examples if e.input.strip())
    with pytest.raises(InvalidParameterError, match="drop --chat-template"):
        prompt_text(example, tokenizer, drop_instruction=False, chat_template=True)
    tokenizer.chat_template = "{% for m in messages %}<s>[{{ m.role }}] {{ m.content }}{% endfor %}[assistant] "
    try:
        text = prompt_text(example, tokenizer, drop_instruction=True, chat_template=True)
        encoded = encode(example, tokenizer, encoder_decoder=False, max_length=4096, chat_template=True)
    finally:
        tokenizer.chat_template = None
    assert text == f"<s>[user] {example.input.strip()}[assistant] "
    assert encoded.input_ids.count(tokenizer.bos_token_id) == 1  # the template's <s>, none added on top


def test_a_tuned_folder_is_named_after_its_base_and_run(tiny_model_dirs, tmp_path):
    """Loaded from its folder, a tuned model is '<base> tuned (<run>, step N)', not the folder's name; a record
    written before runs were recorded names the run after the folder."""
    base = load_model(tiny_model_dirs["llama"])
    options = TuneOptions(max_steps=1, max_length=32)
    tune(tiny_model_dirs["llama"], tmp_path / "out", options=options, progress=False, run_name="arm-a")
    assert load_model(tmp_path / "out").name == f"{base.name} tuned (arm-a, step 1)"
    assert (
        load_model(tmp_path / "out", random_init=True).name == f"{base.name} tuned (arm-a, step 1):random-init(seed=0)"
    )
    record = json.loads((tmp_path / "out" / RECORD).read_text())
    (tmp_path / "out" / RECORD).write_text(json.dumps({k: v for k, v in record.items() if k != "run"}))
    assert load_model(tmp_path / "out").name == f"{base.name} tuned (out, step 1)"
