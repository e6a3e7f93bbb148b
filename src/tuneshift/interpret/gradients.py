"""Gradient × input attribution (Wu et al. 2023, "From Language Modeling to Instruction Following").

For each response token y_m the gradient of **p(y_m | prefix)** (the softmax probability, not its log: the paper's
``generator.py`` back-propagates ``softmax(logits)[..., y_m]``) with respect to the input embeddings E gives

    I[n, m] = Σ_d ∂p(y_m | y_<m, x) / ∂E[n, d] · E[n, d]        (gradient × input, summed over the hidden size)

for every prompt token n. Computation: one forward pass with the embeddings as a leaf, then one of three exact forms
(the tests prove they agree): ``"forward"`` — batched Jacobian–vector products, one per prompt token;
``"reverse"`` — the M vector–Jacobian products in memory-bounded chunks with ``torch.autograd.grad(...,
is_grads_batched=True)`` (vmap over the backward pass); ``"loop"`` / ``batched=False`` — the paper's one
``backward()`` per response token. ``mode="auto"`` picks the cheapest measured form for the device and the two
lengths.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import psutil
import torch
import torch.autograd.forward_ad as fwAD

from tuneshift.errors import InvalidParameterError
from tuneshift.interpret.encoding import Encoded, evaluating
from tuneshift.models.hooks import HeadReached, head_input
from tuneshift.models.load import LoadedModel

OBJECTIVES = ("probability", "log_probability")
MODES = ("auto", "forward", "reverse", "loop")


def gradient_x_input(
    model: LoadedModel,
    encoded: Encoded,
    *,
    objective: str = "probability",
    batched: bool = True,
    mode: str = "auto",
    chunk_size: int = 64,
) -> torch.Tensor:
    """I[n, m] (see the module docstring) of an encoded (prompt, response): (n_prompt_tokens, n_response_tokens).

    objective: "probability" (the paper: p(y_m | prefix)) or "log_probability".
    batched / chunk_size: batched products, at most `chunk_size` at a time (reverse mode: fewer when the batched
    backward would not fit in half the free memory); batched=False is the paper's per-token loop.
    mode: "reverse", "forward", "loop" (= batched=False) or "auto" (the cheapest measured form for this device
    and these lengths; see :func:`_auto_mode`).
    """
    if objective not in OBJECTIVES:
        raise InvalidParameterError("objective", "'probability' or 'log_probability'", objective)
    if mode not in MODES:
        raise InvalidParameterError("mode", "'auto', 'forward', 'reverse' or 'loop'", mode)
    if chunk_size < 1:
        raise InvalidParameterError("chunk_size", "a positive integer", chunk_size)
    with _attribution_mode(model, eager=batched):
        with _graph_bytes(model) as graph, head_input(model) as captured:
            logits = encoded.forward(encoded.embeds)[0, encoded.predict_at].float()
        scores = torch.log_softmax(logits, -1) if objective == "log_probability" else torch.softmax(logits, -1)
        target = scores.gather(1, encoded.targets[:, None])[:, 0]
        return _gradient_x_input(
            target,
            encoded.embeds,
            encoded.prompt_rows,
            head_input=captured.get("head_input"),
            head_positions=encoded.predict_at,
            forward=lambda embeds: _head_input_of(model, encoded, embeds),
            batched=batched,
            mode=mode,
            chunk_size=chunk_size,
            graph_bytes=graph["bytes"],
        ).detach()


def _head_input_of(model: LoadedModel, encoded: Encoded, embeds: torch.Tensor) -> torch.Tensor:
    """The LM head's input for batched embeddings; the forward pass stops there (no logits)."""
    with head_input(model, stop=True) as captured, contextlib.suppress(HeadReached):
        encoded.forward(embeds)
    return captured["head_input"]


def _gradient_x_input(
    objective: torch.Tensor,
    embeds: torch.Tensor,
    rows: torch.Tensor,
    *,
    head_input: torch.Tensor | None = None,
    head_positions: torch.Tensor | None = None,
    forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
    batched: bool = True,
    mode: str = "auto",
    chunk_size: int = 64,
    graph_bytes: int = 0,
) -> torch.Tensor:
    """I[n, m] = Σ_d ∂objective[m]/∂embeds[0, rows[n], d] · embeds[0, rows[n], d]; returns (len(rows), M).

    `objective` (M,) comes from one forward pass of `embeds` (a leaf). Unbatched: one backward pass per objective
    (the paper's loop). Batched: `head_input` (1, T, D) is the input of the LM head, where objective[m]
    depends on row `head_positions[m]` only (the logits are row-wise in it, and the positions are distinct),
    so one cheap backward through the head gives every ∂objective[m]/∂head_input as rows of a single tensor;
    those rows are then pushed through the transformer body `chunk_size` at a time as batched vector–Jacobian
    products (vmap over the backward pass), or, with mode "forward" (`forward` maps batched embeddings to the LM
    head's input), as batched Jacobian–vector products, one per prompt token (see :func:`_forward_mode`); "loop"
    is the unbatched form. "auto" takes the cheapest (:func:`_auto_mode`). `graph_bytes` (the forward graph's
    saved tensors) caps the reverse chunk so that the batched backward fits in memory (:func:`_reverse_chunk`)."""
    n_out = objective.shape[0]
    inputs = embeds[0, rows].detach()  # (N, D)
    if n_out == 0:
        return inputs.new_zeros((len(rows), 0))
    if mode == "auto":
        mode = _auto_mode(len(rows), n_out, embeds.device, forward is not None)
    if not batched or mode == "loop" or head_input is None or head_positions is None:
        columns = []
        for m in range(n_out):
            (grad,) = torch.autograd.grad(objective[m], embeds, retain_graph=True)
            columns.append((grad[0, rows] * inputs).sum(-1))
        return torch.stack(columns, dim=1)
    # ∂objective[m]/∂head_input[t_m] for every m at once (rows are disjoint, so the sum's gradient separates).
    (head_grad,) = torch.autograd.grad(objective.sum(), head_input, retain_graph=True)  # (1, T, D)
    head_grad = head_grad[0, head_positions]  # (M, D)
    if mode == "forward":
        return _forward_mode(forward, embeds, rows, head_grad, head_positions, chunk_size)
    columns = []
    chunk_size = _reverse_chunk(chunk_size, graph_bytes, embeds.device)
    for start in range(0, n_out, chunk_size):
        chunk = head_positions[start : start + chunk_size]
        vectors = head_input.new_zeros((len(chunk), *head_input.shape))
        vectors[torch.arange(len(chunk)), 0, chunk] = head_grad[start : start + chunk_size]
        (grads,) = torch.autograd.grad(
            head_input, embeds, grad_outputs=vectors, retain_graph=True, is_grads_batched=True
        )  # (chunk, 1, T, D)
        columns.append((grads[:, 0, rows] * inputs).sum(-1).T)
    return torch.cat(columns, dim=1)


