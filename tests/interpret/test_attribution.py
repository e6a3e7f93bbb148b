"""Attribution equals the paper's per-token backward loop; aggregators follow the paper's definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from tests._tiny import CAUSAL_FAMILIES
from tokenizers import processors

from tuneshift.errors import InvalidParameterError, UnknownNameError
from tuneshift.interpret.aggregate import AGGREGATORS, aggregate, importance_density, sparsify
from tuneshift.interpret.attribution import ATTRIBUTION_METHODS, attribute

PROMPT = "Instruction: summarize the text below in one sentence."
RESPONSE = "The cat sat on the mat all day long, and the sea is blue."


def paper_reference(loaded, prompt: str, response: str) -> torch.Tensor:
    """generator.py's input_explain, rewritten independently: one forward, one backward() of p(y_m) per response
    token, grad·emb summed over the hidden size, on the prompt rows (special tokens excluded)."""
    model, tokenizer = loaded.hf_model, loaded.tokenizer
    text = prompt.strip() + " " + response.strip()
    enc = tokenizer(text, return_offsets_mapping=True, return_special_tokens_mask=True)
    content = [i for i, s in enumerate(enc["special_tokens_mask"]) if not s]
    rows = [i for i in content if enc["offset_mapping"][i][0] < len(prompt.strip())]
    cols = [i for i in content if i not in rows]
    ids = torch.tensor([enc["input_ids"]])
    embs = model.get_input_embeddings()(ids).detach().requires_grad_()
    probs = torch.softmax(model(inputs_embeds=embs).logits, -1)[0]
    out = []
    for position in cols:
        embs.grad = None
        probs[position - 1, ids[0, position]].backward(retain_graph=True)
        out.append((embs.grad[0, rows] * embs[0, rows]).sum(-1).detach())
    return torch.stack(out, 1)


@pytest.mark.parametrize("family", CAUSAL_FAMILIES)
def test_batched_equals_paper_loop(tiny_models, family):
    model = tiny_models[family]
    reference = paper_reference(model, PROMPT, RESPONSE)
    scale = reference.abs().max()
    assert scale > 0
    for mode in ("reverse", "forward"):
        result = attribute(model, PROMPT, RESPONSE, mode=mode, chunk_size=7)
        assert result.matrix.shape == reference.shape
        # absolute (values are ~1e-4 on random models) and relative to the largest entry (fp32 round-off)
        torch.testing.assert_close(result.matrix, reference, atol=1e-5, rtol=0)
        assert ((result.matrix - reference).abs().max() / scale) < 1e-4


def test_t5_encoder_rows_match_loop(tiny_models):
    model = tiny_models["t5"]
    loop = attribute(model, PROMPT, RESPONSE, batched=False)
    assert loop.metadata["encoder_decoder"]
    assert loop.matrix.shape == (len(loop.prompt_tokens), len(loop.response_tokens))
    assert loop.matrix.abs().max() > 0
    for mode in ("reverse", "forward"):
        batched = attribute(model, PROMPT, RESPONSE, mode=mode, chunk_size=5)
        torch.testing.assert_close(batched.matrix, loop.matrix, atol=1e-5, rtol=1e-4)


def test_tokens_spans_and_probabilities(tiny_models):
    model = tiny_models["llama"]
    backend = model.tokenizer.backend_tokenizer
    plain = backend.post_processor
    backend.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])  # as LLaMA
    try:
        assert model.tokenizer("x")["input_ids"][0] == model.tokenizer.bos_token_id  # a BOS that must not be a row
        result = attribute(model, "  " + PROMPT + "\n", RESPONSE)
        logp = attribute(model, PROMPT, RESPONSE, objective="log_probability")
    finally:
        backend.post_processor = plain
    assert result.text == PROMPT + " " + RESPONSE
    assert "<s>" not in result.prompt_tokens  # BOS is not a row, as in the paper
    assert "".join(result.text[a:b] for a, b in result.prompt_spans) == PROMPT
    assert "".join(result.text[a:b] for a, b in result.response_spans).strip() == RESPONSE
    assert torch.all((result.probabilities > 0) & (result.probabilities < 1))
    # d log p = d p / p: columns scale by 1/p(y_m)
    torch.testing.assert_close(logp.matrix * result.probabilities, result.matrix, atol=1e-6, rtol=1e-4)


def test_generation(tiny_models):
    result = attribute(tiny_models["gpt2"], PROMPT, max_new_tokens=6)
    assert 1 <= len(result.response_tokens)
    assert result.response and result.text.startswith(PROMPT + " ")


def test_a_registered_method_is_called_with_the_encoded_pair(tiny_models):
    """A method is a function (model, encoded pair, **options) → prompt × response matrix: registering one makes
    it available by name, with the same tokens and spans as the default method; a wrong shape is refused."""

    def last_token_only(model, encoded, *, weight: float = 1.0):
        matrix = torch.zeros(encoded.shape)
        matrix[-1] = weight
        return matrix if weight > 0 else matrix[:-1]

    if "test_last_token_only" not in ATTRIBUTION_METHODS:
        ATTRIBUTION_METHODS.add("test_last_token_only", last_token_only)
    model = tiny_models["llama"]
    result = attribute(model, PROMPT, RESPONSE, method="test_last_token_only", weight=2.0)
    default = attribute(model, PROMPT, RESPONSE)
    assert result.prompt_tokens == default.prompt_tokens and result.response_tokens == default.response_tokens
    assert result.matrix[-1].eq(2.0).all() and result.matrix[:-1].eq(0).all()
    assert result.method == "test_last_token_only" and result.metadata["weight"] == 2.0
    torch.testing.assert_close(result.probabilities, default.probabilities)
    with pytest.raises(InvalidParameterError, match="prompt × response matrix"):
        attribute(model, PROMPT, RESPONSE, method="test_last_token_only", weight=-1.0)


def test_chat_template(tiny_models):
    model = tiny_models["llama"]
    model.tokenizer.chat_template = "{% for m in messages %}USER: {{ m['content'] }}\n{% endfor %}ASSISTANT:"
    try:
        result = attribute(model, PROMPT, RESPONSE, chat_template=True)
    finally:
        model.tokenizer.chat_template = None
    assert result.prompt.startswith("USER: " + PROMPT)
    assert result.matrix.shape[0] == len(result.prompt_tokens) > len(attribute(model, PROMPT, RESPONSE).prompt_tokens)


def test_bad_parameters(tiny_models):
    model = tiny_models["gpt2"]
    with pytest.raises(InvalidParameterError, match="prompt"):
        attribute(model, "   ", RESPONSE)
    with pytest.raises(InvalidParameterError, match="mode"):
        attribute(model, PROMPT, RESPONSE, mode="sideways")
    with pytest.raises(UnknownNameError, match="gradient_x_input"):
        attribute(model, PROMPT, RESPONSE, method="gradient_x_inptu")


def test_sparsify_and_density_by_hand():
    raw = np.array([[2.0, -1.0, 0.5], [1.0, 3.0, 0.0], [-4.0, 0.0, 0.45]], dtype=np.float32)
    # column maxima 2, 3, 0.5 → ceil(10·x/max): [[10,0,10],[5,10,0],[0,0,9]]
    assert sparsify(raw, threshold=0).tolist() == [[10, 0, 10], [5, 10, 0], [0, 0, 9]]
    sparse7 = [[10, 0, 10], [0, 10, 0], [0, 0, 9]]
    assert sparsify(raw).tolist() == sparse7
    d = [20 / (2 * 10**4) ** 0.25, 10 / 10, 9 / 9]
    expected = np.array(d) / max(d)
    np.testing.assert_allclose(importance_density(raw), expected, rtol=1e-6)
    np.testing.assert_allclose(aggregate(torch.from_numpy(raw), "wu2023_density"), expected, rtol=1e-6)
    # an already-sparsified matrix (max 10, min 0) is only thresholded
    np.testing.assert_allclose(importance_density(sparsify(raw, threshold=0)), expected, rtol=1e-6)
    assert set(AGGREGATORS.names()) >= {"wu2023_density", "wu2023_sparsify"}
    assert math.isclose(importance_density(np.zeros((2, 0), np.float32)).sum(), 0.0)


def test_auto_mode_follows_the_measured_costs():
    """benchmarks/attribution.py: on a CPU a forward-mode tangent costs ~4 backward passes and vmap over the
    backward pass loses to the loop; on a GPU batching is assumed to pay."""
    from tuneshift.interpret.gradients import _auto_mode

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert _auto_mode(20, 300, cpu, has_forward=True) == "forward"
    assert _auto_mode(100, 300, cpu, has_forward=True) == "loop"
    assert _auto_mode(20, 300, cpu, has_forward=False) == "loop"
    assert _auto_mode(100, 300, cuda, has_forward=True) == "forward"
    assert _auto_mode(400, 300, cuda, has_forward=True) == "reverse"


@pytest.mark.slow
def test_chat_template_prompt_ends_as_the_template_defines_it(smollm2):
    from tuneshift.interpret.attribution import attribute

    tokenizer = smollm2.tokenizer
    templated = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Name a colour."}], tokenize=False, add_generation_prompt=True
    )
    assert templated.endswith("<|im_start|>assistant\n")
    result = attribute(smollm2, prompt="Name a colour.", response="Blue.", chat_template=True)
    expected_prompt = tokenizer.convert_ids_to_tokens(tokenizer(templated, add_special_tokens=False).input_ids)
    assert result.prompt_tokens == expected_prompt  # ..., "<|im_start|>", "assistant", "Ċ": nothing cut or split
    assert result.response_tokens == tokenizer.convert_ids_to_tokens(tokenizer("Blue.").input_ids)  # no "Ġ" start
    assert result.text == templated + "Blue."
