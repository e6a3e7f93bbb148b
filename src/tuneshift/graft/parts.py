"""Part names of a model — ``block:3``, ``attn:*``, ``ffn:0-5``, ``norm:2``, ``embed``, ``head``, ``norm:final``,
``first-half`` — resolved to the parameters they hold, from the family's :class:`~tuneshift.models.families.ModuleMap`.

Nothing here names a module path of any family. Per block, the parts are found from the map's facts:

- ``attn:i``: the attention module (the parent of the map's ``q`` / fused ``qkv`` projection) and every module of
  the block of the same class (T5's decoder cross-attention), with their per-head norms and position biases;
- ``norm:i``: the block's modules of the same class as the map's ``attn_norm`` outside attention (pre/post norms);
- ``ffn:i``: the rest of the block (it must hold the map's ``ffn_down``; GPT-2, OPT, T5, gated MLPs alike).

Outside the blocks: ``embed`` (the input embeddings and any other embedding table, e.g. learnt positions), ``head``
(the output layer; in a model with tied embeddings it *is* the embedding tensor, so ``head`` and ``embed`` name the
same parameter), ``norm:final`` (the final norm(s); T5 has one per stack). Every parameter belongs to exactly one
part, so ``all`` is the whole model. Block indices follow the readout: T5's decoder blocks continue after its
encoder's (``encoder`` / ``decoder`` name each stack's blocks).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from tuneshift.errors import InvalidInputError, InvalidParameterError
from tuneshift.models.families import ModuleMap, family_of, get_module

PER_BLOCK = ("block", "attn", "ffn", "norm")
FORMS = (
    "block:I, attn:I, ffn:I, norm:I (I: one index such as 3, a range 2-5, or * for every block), embed, head, "
    "norm:final, first-half, second-half, all (encoder-decoder models: also encoder, decoder)"
)
_PER_BLOCK_RE = re.compile(r"^(block|attn|ffn|norm):(\*|\d+|\d+-\d+)$")


@dataclass(frozen=True)
class PartMap:
    """Parameter names (as ``model.named_parameters()`` gives them, tied tensors once) of every part of one model.

    blocks: per block (readout order), ``{"attn": names, "ffn": names, "norm": names}``.
    embed, head, final_norm: names outside the blocks (head == embed where the embeddings are tied).
    n_encoder_blocks: blocks of the encoder stack (all blocks for a decoder-only model).
    """

    blocks: tuple[dict[str, tuple[str, ...]], ...]
    embed: tuple[str, ...]
    head: tuple[str, ...]
    final_norm: tuple[str, ...]
    n_encoder_blocks: int

    @property
    def n_blocks(self) -> int:
        return len(self.blocks)

    @property
    def tied_head(self) -> bool:
        """The output layer is the input embedding tensor (grafting one grafts the other)."""
        return set(self.head) <= set(self.embed)

    @property
    def all(self) -> tuple[str, ...]:
        names = [name for block in self.blocks for kind in ("attn", "ffn", "norm") for name in block[kind]]
        return tuple(dict.fromkeys([*self.embed, *names, *self.final_norm, *self.head]))

    def resolve(self, parts: str | Sequence[str]) -> tuple[str, ...]:
        """The parameter names of `parts` (names as in the module docstring, a list or one comma-separated
        string), in model order, each once. An empty list resolves to no parameter."""
        wanted: set[str] = set()
        for part in split_parts(parts):
            wanted.update(self._resolve_one(part))
        return tuple(name for name in self.all if name in wanted)

    def _resolve_one(self, part: str) -> tuple[str, ...]:
        half = self.n_blocks // 2
        named = {
            "all": self.all,
            "embed": self.embed,
            "head": self.head,
            "norm:final": self.final_norm,
            "first-half": self._blocks("block", range(half)),
            "second-half": self._blocks("block", range(half, self.n_blocks)),
        }
        if self.n_encoder_blocks < self.n_blocks:
            named["encoder"] = self._blocks("block", range(self.n_encoder_blocks))
            named["decoder"] = self._blocks("block", range(self.n_encoder_blocks, self.n_blocks))
        if part in named:
            return named[part]
        match = _PER_BLOCK_RE.match(part)
        if not match:
            raise InvalidParameterError("parts", f"part names of the forms {FORMS}", part)
        kind, index = match.groups()
        return self._blocks(kind, self._indices(part, index))

    def _indices(self, part: str, index: str) -> range:
        if index == "*":
            return range(self.n_blocks)
        first, _, last = index.partition("-")
        chosen = range(int(first), int(last or first) + 1)
        if not chosen or chosen[-1] >= self.n_blocks:
            raise InvalidParameterError(
                "parts", f"block indices in 0..{self.n_blocks - 1} (ranges low-high, low <= high)", part
            )
        return chosen

    def _blocks(self, kind: str, indices: Iterable[int]) -> tuple[str, ...]:
        kinds = ("attn", "ffn", "norm") if kind == "block" else (kind,)
        return tuple(name for i in indices for k in kinds for name in self.blocks[i][k])


def split_parts(parts: str | Sequence[str]) -> list[str]:
    """``"attn:*, ffn:0-5"`` or ``["attn:*", "ffn:0-5"]`` → ``["attn:*", "ffn:0-5"]``."""
    items = [parts] if isinstance(parts, str) else list(parts)
    return [piece.strip() for item in items for piece in item.split(",") if piece.strip()]


def part_map(model: torch.nn.Module, family: ModuleMap | None = None) -> PartMap:
    """The :class:`PartMap` of a loaded Hugging Face model (see the module docstring for how parts are found)."""
    family = family or family_of(model)
    names = {id(param): name for name, param in model.named_parameters()}
    stacks = [family.blocks] + ([family.decoder_blocks] if family.decoder_blocks else [])
    blocks = [block for path in stacks for block in get_module(model, path)]
    parts = tuple(_block_parts(block, family, names) for block in blocks)
    in_blocks = {name for block in parts for group in block.values() for name in group}

    def params_of(module: torch.nn.Module | None) -> tuple[str, ...]:
        return tuple(names[id(p)] for p in module.parameters()) if module is not None else ()

    embed_modules = [model.get_input_embeddings()] + [
        m for m in model.modules() if isinstance(m, torch.nn.Embedding) and not _params_in(m, names, in_blocks)
    ]
    embed = tuple(dict.fromkeys(name for module in embed_modules for name in params_of(module)))
    head = params_of(model.get_output_embeddings())
    final_norm = tuple(name for name in names.values() if name not in in_blocks and name not in {*embed, *head})
    norm_type = type(get_module(blocks[0], family.attn_norm))
    stray = [
        name for name in final_norm if not isinstance(get_module(model, name.rpartition(".")[0]), norm_type)
    ]  # outside the blocks, only embeddings, the head and final norms are expected
    if stray:
        raise InvalidInputError(
            f"{type(model).__name__}: parameters outside the blocks that are neither embeddings, the output layer nor "
            f"a final norm ({', '.join(stray)}): the family's ModuleMap in tuneshift.models.families needs a fact "
            "for them before parts can be grafted."
        )
    return PartMap(parts, embed, head, final_norm, len(get_module(model, family.blocks)))


def _params_in(module: torch.nn.Module, names: dict[int, str], among: set[str]) -> bool:
    return any(names[id(p)] in among for p in module.parameters())


def _block_parts(block: torch.nn.Module, family: ModuleMap, names: dict[int, str]) -> dict[str, tuple[str, ...]]:
    """One block's parameter names split into attention, norms and feed-forward (module docstring)."""
    attn_path = (family.q or family.qkv).rpartition(".")[0]
    attn_type = type(get_module(block, attn_path))
    norm_type = type(get_module(block, family.attn_norm))
    attn_modules = [m for m in block.modules() if type(m) is attn_type]
    attn = {names[id(p)] for m in attn_modules for p in m.parameters()}
    norm = {
        names[id(p)]
        for m in block.modules()
        if type(m) is norm_type
        for p in m.parameters()
        if names[id(p)] not in attn
    }
    ordered = [names[id(p)] for p in block.parameters()]
    ffn = [name for name in ordered if name not in attn and name not in norm]
    down = {names[id(p)] for p in get_module(block, family.ffn_down).parameters()}
    if not down <= set(ffn):
        raise InvalidInputError(
            f"The FFN down-projection {family.ffn_down!r} of {family.family} blocks falls inside attention or a norm: "
            "the family's ModuleMap in tuneshift.models.families is inconsistent."
        )
    return {
        "attn": tuple(n for n in ordered if n in attn),
        "ffn": tuple(ffn),
        "norm": tuple(n for n in ordered if n in norm),
    }
