"""What the model reads for an attribution: the prompt as formatted (raw, or in the chat template), the
prompt and response tokens with their character spans, and a forward function from input embeddings to logits.

Causal models read ``prompt + separator + response`` as one sequence (the response token at position t is predicted
by the logits at t − 1); encoder–decoders (T5) read the prompt in the encoder and the response in the decoder with
teacher forcing. Special tokens (BOS, EOS) are never rows or columns, as in Wu et al. (2023).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import transformers

from tuneshift.errors import InvalidParameterError
from tuneshift.models.load import LoadedModel

Span = tuple[int, int]


class PromptText(NamedTuple):
    """The prompt as the model sees it, whether the tokenizer adds its special tokens, and what joins the response."""

    text: str
    add_special_tokens: bool
    separator: str


@dataclass
class Encoded:
    """A (prompt, response) pair ready for an attribution method.

    embeds: (1, T_in, D) input embeddings, a leaf that requires grad. forward: embeds (B, T_in, D) → logits
    (B, T_out, V). prompt_rows: indices into T_in of the prompt tokens (the matrix rows). predict_at: logits
    position predicting each response token (the columns). targets: response token ids.
    """

    embeds: torch.Tensor
    forward: Callable[[torch.Tensor], torch.Tensor]
    prompt_rows: torch.Tensor
    predict_at: torch.Tensor
    targets: torch.Tensor
    prompt_tokens: list[str]
    response_tokens: list[str]
    prompt_spans: list[Span]
    response_spans: list[Span]

    @property
    def shape(self) -> tuple[int, int]:
        """(prompt tokens, response tokens): the shape of every attribution matrix of this pair."""
        return len(self.prompt_rows), len(self.targets)


def fast_tokenizer(model: LoadedModel) -> transformers.PreTrainedTokenizerFast:
    """The model's tokenizer, which must be fast (Rust): character offsets need it."""
    if not getattr(model.tokenizer, "is_fast", False):
        raise InvalidParameterError(
            "tokenizer",
            "a fast (Rust) tokenizer that returns character offsets",
            type(model.tokenizer).__name__,
            "Load it with AutoTokenizer.from_pretrained(..., use_fast=True).",
        )
    return model.tokenizer


def format_prompt(tokenizer: Any, prompt: str, chat_template: bool) -> PromptText:
    """The prompt text the model sees (Wu et al.: ``prompt.strip() + " " + response``).

    With `chat_template` (and a tokenizer that has one) the user turn is wrapped by the template exactly as
    ``apply_chat_template(..., add_generation_prompt=True)`` writes it — special tokens included, and the
    generation prompt's own ending (SmolLM2: ``<|im_start|>assistant\\n``) kept — and the response follows it
    directly, as in training."""
    if chat_template and getattr(tokenizer, "chat_template", None):
        templated = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt.strip()}], tokenize=False, add_generation_prompt=True
        )
        return PromptText(templated, False, "")
    if chat_template:
        warnings.warn("The tokenizer has no chat template; using the raw prompt.", stacklevel=3)
    return PromptText(prompt.strip(), True, " ")


@contextlib.contextmanager
def evaluating(model: LoadedModel) -> Iterator[None]:
    """Eval mode (no dropout) within the context; the previous mode is restored on exit."""
    was_training = model.hf_model.training
    model.hf_model.eval()
    try:
        yield
    finally:
        model.hf_model.train(was_training)


@torch.no_grad()
def generate_response(
    model: LoadedModel, prompt: str, *, max_new_tokens: int = 300, chat_template: bool = False
) -> str:
    """Greedy continuation of `prompt` (at most `max_new_tokens` tokens), special tokens dropped."""
    tokenizer, hf = fast_tokenizer(model), model.hf_model
    formatted = format_prompt(tokenizer, prompt, chat_template)
    enc = tokenizer(formatted.text, return_tensors="pt", add_special_tokens=formatted.add_special_tokens)
    enc = enc.to(model.device)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    with evaluating(model):
        out = hf.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, pad_token_id=pad)
    new = out[0] if model.is_encoder_decoder else out[0, enc["input_ids"].shape[1] :]
    return tokenizer.decode(new, skip_special_tokens=True).strip()


