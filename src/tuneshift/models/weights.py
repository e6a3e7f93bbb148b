"""Weights read the way each family stores them (:class:`~tuneshift.models.families.ModuleMap`): per-head
query/key maps with the attention-input norm folded in, and FFN value vectors.

Fused projections are split by their layout (GPT-2's ``Conv1D`` ``c_attn``: outputs [q | k | v]; GPT-NeoX's
``query_key_value``: outputs interleaved per head as [q_h | k_h | v_h]); grouped-query key heads are repeated for
the query heads that share them. The norm's gain (LayerNorm / RMSNorm ``weight``, Gemma's ``1 + weight``) is folded
into W_q, W_k; LayerNorm's shift β and the projection biases do not depend on the input and are kept apart
(``q_bias``, ``k_bias``) so the exact projections can be rebuilt. Where the norm follows attention (OPT-350m)
nothing is folded. Per-head query/key norms (Gemma 3, Qwen 3) are not linear: they are kept as the model's own
modules and applied to projected head vectors. RoPE is left out: the maps describe the content part.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from tuneshift.errors import InvalidParameterError
from tuneshift.models.families import ModuleMap, blocks_of, find_module, get_module, text_config
from tuneshift.models.load import LoadedModel


@dataclass(frozen=True)
class QKWeights:
    """Query/key maps of every explained block, the input-norm gain folded in, key heads repeated for GQA.

    q, k: (n_blocks, n_heads, d_model, head_dim); x̂ @ q[i, h] + q_bias[i, h] is head h's query for a normalised
    attention input x̂ (before any per-head norm and RoPE). q_bias, k_bias: (n_blocks, n_heads, head_dim).
    q_norm, k_norm: per block, the model's per-head norm module or None. layers: block indices (0-based).
    """

    q: torch.Tensor
    k: torch.Tensor
    q_bias: torch.Tensor
    k_bias: torch.Tensor
    q_norm: tuple[torch.nn.Module | None, ...]
    k_norm: tuple[torch.nn.Module | None, ...]
    layers: tuple[int, ...]

    @property
    def n_heads(self) -> int:
        return self.q.shape[1]


def norm_gain_and_shift(block: torch.nn.Module, family: ModuleMap, config) -> tuple[torch.Tensor, torch.Tensor]:
    """Effective (gain, shift), each (d_model,), of a block's attention-input norm: LayerNorm (weight, bias),
    RMSNorm (weight, 0), Gemma RMSNorm (1 + weight, 0); (1, 0) where the norm follows attention (OPT-350m)."""
    norm = get_module(block, family.attn_norm)
    weight = norm.weight.detach().float()
    if not family.norm_first(config):
        return torch.ones_like(weight), torch.zeros_like(weight)
    gain = 1.0 + weight if family.norm_kind == "rms_plus_one" else weight
    bias = getattr(norm, "bias", None) if family.norm_kind == "layer" else None
    shift = bias.detach().float() if bias is not None else torch.zeros_like(weight)
    return gain, shift


def projection(module: torch.nn.Module, family: ModuleMap) -> tuple[torch.Tensor, torch.Tensor]:
    """(d_in × d_out weight, d_out bias) of one projection, float32 (zeros where it has no bias)."""
    weight = module.weight.detach().float()
    weight = weight if family.conv1d else weight.T
    bias = getattr(module, "bias", None)
    return weight, (bias.detach().float() if bias is not None else torch.zeros(weight.shape[1]))


def _raw_qk(block: torch.nn.Module, family: ModuleMap, n_heads: int) -> tuple[torch.Tensor, ...]:
    """Unfolded (W_q, b_q, W_k, b_k) of one block, weights d_in × (heads·head_dim) in the model's head order."""
    if family.qkv_layout == "separate":
        return (*projection(get_module(block, family.q), family), *projection(get_module(block, family.k), family))
    weight, bias = projection(get_module(block, family.qkv), family)
    d_in = weight.shape[0]
    if family.qkv_layout == "gpt2_conv1d":
        q, k, _ = weight.chunk(3, dim=1)
        bq, bk, _ = bias.chunk(3)
        return q, bq, k, bk
    if family.qkv_layout == "neox_interleaved":
        w = weight.reshape(d_in, n_heads, 3, -1)
        b = bias.reshape(n_heads, 3, -1)
        return w[:, :, 0].reshape(d_in, -1), b[:, 0].reshape(-1), w[:, :, 1].reshape(d_in, -1), b[:, 1].reshape(-1)
    raise InvalidParameterError("qkv_layout", "separate, gpt2_conv1d or neox_interleaved", family.qkv_layout)


