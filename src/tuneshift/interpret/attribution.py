"""Input→output attribution of one (prompt, response) pair (Wu et al. 2023, "From Language Modeling to
Instruction Following"): a prompt-token × response-token matrix, its tokens and character spans.

For a prompt and a response, ``text = prompt.strip() + " " + response.strip()`` (or the chat template's prompt
followed directly by the response); special tokens such as BOS are neither rows nor columns, as in the paper.
A method is any function ``(model, encoded pair, **options) → (n_prompt_tokens, n_response_tokens) matrix``
registered in :data:`ATTRIBUTION_METHODS`; the paper's gradient × input
(:func:`tuneshift.interpret.gradients.gradient_x_input`) is the default. Aggregation (the paper's sparsification
and importance density) is separate, in :mod:`tuneshift.interpret.aggregate`.

Architectures: any ``AutoModelForCausalLM`` and encoder–decoder models such as T5 (the prompt goes to the encoder,
the response to the decoder with teacher forcing; rows are the encoder's input embeddings).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from tuneshift._registry import Registry
from tuneshift.errors import InvalidParameterError
from tuneshift.interpret.aggregate import aggregate
from tuneshift.interpret.encoding import Encoded, Span, encode, format_prompt, generate_response, target_probabilities
from tuneshift.interpret.gradients import gradient_x_input
from tuneshift.models.load import LoadedModel


class AttributionMethod(Protocol):
    """(model, encoded prompt and response, **options) → (n_prompt_tokens, n_response_tokens) float tensor."""

    def __call__(self, model: LoadedModel, encoded: Encoded, **options: Any) -> torch.Tensor: ...


ATTRIBUTION_METHODS: Registry[AttributionMethod] = Registry("attribution method")
ATTRIBUTION_METHODS.add("gradient_x_input", gradient_x_input)


@dataclass
class Attribution:
    """Raw attribution of one (prompt, response) pair.

    matrix: (n_prompt_tokens, n_response_tokens) float32 (gradient × input: I[n, m]).
    prompt_spans / response_spans: character spans of each token; both index into `text`.
    probabilities: p(y_m | prefix) of each response token.
    """

    matrix: torch.Tensor
    prompt_tokens: list[str]
    response_tokens: list[str]
    prompt_spans: list[Span]
    response_spans: list[Span]
    text: str
    prompt: str
    response: str
    probabilities: torch.Tensor
    method: str = "gradient_x_input"
    metadata: dict[str, Any] = field(default_factory=dict)

    def aggregate(self, fn: str = "wu2023_density", **kwargs: Any) -> np.ndarray:
        """Apply a registered aggregator (see :func:`tuneshift.interpret.aggregate.aggregate`) to the matrix."""
        return aggregate(self, fn, **kwargs)


def attribute(
    model: LoadedModel,
    prompt: str,
    response: str | None = None,
    *,
    method: str = "gradient_x_input",
    max_new_tokens: int = 300,
    chat_template: bool = False,
    **options: Any,
) -> Attribution:
    """Attribute each response token to each prompt token with `method` (one of ``ATTRIBUTION_METHODS.names()``).

    response: the response to explain; None generates it greedily (at most `max_new_tokens` tokens).
    chat_template: wrap the prompt in the tokenizer's chat template (the template's tokens become prompt rows).
    options: the method's own (gradient_x_input: objective, batched, mode, chunk_size).
    """
    if not prompt.strip():
        raise InvalidParameterError("prompt", "a non-empty prompt", prompt)
    method_fn = ATTRIBUTION_METHODS.get(method)
    if response is None:
        response = generate_response(model, prompt, max_new_tokens=max_new_tokens, chat_template=chat_template)
    formatted = format_prompt(model.tokenizer, prompt, chat_template)
    response = response.strip()
    encoded = encode(model, formatted, response)
    matrix = method_fn(model, encoded, **options)
    if tuple(matrix.shape) != encoded.shape:
        raise InvalidParameterError("method", f"a {encoded.shape} prompt × response matrix", tuple(matrix.shape))
    return Attribution(
        matrix=matrix.detach().float().cpu(),
        prompt_tokens=encoded.prompt_tokens,
        response_tokens=encoded.response_tokens,
        prompt_spans=encoded.prompt_spans,
        response_spans=encoded.response_spans,
        text=formatted.text + formatted.separator + response,
        prompt=formatted.text,
        response=response,
        probabilities=target_probabilities(model, encoded).cpu(),
        method=method,
        metadata={"encoder_decoder": model.is_encoder_decoder, **options},
    )