def _tokenize(tokenizer: Any, text: str, add_special: bool) -> dict[str, Any]:
    return tokenizer(text, add_special_tokens=add_special, return_offsets_mapping=True, return_special_tokens_mask=True)


def encode(model: LoadedModel, prompt: PromptText, response: str) -> Encoded:
    """Tokens, spans and the forward function of `prompt` followed by `response` (see the module docstring)."""
    tokenizer, hf = fast_tokenizer(model), model.hf_model
    prompt_text, add_special, separator = prompt
    embed = hf.get_input_embeddings()
    device = embed.weight.device
    if model.is_encoder_decoder:
        enc = _tokenize(tokenizer, prompt_text, add_special)
        dec = _tokenize(tokenizer, response, False)
        in_ids = torch.tensor([enc["input_ids"]], device=device)
        target_ids = torch.tensor(dec["input_ids"], dtype=torch.long, device=device)
        start = hf.config.decoder_start_token_id
        decoder_ids = torch.cat([torch.tensor([start], device=device), target_ids[:-1]])[None]
        prompt_rows = [i for i, s in enumerate(enc["special_tokens_mask"]) if not s]
        shift = len(prompt_text) + len(separator)
        response_spans = [(a + shift, b + shift) for a, b in dec["offset_mapping"]]

        def forward(embeds: torch.Tensor) -> torch.Tensor:
            return hf(inputs_embeds=embeds, decoder_input_ids=decoder_ids.expand(len(embeds), -1)).logits

        predict_at = torch.arange(len(target_ids), device=device)
        response_token_ids = dec["input_ids"]
    else:
        enc = _tokenize(tokenizer, prompt_text + separator + response if response else prompt_text, add_special)
        n_prompt_chars = len(prompt_text)
        content = [i for i, s in enumerate(enc["special_tokens_mask"]) if not s]
        prompt_rows = [i for i in content if enc["offset_mapping"][i][0] < n_prompt_chars]
        response_pos = [i for i in content if enc["offset_mapping"][i][0] >= n_prompt_chars]
        if response_pos and response_pos[0] == 0:
            raise InvalidParameterError("prompt", "a non-empty prompt", prompt_text)
        in_ids = torch.tensor([enc["input_ids"]], device=device)
        target_ids = in_ids[0, response_pos]

        def forward(embeds: torch.Tensor) -> torch.Tensor:
            return hf(inputs_embeds=embeds).logits

        predict_at = torch.tensor(response_pos, dtype=torch.long, device=device) - 1
        response_spans = [tuple(enc["offset_mapping"][i]) for i in response_pos]
        response_token_ids = target_ids.tolist()
    return Encoded(
        embeds=embed(in_ids).detach().requires_grad_(True),
        forward=forward,
        prompt_rows=torch.tensor(prompt_rows, dtype=torch.long, device=device),
        predict_at=predict_at,
        targets=target_ids,
        prompt_tokens=tokenizer.convert_ids_to_tokens([enc["input_ids"][i] for i in prompt_rows]),
        response_tokens=tokenizer.convert_ids_to_tokens(response_token_ids),
        prompt_spans=[tuple(map(int, enc["offset_mapping"][i])) for i in prompt_rows],
        response_spans=[tuple(map(int, s)) for s in response_spans],
    )


@torch.no_grad()
def target_probabilities(model: LoadedModel, encoded: Encoded) -> torch.Tensor:
    """p(y_m | prefix) of each response token, (n_response,) float32."""
    with evaluating(model):
        logits = encoded.forward(encoded.embeds.detach())[0, encoded.predict_at].float()
    return torch.softmax(logits, -1).gather(1, encoded.targets[:, None])[:, 0]