def qk_weights(model: LoadedModel, layers: Sequence[int] | None = None) -> QKWeights:
    """Per-head query/key maps of the given blocks (0-based; all by default; T5: encoder then decoder
    self-attention)."""
    family, config = model.family, text_config(model.hf_model.config)
    n_heads = int(config.num_attention_heads)
    n_kv = int(getattr(config, "num_key_value_heads", None) or n_heads)
    blocks = blocks_of(model.hf_model, family)
    layers = tuple(range(len(blocks))) if layers is None else tuple(int(i) for i in layers)
    bad = [i for i in layers if not 0 <= i < len(blocks)]
    if bad:
        raise InvalidParameterError("layers", f"block indices in 0..{len(blocks) - 1}", bad)
    qs, ks, qbs, kbs = [], [], [], []
    for index in layers:
        gain, shift = norm_gain_and_shift(blocks[index], family, config)
        w_q, b_q, w_k, b_k = _raw_qk(blocks[index], family, n_heads)
        d_in, head_dim = w_q.shape[0], w_q.shape[1] // n_heads
        # x̂ ⊙ g + β through W: (x̂ ⊙ g) W + (β W + b) = x̂ (diag(g) W) + (β W + b)
        qs.append((gain[:, None] * w_q).reshape(d_in, n_heads, head_dim).permute(1, 0, 2))
        k = (gain[:, None] * w_k).reshape(d_in, n_kv, head_dim).permute(1, 0, 2)
        ks.append(k.repeat_interleave(n_heads // n_kv, dim=0))
        qbs.append((shift @ w_q + b_q).reshape(n_heads, head_dim))
        kbs.append((shift @ w_k + b_k).reshape(n_kv, head_dim).repeat_interleave(n_heads // n_kv, dim=0))
    return QKWeights(
        q=torch.stack(qs),
        k=torch.stack(ks),
        q_bias=torch.stack(qbs),
        k_bias=torch.stack(kbs),
        q_norm=tuple(find_module(blocks[i], family.q_norm) for i in layers),
        k_norm=tuple(find_module(blocks[i], family.k_norm) for i in layers),
        layers=layers,
    )


@torch.no_grad()
def head_activations(
    weights: QKWeights, position: int, vectors: torch.Tensor, *, bias: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Query and key activations (n_heads × n_inputs × head_dim) of inputs ``vectors`` (n_inputs × d_model) at the
    ``position``-th block of ``weights``; per-head q/k norms applied when the model has them. ``bias=False`` (the
    paper's word activations) leaves out the input-independent shift; ``bias=True`` gives the exact projections."""
    vectors = vectors.float()
    hq = torch.einsum("nd,hde->hne", vectors, weights.q[position])
    hk = torch.einsum("nd,hde->hne", vectors, weights.k[position])
    if bias:
        hq = hq + weights.q_bias[position][:, None]
        hk = hk + weights.k_bias[position][:, None]
    if weights.q_norm[position] is not None:
        hq = weights.q_norm[position](hq)
    if weights.k_norm[position] is not None:
        hk = weights.k_norm[position](hk)
    return hq, hk


def ffn_value_vectors(model: LoadedModel, layer: int) -> torch.Tensor:
    """The down-projection of block ``layer`` (0-based) seen from the intermediate side: (intermediate × hidden),
    float32; row i is the vector neuron i writes into the residual stream."""
    family = model.family
    return projection(get_module(blocks_of(model.hf_model, family)[layer], family.ffn_down), family)[0]
