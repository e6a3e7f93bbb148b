"""The one-pass readout equals Brain-Score's per-prefix reference, for every family, and handles bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests._tiny import CAUSAL_FAMILIES
from tuneshift.errors import InvalidInputError, InvalidParameterError
from tuneshift.models.readout import read_out
from tuneshift.models.reference import read_out_per_prefix
from tuneshift.models.text import join_words

PASSAGES = [
    ["If", "you", "were", "to", "journey", "to", "the", "North", "of", "England", ",", "you", "would", "come", "."],
    ["Résumé", "naïve", "café", "—", "3.14", "!"],
    ["Taste", "that", "fowl", "and", "those", "fish", "."],
]


def own_tokens(words) -> np.ndarray:
    """Words that, like the word before them, have tokens of their own. Where a token spans two words (the tiny
    SentencePiece-style tokenizer merges "England,"), the per-prefix reference tokenizes the earlier word's prefix
    differently from the full text, so the two readouts cannot agree there; the one-pass readout documents its
    choice (the spanning token belongs to the later word) and test_token_spanning_two_words checks it."""
    n_tokens = words["n_tokens"].to_numpy()
    previous = words.groupby("passage")["n_tokens"].shift(1, fill_value=1).to_numpy()
    return (n_tokens > 0) & (previous > 0)


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def test_join_words_follows_brainscore():
    text, spans = join_words(["England", ",", "you", "would", "come", ".", "Hi", "!"])
    assert text == "England, you would come. Hi!"
    assert [text[s:e] for s, e in spans] == ["England", ",", "you", "would", "come", ".", "Hi", "!"]


@pytest.mark.parametrize("family", CAUSAL_FAMILIES)
def test_one_pass_equals_per_prefix_reference(tiny_models, family):
    model = tiny_models[family]
    fast = read_out(model, PASSAGES, cache=False, progress=False, batch_size=2)
    words, reference = read_out_per_prefix(model, PASSAGES)
    assert fast.activations.shape == (model.n_layers + 1, sum(map(len, PASSAGES)), model.hidden_size)
    comparable = own_tokens(fast.words)
    assert comparable.mean() > 0.8
    # float32 forward passes of different lengths and padding: 1e-4 relative is the bound.
    assert relative_error(fast.activations[:, comparable], reference[:, comparable]) < 1e-4
    np.testing.assert_allclose(
        fast.words["surprisal_bits"][comparable], words["surprisal_bits"][comparable], rtol=1e-4, atol=1e-4
    )
    first = fast.words.groupby("passage").head(1)
    assert first["surprisal_bits"].isna().all()
    rest = fast.words.drop(first.index)
    assert (rest["surprisal_bits"][rest["n_tokens"] > 0] > 0).all()


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_windows_give_every_word_its_left_context(tiny_models, family):
    """With a window shorter than the passage, each word is read with at least min_context tokens of context:
    its state equals the reference run on the text truncated to that context, and far words differ from the
    full-context readout only through context lost, never through misalignment."""
    model = tiny_models[family]
    passage = [PASSAGES[0] * 3]
    full = read_out(model, passage, cache=False, progress=False)
    windowed = read_out(model, passage, cache=False, progress=False, max_context=24, min_context=12)
    assert not np.isnan(windowed.activations).any()
    assert (windowed.words["n_tokens"] == full.words["n_tokens"]).all()
    # Words inside the first window are read exactly as with the full context.
    first_window = np.cumsum(full.words["n_tokens"].to_numpy()) < 24 - 1
    np.testing.assert_allclose(
        windowed.activations[:, first_window], full.activations[:, first_window], rtol=1e-4, atol=1e-5
    )
    # Every later word is read with a truncated context: compare with a direct run over its window.
    tokens = model.tokenizer(join_words(passage[0])[0])["input_ids"]
    assert len(tokens) > 24
    last = len(passage[0]) - 1
    # Windows start at multiples of the stride (24 - 12); the last one is the first that reaches the end.
    last_start = 12 * int(np.ceil((len(tokens) - 24) / 12))
    ids = torch.tensor([tokens[last_start:]])
    with torch.inference_mode():
        hidden = model.hf_model.base_model(input_ids=ids, output_hidden_states=True).hidden_states
    np.testing.assert_allclose(windowed.activations[1, last], hidden[1][0, -1].numpy(), rtol=1e-4, atol=1e-5)


def test_t5_reads_encoder_then_decoder(tiny_models):
    model = tiny_models["t5"]
    assert model.n_layers == 5 and model.n_encoder_layers == 2
    result = read_out(model, PASSAGES[:1], cache=False, progress=False)
    words = PASSAGES[0]
    w = 5
    tok = model.tokenizer
    text = join_words(words[: w + 1])[0]
    ids = tok(text, add_special_tokens=False)["input_ids"]
    enc = torch.tensor([[*ids, tok.eos_token_id]])
    dec = torch.tensor([[model.hf_model.config.decoder_start_token_id, *ids]])
    with torch.inference_mode():
        out = model.hf_model(input_ids=enc, decoder_input_ids=dec, output_hidden_states=True)
    # encoder block 0 output (layer 1) at the word's last token; decoder block 0 output (layer 3) at the end.
    np.testing.assert_allclose(result.activations[1, w], out.encoder_hidden_states[1][0, len(ids) - 1], rtol=1e-4)
    np.testing.assert_allclose(result.activations[3, w], out.decoder_hidden_states[1][0, -1], rtol=1e-4, atol=1e-6)
    # surprisal of word w: decoder teacher-forced on its tokens, encoder reads the words before it.
    context = tok(join_words(words[:w])[0], add_special_tokens=False)["input_ids"]
    own = ids[len(context) :]
    with torch.inference_mode():
        logits = model.hf_model(
            input_ids=torch.tensor([[*context, tok.eos_token_id]]),
            decoder_input_ids=torch.tensor([[model.hf_model.config.decoder_start_token_id, *own[:-1]]]),
        ).logits[0]
    expected = -torch.log_softmax(logits.double(), -1)[torch.arange(len(own)), torch.tensor(own)].sum() / np.log(2)
    assert result.words["surprisal_bits"].iloc[w] == pytest.approx(float(expected), rel=1e-4)


def test_mean_pooling_averages_a_words_tokens(tiny_models):
    model = tiny_models["gpt2"]
    last = read_out(model, PASSAGES[:1], cache=False, progress=False, layers=[1])
    mean = read_out(model, PASSAGES[:1], cache=False, progress=False, layers=[1], pooling="mean")
    single = (last.words["n_tokens"] == 1).to_numpy()
    multi = (last.words["n_tokens"] > 1).to_numpy()
    assert multi.any()
    np.testing.assert_allclose(mean.activations[0, single], last.activations[0, single], rtol=1e-6)
    assert not np.allclose(mean.activations[0, multi], last.activations[0, multi])


def test_surprisal_only_stores_no_activations(tiny_models):
    result = read_out(tiny_models["gpt2"], PASSAGES, layers=[], cache=False, progress=False)
    assert result.activations is None
    assert result.words["surprisal_bits"].notna().sum() == sum(map(len, PASSAGES)) - len(PASSAGES)


def test_float16_storage(tiny_models):
    result = read_out(tiny_models["llama"], PASSAGES, cache=False, progress=False, store_dtype="float16")
    assert result.activations.dtype == np.float16


@pytest.mark.parametrize(
    ("passages", "message"),
    [
        ([], "non-empty list of passages"),
        ([["a", "b"], []], "passage 1 is empty"),
        ([["a", "  ", "b"]], "passage 0, word 1"),
        ("just a string", "non-empty list of passages"),
    ],
)
def test_bad_passages_are_named(tiny_models, passages, message):
    with pytest.raises(InvalidInputError, match=message):
        read_out(tiny_models["gpt2"], passages, cache=False, progress=False)


def test_word_that_vanishes_in_tokenization_is_flagged(tiny_models):
    """A tokenizer whose normalizer deletes zero-width spaces (as BERT-style and some SentencePiece ones do) and
    whose pre-tokenizer drops whitespace leaves such a word without any token."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from tuneshift.models import LoadedModel

    vocab = {"<unk>": 0, "the": 1, "dog": 2, "sleeps": 3}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.normalizer = normalizers.Replace(Regex("\u200b"), "")
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", pad_token="<unk>")
    model = LoadedModel(name="wordlevel", hf_model=tiny_models["llama"].hf_model, tokenizer=tokenizer, source="test")
    with pytest.warns(UserWarning, match="passage 0 word 2"):
        result = read_out(model, [["the", "dog", "\u200b", "sleeps"]], cache=False, progress=False)
    row = result.words.iloc[2]
    assert row["n_tokens"] == 0 and np.isnan(row["surprisal_bits"])
    np.testing.assert_array_equal(result.activations[:, 2], result.activations[:, 1])
    with pytest.raises(InvalidInputError, match="no token at or before"):
        read_out(model, [["\u200b", "dog"]], cache=False, progress=False)


