"""Parity with lm-evaluation-harness itself: a tiny model saved to a folder, scored by ``lm_eval.simple_evaluate``
with its ``hf`` backend and through tuneshift's capability benchmarks on the same local task files, gives the same
per-item answers, accuracies and rolling log-likelihoods."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from tests.models.test_harness import FIXTURES, save_letter_model

from tuneshift.benchmarks import BENCHMARKS
from tuneshift.benchmarks.capability import bbh_tasks, evaluate, mmlu_tasks, wikitext_task
from tuneshift.benchmarks.options import build
from tuneshift.data.bbh import load_bbh
from tuneshift.data.mmlu import load_mmlu
from tuneshift.data.wikitext2 import load_wikitext2
from tuneshift.models.load import load_model


@pytest.fixture(scope="module")
def letter_model_dir(tmp_path_factory) -> Path:
    return save_letter_model(tmp_path_factory.mktemp("parity"))


def _hf(directory: Path, tasks: list[dict], **kwargs) -> dict:
    """lm-eval's own Hugging Face backend on `tasks` (the reference)."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    return lm_eval.simple_evaluate(
        model="hf",
        model_args={"pretrained": str(directory)},
        tasks=tasks,
        task_manager=TaskManager(include_defaults=False),
        device="cpu",
        batch_size=4,
        log_samples=True,
        bootstrap_iters=0,
        **kwargs,
    )


def _run(name: str, directory: Path, **options):
    bench = BENCHMARKS.get(name)
    options = build(bench.options, options, benchmark=name)
    return bench.run(load_model(directory), options, cache=False, progress=False)  # no response cache: compute


def test_mmlu_one_shot_matches_lm_eval(letter_model_dir, tmp_path):
    """12 questions of 3 subjects, 1-shot (exemplar: the subject's first other question): the same choice per
    question and the same accuracies, overall and per category, as lm-eval's hf backend."""
    questions = load_mmlu(FIXTURES / "mmlu.jsonl")
    tasks = mmlu_tasks(questions, tmp_path)
    reference = _hf(letter_model_dir, list(tasks.values()), num_fewshot=1)
    result = _run("MMLU", letter_model_dir, data=str(FIXTURES / "mmlu.jsonl"), num_fewshot=1)
    expected = {}
    for subject, config in tasks.items():
        for sample in reference["samples"][config["task"]]:
            expected[f"{subject}/{sample['doc_id']}"] = "ABCD"[int(np.argmax([r[0] for r in sample["filtered_resps"]]))]
    values = result.values
    assert dict(zip(values["item"].values, values["prediction"].values, strict=True)) == expected
    scores = result.scores.set_index("measure")["raw"]
    for subject, config in tasks.items():
        assert scores[f"subject:{subject}"] == reference["results"][config["task"]]["acc,none"]
    assert scores["overall"] == pytest.approx(np.mean(values["correct"].values))
    assert result.details["forward_rows"] == len(questions)  # one pass per question


def test_bbh_task_matches_lm_eval(letter_model_dir, tmp_path):
    """BBH sports_understanding (6 examples, the release's file), 3-shot answer-only, greedy: the same generations
    and exact matches as lm-eval's hf backend."""
    examples = load_bbh(["sports_understanding"], task_dir=FIXTURES / "bbh")
    tasks = bbh_tasks(examples, tmp_path, chain_of_thought=False, max_gen_toks=8)
    reference = _hf(letter_model_dir, list(tasks.values()))
    result = _run("BBH", letter_model_dir, tasks="sports_understanding", task_dir=str(FIXTURES / "bbh"), max_gen_toks=8)
    samples = sorted(reference["samples"][tasks["sports_understanding"]["task"]], key=lambda s: s["doc_id"])
    assert list(result.values["prediction"].values) == [s["filtered_resps"][0] for s in samples]
    assert list(result.values["correct"].values) == [bool(s["exact_match"]) for s in samples]
    assert result.values["category"].values[0] == "world_knowledge"


def test_wikitext_rolling_loglikelihood_matches_lm_eval(tiny_model_dirs, tmp_path):
    """The first WikiText-2 test article on the tiny LLaMA (128 positions, so ~40 windows): with windows that do not
    overlap (stride = window) tuneshift's total log-likelihood equals lm-eval's loglikelihood_rolling to 1e-5."""
    directory = tiny_model_dirs["llama"]
    articles = load_wikitext2(FIXTURES / "wikitext2_test.txt")
    reference = _hf(directory, [wikitext_task(articles, tmp_path)])
    expected = reference["samples"]["tuneshift_wikitext2"][0]["filtered_resps"][0]
    result = _run("WikiText2-nwp", directory, data=str(FIXTURES / "wikitext2_test.txt"), window=128, stride=128)
    values = result.values
    total = float((values["loss"] * values["n_tokens"]).sum())
    assert -total == pytest.approx(expected, abs=1e-5)
    assert int(values["n_words"][0]) == 1091 and values["title"].values[0] == "Robert <unk>"
    scores = result.scores.set_index("measure")["raw"]
    assert scores["word_perplexity"] == pytest.approx(np.exp(total / 1091))
    # lm-eval's word_perplexity counts re.split(r"\s+") pieces, the leading/trailing empty strings included
    lm_eval_words = len(re.split(r"\s+", articles["text"][0]))
    reference_perplexity = reference["results"]["tuneshift_wikitext2"]["word_perplexity,none"]
    assert lm_eval_words == 1093 and reference_perplexity == pytest.approx(np.exp(total / lm_eval_words), rel=1e-6)


def test_mmlu_with_chat_template_matches_lm_eval(letter_model_dir, tmp_path):
    """chat_template=True: prompts go through the model's chat template (few-shot as multi-turn), as lm-eval's
    apply_chat_template does, with the same answers; the prompt differs from the plain one."""
    questions = load_mmlu(FIXTURES / "mmlu.jsonl")
    tasks = mmlu_tasks(questions, tmp_path)
    reference = _hf(letter_model_dir, list(tasks.values()), num_fewshot=1, limit=2, apply_chat_template=True)
    options = {"data": str(FIXTURES / "mmlu.jsonl"), "num_fewshot": 1, "limit": 2, "chat_template": True}
    result = _run("MMLU", letter_model_dir, **options)
    expected = []
    for config in tasks.values():
        samples = sorted(reference["samples"][config["task"]], key=lambda s: s["doc_id"])
        assert "assistant:" in samples[0]["arguments"][0][0]  # the template was applied
        expected += ["ABCD"[int(np.argmax([r[0] for r in s["filtered_resps"]]))] for s in samples]
    assert list(result.values["prediction"].values) == expected and result.details["chat_template"]


def test_evaluate_runs_any_local_lm_eval_task_on_a_tuneshift_model(letter_model_dir, tmp_path):
    """The adapter is a general lm-eval LM: lm-eval's MMLU task for one subject, run by evaluate() directly."""
    from tuneshift.models.harness import HarnessLM

    questions = load_mmlu(FIXTURES / "mmlu.jsonl")
    tasks = mmlu_tasks(questions[questions["subject"] == "marketing"], tmp_path)
    output = evaluate(HarnessLM(load_model(letter_model_dir), show_progress=False), list(tasks.values()))
    assert output["results"]["tuneshift_mmlu_marketing"]["sample_len"] == 4
