"""HarnessLM, the lm-eval ``LM`` over a tuneshift model: one pass per multiple-choice question, rolling windows that
score every token once, and the same numbers as lm-eval's own Hugging Face backend (HFLM) on the same model."""

from __future__ import annotations

from pathlib import Path

import pytest
import transformers
from lm_eval.api.instance import Instance
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from tests._tiny import CORPUS, SPECIALS, build
from tuneshift.errors import InvalidParameterError
from tuneshift.models.harness import HarnessLM, rolling_windows
from tuneshift.models.load import load_model

FIXTURES = Path(__file__).parents[1] / "fixtures" / "capabilities"
#: a minimal chat template (role: content turns), so that chat-template scoring can be tested
CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant:{% endif %}"
)


def save_letter_model(root: Path) -> Path:
    """A tiny GPT-2 whose byte-level tokenizer holds " A".." D" as single tokens (as real tokenizers do), trained on
    the test corpus, the MMLU and BBH fixtures and answer lines; 512 positions; a minimal chat template."""
    texts = CORPUS + (FIXTURES / "mmlu.jsonl").read_text().splitlines()
    texts += [f"Answer: {letter}\n" for letter in "ABCD"] * 20
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=700, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(texts * 2, trainer)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    fast.chat_template = CHAT_TEMPLATE
    config = transformers.GPT2Config(
        vocab_size=len(fast), n_embd=32, n_layer=2, n_head=4, n_positions=512, bos_token_id=1, eos_token_id=2
    )
    directory = root / "letters-gpt2"
    build(config).save_pretrained(directory)
    fast.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def letter_model_dir(tmp_path_factory) -> Path:
    return save_letter_model(tmp_path_factory.mktemp("harness"))


def _requests(pairs: list[tuple[str, str]], kind: str = "loglikelihood") -> list[Instance]:
    return [Instance(kind, {}, pair, idx=i) for i, pair in enumerate(pairs)]


PROMPTS = (
    "The quick brown fox jumps over the lazy dog. Which animal sleeps?\nA. fox\nB. dog\nC. cat\nD. owl\nAnswer:",
    "Taste that fowl and those fish. What is there too?\nA. gold\nB. sand\nC. mud\nD. ice\nAnswer:",
)
QUESTIONS = [(prompt, letter) for prompt in PROMPTS for letter in (" A", " B", " C", " D")]


def test_one_pass_per_question_equals_one_pass_per_option(letter_model_dir):
    """Eight options of two questions: 2 forward rows instead of 8, the same log-likelihoods and greedy flags."""
    model = load_model(letter_model_dir)
    one = HarnessLM(model, batch_size=4, show_progress=False)
    each = HarnessLM(model, batch_size=4, one_pass=False, show_progress=False)
    fast, slow = one.loglikelihood(_requests(QUESTIONS)), each.loglikelihood(_requests(QUESTIONS))
    assert (one.forward_rows, each.forward_rows) == (2, 8)
    assert [greedy for _, greedy in fast] == [greedy for _, greedy in slow]
    # float32 forward passes of different batch shapes: equal to rounding (1e-5 nats)
    assert [lp for lp, _ in fast] == pytest.approx([lp for lp, _ in slow], abs=1e-5)
    # one of each question's four options is at most the greedy token; log-probabilities are proper (< 0)
    assert all(lp < 0 for lp, _ in fast) and sum(greedy for _, greedy in fast) <= 2


def test_loglikelihood_matches_lm_eval_hf_backend(letter_model_dir):
    """Single- and multi-token continuations, a context longer than the window (left-truncated alike)."""
    from lm_eval.models.huggingface import HFLM

    pairs = [*QUESTIONS[:4], ("If you were to journey to the North", " of England, you would come"), ("A", " valley")]
    pairs.append((" ".join(CORPUS) * 6, " moors."))  # > 512 tokens: truncated from the left by both
    reference = HFLM(pretrained=str(letter_model_dir), device="cpu", batch_size=3)
    ours = HarnessLM(load_model(letter_model_dir), batch_size=3, show_progress=False)
    expected, got = reference.loglikelihood(_requests(pairs)), ours.loglikelihood(_requests(pairs))
    assert [g for _, g in got] == [g for _, g in expected]
    assert [lp for lp, _ in got] == pytest.approx([lp for lp, _ in expected], abs=1e-5)


def test_rolling_matches_lm_eval_disjoint_windows(tiny_model_dirs):
    """A WikiText-2 excerpt of several windows (tiny LLaMA: 128 positions): lm-eval's rolling log-likelihood to
    1e-5 nats; with overlapping windows the total differs (more context) but stays finite and negative."""
    from lm_eval.models.huggingface import HFLM

    text = (FIXTURES / "wikitext2_test.txt").read_text()
    reference = HFLM(pretrained=str(tiny_model_dirs["llama"]), device="cpu", batch_size=4)
    ours = HarnessLM(load_model(tiny_model_dirs["llama"]), batch_size=4, show_progress=False)
    expected = reference.loglikelihood_rolling(_requests([(text,)], "loglikelihood_rolling"))
    got = ours.loglikelihood_rolling(_requests([(text,)], "loglikelihood_rolling"))
    assert ours.token_counts[text] > 3 * ours.max_length  # several windows
    assert got == pytest.approx(expected, abs=1e-5)
    strided = HarnessLM(load_model(tiny_model_dirs["llama"]), rolling_stride=32, show_progress=False)
    overlapping = strided.loglikelihood_rolling(_requests([(text,)], "loglikelihood_rolling"))
    assert overlapping[0] < 0 and abs(overlapping[0] - got[0]) > 1e-3


@pytest.mark.parametrize(("n", "window", "stride"), [(1, 4, None), (10, 4, None), (10, 4, 1), (13, 5, 3), (3, 8, 2)])
def test_rolling_windows_score_every_token_once(n, window, stride):
    tokens = list(range(100, 100 + n))
    spans = rolling_windows(tokens, 0, window, stride)
    scored = [token for _, continuation in spans for token in continuation]
    assert scored == tokens
    sequence = [0, *tokens]
    for context, continuation in spans:
        assert len(context) + len(continuation) <= window + 1  # the model sees at most `window` tokens
        start = sequence.index(continuation[0])
        assert context and context == sequence[start - len(context) : start]  # the tokens just before


def test_stride_none_is_lm_eval_windows():
    from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

    tokens = list(range(1, 40))
    expected = [make_disjoint_window(w) for w in get_rolling_token_windows(tokens, 0, 8, 1)]
    assert rolling_windows(tokens, 0, 8) == [tuple(map(list, pair)) for pair in expected]


def test_bad_settings_are_refused(tiny_models):
    with pytest.raises(InvalidParameterError, match="batch_size"):
        HarnessLM(tiny_models["llama"], batch_size=0)
    with pytest.raises(InvalidParameterError, match="rolling_stride"):
        HarnessLM(tiny_models["llama"], rolling_stride=10_000)


def test_generation_is_greedy_and_stops(tiny_models):
    """generate_until is lm-eval's (greedy, stop strings cut): two runs agree and no output holds a stop string."""
    lm = HarnessLM(tiny_models["llama"], batch_size=2, show_progress=False)
    requests = _requests([("The quick brown fox", {"until": ["\n\n", "Q"], "max_gen_toks": 8, "do_sample": False})])
    requests = [Instance("generate_until", {}, r.args, idx=0) for r in requests]
    first, second = lm.generate_until(requests), lm.generate_until(requests)
    assert first == second and isinstance(first[0], str) and "Q" not in first[0]