def _auto_mode(n_prompt: int, n_response: int, device: torch.device, has_forward: bool) -> str:
    """The cheapest exact mode, from benchmarks/attribution.py on 2 CPU cores: one forward-mode tangent costs about
    4 backward passes (SmolLM2-135M: 5.0 s vs 1.2 s; eager attention with dual tensors) and vmap over the backward
    pass is slower than the plain loop there, so on a CPU: forward when 4 × prompt < response tokens, else the
    loop. Elsewhere (GPU; not measured in this project yet) batching is assumed to pay: forward when the prompt is
    the shorter side, else reverse."""
    if device.type == "cpu":
        return "forward" if has_forward and 4 * n_prompt < n_response else "loop"
    return "forward" if has_forward and n_prompt < n_response else "reverse"


def _reverse_chunk(chunk_size: int, graph_bytes: int, device: torch.device) -> int:
    """How many vector–Jacobian products to batch: each holds about three copies of the forward graph's saved
    tensors, and together they may take half the free memory (RAM, or the GPU's); at most `chunk_size`.
    SmolLM2-135M with a 300-token response: a 32-product chunk needed more than 20 GB."""
    free = torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else psutil.virtual_memory().available
    return int(max(1, min(chunk_size, free // 2 // max(3 * graph_bytes, 1))))


@contextlib.contextmanager
def _graph_bytes(model: LoadedModel) -> Iterator[dict[str, int]]:
    """Count the bytes of the tensors a forward pass saves for backward (the parameters excluded)."""
    parameters = {p.data_ptr() for p in model.hf_model.parameters()}
    total = {"bytes": 0}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        if tensor.data_ptr() not in parameters:
            total["bytes"] += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        yield total


def _forward_mode(
    forward: Callable[[torch.Tensor], torch.Tensor],
    embeds: torch.Tensor,
    rows: torch.Tensor,
    head_grad: torch.Tensor,
    head_positions: torch.Tensor,
    chunk_size: int,
) -> torch.Tensor:
    """Forward-mode form of the same quantity: Σ_d ∂p_m/∂E[n, d]·E[n, d] is the directional derivative of p_m
    along the tangent that equals E on row n and 0 elsewhere. One batched forward pass with `chunk_size` such
    tangents (one per prompt token) gives ∂head_input, which the head gradients turn into whole rows I[n, :].
    Cheaper than the reverse products when the prompt has fewer tokens than the response."""
    base = embeds.detach()
    rows_out = []
    for start in range(0, len(rows), chunk_size):
        chunk = rows[start : start + chunk_size]
        tangent = torch.zeros((len(chunk), *base.shape[1:]), dtype=base.dtype, device=base.device)
        tangent[torch.arange(len(chunk)), chunk] = base[0, chunk]
        # no_grad: only the tangents are needed; recording the parameters' backward graph for a batch of
        # `chunk_size` copies would cost memory (SmolLM2, 300 tokens: > 20 GB) and time for nothing
        with torch.no_grad(), fwAD.dual_level():
            dual = fwAD.make_dual(base.expand(len(chunk), -1, -1).contiguous(), tangent)
            head_tangent = fwAD.unpack_dual(forward(dual)).tangent  # (B, T, D)
        rows_out.append((head_tangent[:, head_positions].float() * head_grad.float()).sum(-1))
    return torch.cat(rows_out, dim=0)


@contextlib.contextmanager
def _attribution_mode(model: LoadedModel, eager: bool) -> Iterator[None]:
    """Eval mode with gradients on; with `eager`, the eager attention kernel (the fused SDPA backward has no vmap
    batching rule and would run the batched products one by one). Everything is restored on exit, also on error."""
    hf = model.hf_model
    attn = getattr(hf.config, "_attn_implementation", None)
    switch = eager and attn not in (None, "eager") and hasattr(hf, "set_attn_implementation")
    try:
        if switch:
            hf.set_attn_implementation("eager")
        with evaluating(model), torch.enable_grad():
            yield
    finally:
        if switch:
            hf.set_attn_implementation(attn)
