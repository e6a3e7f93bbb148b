"""Hooks on a model's real blocks and LM head: the one place that reads or edits hidden states mid-forward.

Layers are numbered as everywhere in tuneshift: 0 is the input of the first block (token embeddings, scaled and
positioned as that family does), i the output of block i (encoder–decoders: encoder blocks, then decoder blocks).
Every hook is removed on leaving its context, also on error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Protocol

import torch

from tuneshift.models.families import ModuleMap, blocks_of

Sink = Callable[[int, torch.Tensor], None]


class HookableModel(Protocol):
    """What the hooks need of a model: the Hugging Face module and its family's map (a
    :class:`tuneshift.models.load.LoadedModel` is one; the loader is not imported here, it imports the readout)."""

    hf_model: torch.nn.Module

    @property
    def family(self) -> ModuleMap: ...


class HeadReached(Exception):
    """Raised by :func:`head_input` with ``stop=True`` to end a forward pass once the LM head's input is known."""


def hidden_of(output: torch.Tensor | tuple) -> torch.Tensor:
    """The hidden states in a block's output (blocks return a tensor or a tuple led by it)."""
    return output[0] if isinstance(output, tuple) else output


@contextlib.contextmanager
def _registered(handles: list[torch.utils.hooks.RemovableHandle]) -> Iterator[None]:
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def capture_layers(model: HookableModel, layers: Sequence[int], sink: Sink) -> Iterator[None]:
    """Within the context, every forward pass calls ``sink(layer, hidden)`` for each of `layers` (hidden:
    (batch, tokens, d_model), as the model computes it), in the order the model reaches them."""
    blocks = blocks_of(model.hf_model, model.family)

    def embeddings(module, args, kwargs) -> None:
        sink(0, args[0] if args else kwargs["hidden_states"])

    def output_of(layer: int):
        return lambda module, args, output: sink(layer, hidden_of(output))

    handles = []
    with _registered(handles):
        for layer in layers:
            if layer == 0:
                handles.append(blocks[0].register_forward_pre_hook(embeddings, with_kwargs=True))
            else:
                handles.append(blocks[layer - 1].register_forward_hook(output_of(layer)))
        yield


@contextlib.contextmanager
def replace_layers(model: HookableModel, edits: Mapping[int, Callable[[torch.Tensor], torch.Tensor]]) -> Iterator[None]:
    """Within the context, the output of block i (layer i ≥ 1) becomes ``edits[i](hidden)`` for every later block
    and every other hook."""
    blocks = blocks_of(model.hf_model, model.family)

    def replacing(edit: Callable[[torch.Tensor], torch.Tensor]):
        def hook(module, args, output):
            new = edit(hidden_of(output))
            return (new, *output[1:]) if isinstance(output, tuple) else new

        return hook

    handles = []
    with _registered(handles):
        handles += [blocks[layer - 1].register_forward_hook(replacing(edit)) for layer, edit in edits.items()]
        yield


@contextlib.contextmanager
def head_input(model: HookableModel, *, stop: bool = False) -> Iterator[dict[str, torch.Tensor]]:
    """Capture the LM head's input of each forward pass as ``captured["head_input"]`` (batch, tokens, d_model).
    With `stop`, the pass ends there by raising :class:`HeadReached` (the logits are not computed); the caller
    suppresses it."""
    captured: dict[str, torch.Tensor] = {}

    def hook(module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        captured["head_input"] = args[0]
        if stop:
            raise HeadReached

    handles = [model.hf_model.get_output_embeddings().register_forward_pre_hook(hook)]
    with _registered(handles):
        yield captured