def test_token_spanning_two_words_belongs_to_the_later_word(tiny_models):
    model = tiny_models["llama"]
    with pytest.warns(UserWarning, match="England"):
        result = read_out(model, [["of", "England", ",", "you"]], cache=False, progress=False)
    assert result.words["n_tokens"].tolist()[1:3] == [0, 1]
    # "England" is read at the preceding token (nothing after it may leak in), "," at the spanning token.
    np.testing.assert_array_equal(result.activations[:, 1], result.activations[:, 0])
    assert not np.allclose(result.activations[:, 2], result.activations[:, 1])


def test_bad_parameters_are_named(tiny_models):
    with pytest.raises(InvalidParameterError, match="pooling"):
        read_out(tiny_models["gpt2"], PASSAGES, pooling="max", cache=False)
    with pytest.raises(InvalidParameterError, match="layers"):
        read_out(tiny_models["gpt2"], PASSAGES, layers=[99], cache=False)


@pytest.mark.slow
def test_smollm2_equals_per_prefix_reference(smollm2):
    passages = [PASSAGES[0], PASSAGES[2]]
    fast = read_out(smollm2, passages, cache=False, progress=False)
    words, reference = read_out_per_prefix(smollm2, passages)
    assert fast.activations.shape == (31, len(words), 576)
    comparable = own_tokens(fast.words)
    assert comparable.all()
    assert relative_error(fast.activations, reference) < 1e-4
    np.testing.assert_allclose(fast.words["surprisal_bits"], words["surprisal_bits"], rtol=1e-4, atol=1e-3)
