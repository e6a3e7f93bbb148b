"""Examples → token ids with the loss on the response only.

The prompt is the instruction and the input joined by a blank line (``--drop-instruction`` leaves the input alone),
optionally wrapped in the tokenizer's chat template as one user turn. Prompt and response are tokenized separately
and concatenated, so the boundary is exact: a causal model sees ``[bos] prompt response eos`` with labels -100 on
``[bos] prompt``; an encoder–decoder (T5) reads the prompt and is trained to write ``response eos``. With
``loss_on_all`` (the trajectory's ``plain-lm`` arm) the same tokens are plain language modelling: every token after
the first carries loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import transformers

from tuneshift.errors import InvalidParameterError
from tuneshift.tune.data import Example

IGNORE = -100  # label of tokens without loss (PyTorch's cross_entropy ignore_index)


@dataclass(frozen=True)
class Encoded:
    """input_ids and labels (causal: same length, IGNORE on the prompt; seq2seq: labels = the response ids)."""

    input_ids: list[int]
    labels: list[int]
    prompt: str

    @property
    def n_tokens(self) -> int:
        return len(self.input_ids) + (0 if len(self.labels) == len(self.input_ids) else len(self.labels))


def prompt_text(
    example: Example, tokenizer: transformers.PreTrainedTokenizerBase, *, drop_instruction: bool, chat_template: bool
) -> str:
    """The text the model reads before the response (see the module docstring)."""
    parts = [example.input] if drop_instruction else [example.instruction, example.input]
    user = "\n\n".join(part.strip() for part in parts if part.strip())
    if chat_template:
        if not getattr(tokenizer, "chat_template", None):
            raise InvalidParameterError(
                "chat_template", "a tokenizer with a chat template", None, "This model has none: drop --chat-template."
            )
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": user}], add_generation_prompt=True, tokenize=False
        )
    return f"{user}\n\n" if user else ""


def encode(
    example: Example,
    tokenizer: transformers.PreTrainedTokenizerBase,
    *,
    encoder_decoder: bool,
    max_length: int,
    drop_instruction: bool = False,
    chat_template: bool = False,
    loss_on_all: bool = False,
) -> Encoded:
    """Token ids of one example, at most `max_length` tokens per sequence.

    Causal models: when too long, the prompt keeps its first tokens (the instruction leads) and at least half the
    budget, the response its first tokens.
    """
    prompt = prompt_text(example, tokenizer, drop_instruction=drop_instruction, chat_template=chat_template)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"] if prompt else []
    response_ids = tokenizer(example.output.strip(), add_special_tokens=False)["input_ids"]
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    if encoder_decoder:
        if loss_on_all:
            raise InvalidParameterError(
                "loss_on", "'response' for an encoder-decoder model", "all", "Plain LM needs a causal model."
            )
        return Encoded(prompt_ids[: max_length - len(eos)] + eos, (response_ids + eos)[:max_length], prompt)
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None and not chat_template else []
    head, tail = bos + prompt_ids, response_ids + eos
    if len(head) + len(tail) > max_length:
        head = head[: max(max_length - len(tail), max_length // 2)]
        tail = tail[: max_length - len(head)]
    labels = head + tail if loss_on_all else [IGNORE] * len(head) + tail
    return Encoded(head + tail, labels, prompt)


def collate(batch: list[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded tensors: input_ids, attention_mask, labels (IGNORE on padding)."""

    def pad(rows: list[list[int]], value: int) -> torch.Tensor:
        width = max(len(row) for row in rows)
        return torch.tensor([row + [value] * (width - len(row)) for row in rows], dtype=torch.long)

    ids = [item.input_ids for item in batch]
    tensors = {
        "input_ids": pad(ids, pad_id),
        "attention_mask": pad([[1] * len(row) for row in ids], 0),
        "labels": pad([item.labels for item in batch], IGNORE),
    }
    return tensors
