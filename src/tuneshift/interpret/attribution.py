"""Input→output gradient attribution (Wu et al. 2023, "From Language Modeling to Instruction Following").

For a prompt and a response, ``text = prompt.strip() + " " + response.strip()``; for each response token y_m the
gradient of **p(y_m | prefix)** (the softmax probability, not its log: the paper's ``generator.py`` back-propagates
``softmax(logits)[..., y_m]``) with respect to the input embeddings E gives

    I[n, m] = Σ_d ∂p(y_m | y_<m, x) / ∂E[n, d] · E[n, d]        (gradient × input, summed over the hidden size)

for every prompt token n (special tokens such as BOS excluded, as in the paper). Methods return the raw matrix
with its tokens and character spans (:class:`Attribution`); aggregation (the paper's sparsification and
importance density) is separate and registered in :data:`AGGREGATORS` (inseq style).

Computation: one forward pass with the embeddings as a leaf, then one of three exact forms (the tests prove they
agree): ``"forward"`` — batched Jacobian–vector products, one per prompt token; ``"reverse"`` — the M
vector–Jacobian products in memory-bounded chunks with ``torch.autograd.grad(..., is_grads_batched=True)`` (vmap
over the backward pass); ``"loop"`` / ``batched=False`` — the paper's one ``backward()`` per response token.
``mode="auto"`` picks the cheapest measured form for the device and the two lengths.

Architectures: any ``AutoModelForCausalLM`` (prompt and response in one sequence; the response token at position t
is predicted by the logits at t − 1) and encoder–decoder models such as T5 (the prompt goes to the encoder, the
response to the decoder with teacher forcing; rows are the encoder's input embeddings).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import psutil
import torch
import torch.autograd.forward_ad as fwAD

from tuneshift._registry import Registry
from tuneshift.errors import InvalidParameterError

Span = tuple[int, int]
ATTRIBUTION_METHODS: Registry[Callable[..., torch.Tensor]] = Registry("attribution method")
AGGREGATORS: Registry[Callable[..., np.ndarray]] = Registry("attribution aggregator")

#: Constants of the paper's analysis code (utils.compute_density), which produced its Tables 1 and 2.
LEVELS = 10
THRESHOLD = 7
DENSITY_P = 4
EPS = 1e-9


@dataclass
class Attribution:
    """Raw attribution of one (prompt, response) pair.

    matrix: (n_prompt_tokens, n_response_tokens) float32, I[n, m] as in the module docstring.
    prompt_spans / response_spans: character spans of each token in `text` (prompt tokens) and in
    `response_text` coordinates of `text` as well (both index into `text`).
    probabilities: p(y_m | prefix) of each response token (the attributed objective).
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
        """Apply a registered aggregator (see :func:`aggregate`) to this attribution's matrix."""
        return aggregate(self, fn, **kwargs)


# --------------------------------------------------------------------------------------------------- aggregation
def aggregate(attribution: Attribution | np.ndarray | torch.Tensor, fn: str = "wu2023_density", **kwargs: Any):
    """Run aggregator `fn` (one of ``AGGREGATORS.names()``) on an attribution or a raw (inputs × outputs) matrix."""
    matrix = attribution.matrix if isinstance(attribution, Attribution) else attribution
    if isinstance(matrix, torch.Tensor):
        matrix = matrix.detach().cpu().numpy()
    return AGGREGATORS.get(fn)(np.asarray(matrix), **kwargs)


@AGGREGATORS.register("wu2023_sparsify")
def sparsify(matrix: np.ndarray, levels: int = LEVELS, threshold: float = THRESHOLD, eps: float = EPS) -> np.ndarray:
    """The paper's sparsification, per output column m: clamp at 0, divide by the column's max over inputs
    (+eps), S = ceil(levels·x) ∈ {0..levels}, then zero the entries ≤ `threshold` (b; 7 in the analyses, 0 in
    the shipped attribution files)."""
    x = np.maximum(matrix, 0)
    x = np.ceil(x / (x.max(axis=0, keepdims=True) + eps) * levels) if x.size else x
    return np.where(x <= threshold, 0, x).astype(matrix.dtype, copy=False)


@AGGREGATORS.register("wu2023_density")
def importance_density(
    matrix: np.ndarray,
    threshold: float = THRESHOLD,
    p: float = DENSITY_P,
    levels: int = LEVELS,
    eps: float = EPS,
    normalize: bool = True,
) -> np.ndarray:
    """Importance density of each input token n: ‖S_n‖₁ / (‖S_n‖_p + eps), divided by its max over inputs.

    S is the sparsified matrix. Exactly the paper's ``utils.compute_density``: a matrix that is already
    sparsified (max == levels and min == 0, as in the shipped files) is only thresholded at `threshold`;
    anything else (a raw matrix) is sparsified first. Returns (n_inputs,) in [0, 1]."""
    x = np.asarray(matrix)
    if x.size == 0:
        return np.zeros(x.shape[0], dtype=x.dtype if x.dtype.kind == "f" else np.float32)
    if x.max() == levels and x.min() == 0:
        x = np.where(x <= threshold, 0, x).astype(x.dtype, copy=False)
    else:
        x = sparsify(x, levels=levels, threshold=threshold, eps=eps)
    l1 = x.sum(axis=-1)
    lp = (x**p).sum(axis=-1) ** (1.0 / p) + eps
    density = l1 / lp
    return density / (eps + density.max()) if normalize else density


# ----------------------------------------------------------------------------------------------- model handling
def unwrap_model(model: Any, tokenizer: Any = None) -> tuple[Any, Any]:
    """Accept a HF model + tokenizer, or an object with `.hf_model` and `.tokenizer` (tuneshift.models)."""
    if hasattr(model, "hf_model"):
        tokenizer = tokenizer if tokenizer is not None else getattr(model, "tokenizer", None)
        model = model.hf_model
    if tokenizer is None:
        raise InvalidParameterError(
            "tokenizer", "a Hugging Face tokenizer", None, "Pass tokenizer=, or a tuneshift LoadedModel."
        )
    if not getattr(tokenizer, "is_fast", False):
        raise InvalidParameterError(
            "tokenizer",
            "a fast (Rust) tokenizer that returns character offsets",
            type(tokenizer).__name__,
            "Load it with AutoTokenizer.from_pretrained(..., use_fast=True).",
        )
    return model, tokenizer


def _is_encoder_decoder(model: Any) -> bool:
    return bool(getattr(model.config, "is_encoder_decoder", False))


class PromptText(NamedTuple):
    """The prompt as the model sees it, whether the tokenizer adds its special tokens, and what joins the response."""

    text: str
    add_special_tokens: bool
    separator: str


def format_prompt(tokenizer: Any, prompt: str, chat_template: bool) -> PromptText:
    """The prompt text the model sees (Wu et al.: ``prompt.strip() + " " + response``).

    With `chat_template` (and a tokenizer that has one) the user turn is wrapped by the template exactly as
    ``apply_chat_template(..., add_generation_prompt=True)`` writes it — special tokens included, and the
    generation prompt's own ending (SmolLM2: ``<|im_start|>assistant\n``) kept — and the response follows it
    directly, as in training."""
    if chat_template and getattr(tokenizer, "chat_template", None):
        templated = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt.strip()}], tokenize=False, add_generation_prompt=True
        )
        return PromptText(templated, False, "")
    if chat_template:
        warnings.warn("The tokenizer has no chat template; using the raw prompt.", stacklevel=3)
    return PromptText(prompt.strip(), True, " ")


@torch.no_grad()
def generate_response(
    model: Any, tokenizer: Any = None, prompt: str = "", *, max_new_tokens: int = 300, chat_template: bool = False
) -> str:
    """Greedy continuation of `prompt` (at most `max_new_tokens` tokens), special tokens dropped."""
    model, tokenizer = unwrap_model(model, tokenizer)
    formatted = format_prompt(tokenizer, prompt, chat_template)
    enc = tokenizer(formatted.text, return_tensors="pt", add_special_tokens=formatted.add_special_tokens)
    enc = enc.to(model.device)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, pad_token_id=pad)
    new = out[0] if _is_encoder_decoder(model) else out[0, enc["input_ids"].shape[1] :]
    return tokenizer.decode(new, skip_special_tokens=True).strip()


@dataclass
class _Encoded:
    """Token ids and where the prompt rows and the response columns are."""

    embeds: torch.Tensor  # (1, T_in, D) leaf fed as inputs_embeds
    forward: Callable[[torch.Tensor], torch.Tensor]  # embeds (B, T_in, D) -> logits (B, T_out, V)
    prompt_rows: torch.Tensor  # indices into T_in of the prompt tokens
    predict_at: torch.Tensor  # logits position predicting each response token
    targets: torch.Tensor  # response token ids
    prompt_tokens: list[str]
    response_tokens: list[str]
    prompt_spans: list[Span]
    response_spans: list[Span]


def _tokenize(tokenizer: Any, text: str, add_special: bool) -> dict[str, Any]:
    enc = tokenizer(text, add_special_tokens=add_special, return_offsets_mapping=True, return_special_tokens_mask=True)
    return enc


def _encode(model: Any, tokenizer: Any, prompt: PromptText, response: str) -> _Encoded:
    prompt_text, add_special, separator = prompt
    embed = model.get_input_embeddings()
    device = embed.weight.device
    if _is_encoder_decoder(model):
        enc = _tokenize(tokenizer, prompt_text, add_special)
        dec = _tokenize(tokenizer, response, False)
        in_ids = torch.tensor([enc["input_ids"]], device=device)
        target_ids = torch.tensor(dec["input_ids"], dtype=torch.long, device=device)
        start = model.config.decoder_start_token_id
        decoder_ids = torch.cat([torch.tensor([start], device=device), target_ids[:-1]])[None]
        prompt_rows = [i for i, s in enumerate(enc["special_tokens_mask"]) if not s]
        shift = len(prompt_text) + len(separator)
        response_spans = [(a + shift, b + shift) for a, b in dec["offset_mapping"]]

        def forward(embeds: torch.Tensor) -> torch.Tensor:
            return model(inputs_embeds=embeds, decoder_input_ids=decoder_ids.expand(len(embeds), -1)).logits

        predict_at = torch.arange(len(target_ids), device=device)
        prompt_ids = [enc["input_ids"][i] for i in prompt_rows]
        prompt_spans = [tuple(enc["offset_mapping"][i]) for i in prompt_rows]
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
            return model(inputs_embeds=embeds).logits

        predict_at = torch.tensor(response_pos, dtype=torch.long, device=device) - 1
        prompt_ids = [enc["input_ids"][i] for i in prompt_rows]
        prompt_spans = [tuple(enc["offset_mapping"][i]) for i in prompt_rows]
        response_spans = [tuple(enc["offset_mapping"][i]) for i in response_pos]
        response_token_ids = target_ids.tolist()
    forward.head = model.get_output_embeddings()  # type: ignore[attr-defined]
    embeds = embed(in_ids).detach().requires_grad_(True)
    return _Encoded(
        embeds=embeds,
        forward=forward,
        prompt_rows=torch.tensor(prompt_rows, dtype=torch.long, device=device),
        predict_at=predict_at,
        targets=target_ids,
        prompt_tokens=tokenizer.convert_ids_to_tokens(prompt_ids),
        response_tokens=tokenizer.convert_ids_to_tokens(response_token_ids),
        prompt_spans=[tuple(map(int, s)) for s in prompt_spans],
        response_spans=[tuple(map(int, s)) for s in response_spans],
    )


# ------------------------------------------------------------------------------------------------ the method
@ATTRIBUTION_METHODS.register("gradient_x_input")
def gradient_x_input(
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
    those rows are then pushed through the transformer
    body `chunk_size` at a time as batched vector–Jacobian products (vmap over the backward pass), or, with
    mode "forward" (`forward` maps batched embeddings to logits), as batched Jacobian–vector products, one per
    prompt token (see :func:`_forward_mode`); "loop" is the unbatched form. "auto" takes the cheapest
    (:func:`_auto_mode`). `graph_bytes` (the forward graph's saved tensors) caps the reverse chunk so that
    the batched backward fits in memory (:func:`_reverse_chunk`)."""
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
def _graph_bytes(model: Any) -> Iterator[dict[str, int]]:
    """Count the bytes of the tensors a forward pass saves for backward (the parameters excluded)."""
    parameters = {p.data_ptr() for p in model.parameters()}
    total = {"bytes": 0}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        if tensor.data_ptr() not in parameters:
            total["bytes"] += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        yield total


class _HeadReached(Exception):
    """Raised by the pre-hook on the LM head to stop a forward pass once the head's input is known."""


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
        with torch.no_grad(), fwAD.dual_level(), _stop_at_head(forward) as captured:
            dual = fwAD.make_dual(base.expand(len(chunk), -1, -1).contiguous(), tangent)
            with contextlib.suppress(_HeadReached):
                forward(dual)
            head_tangent = fwAD.unpack_dual(captured["head_input"]).tangent  # (B, T, D)
        rows_out.append((head_tangent[:, head_positions].float() * head_grad.float()).sum(-1))
    return torch.cat(rows_out, dim=0)


@contextlib.contextmanager
def _attribution_mode(model: Any, eager: bool) -> Iterator[dict[str, torch.Tensor]]:
    """Eval mode with gradients on; capture the LM head's input; with `eager`, the eager attention kernel (the
    fused SDPA backward has no vmap batching rule and would run the batched products one by one). Everything is
    restored on exit, also on error."""
    captured: dict[str, torch.Tensor] = {}
    head = model.get_output_embeddings()
    handle = head.register_forward_hook(lambda module, args, output: captured.__setitem__("head_input", args[0]))
    was_training = model.training
    attn = getattr(model.config, "_attn_implementation", None)
    switch = eager and attn not in (None, "eager") and hasattr(model, "set_attn_implementation")
    try:
        if switch:
            model.set_attn_implementation("eager")
        model.eval()
        with torch.enable_grad():
            yield captured
    finally:
        handle.remove()
        model.train(was_training)
        if switch:
            model.set_attn_implementation(attn)


@contextlib.contextmanager
def _stop_at_head(forward: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[dict[str, torch.Tensor]]:
    """Capture the LM head's input and stop the forward pass there (the logits are not needed)."""
    captured: dict[str, torch.Tensor] = {}

    def hook(module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        captured["head_input"] = args[0]
        raise _HeadReached

    handle = forward.head.register_forward_pre_hook(hook)  # type: ignore[attr-defined]
    try:
        yield captured
    finally:
        handle.remove()


def attribute(
    model: Any,
    tokenizer: Any = None,
    prompt: str = "",
    response: str | None = None,
    *,
    method: str = "gradient_x_input",
    max_new_tokens: int = 300,
    chat_template: bool = False,
    objective: str = "probability",
    batched: bool = True,
    mode: str = "auto",
    chunk_size: int = 64,
) -> Attribution:
    """Attribute each response token to each prompt token (see the module docstring for the definition).

    model: a HF causal LM or encoder–decoder (T5), or an object with `.hf_model` and `.tokenizer`.
    response: the response to explain; None generates it greedily (at most `max_new_tokens` tokens).
    chat_template: wrap the prompt in the tokenizer's chat template (the template's tokens become prompt rows).
    objective: "probability" (the paper: p(y_m | prefix)) or "log_probability".
    batched / chunk_size: batched products, at most `chunk_size` at a time (reverse mode: fewer when the batched
    backward would not fit in half the free memory); batched=False is the paper's per-token loop.
    mode: "reverse" (batched vector–Jacobian products, one per response token), "forward" (batched
    Jacobian–vector products, one per prompt token), "loop" (= batched=False) or "auto" (the cheapest measured
    form for this device and these lengths; see :func:`_auto_mode`).
    """
    model, tokenizer = unwrap_model(model, tokenizer)
    if objective not in ("probability", "log_probability"):
        raise InvalidParameterError("objective", "'probability' or 'log_probability'", objective)
    if not prompt.strip():
        raise InvalidParameterError("prompt", "a non-empty prompt", prompt)
    if mode not in ("auto", "forward", "reverse", "loop"):
        raise InvalidParameterError("mode", "'auto', 'forward', 'reverse' or 'loop'", mode)
    if chunk_size < 1:
        raise InvalidParameterError("chunk_size", "a positive integer", chunk_size)
    method_fn = ATTRIBUTION_METHODS.get(method)
    if response is None:
        response = generate_response(
            model, tokenizer, prompt, max_new_tokens=max_new_tokens, chat_template=chat_template
        )
    formatted = format_prompt(tokenizer, prompt, chat_template)
    response = response.strip()
    with _attribution_mode(model, eager=batched) as captured:
        enc = _encode(model, tokenizer, formatted, response)
        with _graph_bytes(model) as graph:
            logits = enc.forward(enc.embeds)[0, enc.predict_at].float()
        scores = torch.log_softmax(logits, -1) if objective == "log_probability" else torch.softmax(logits, -1)
        target = scores.gather(1, enc.targets[:, None])[:, 0]
        matrix = method_fn(
            target,
            enc.embeds,
            enc.prompt_rows,
            head_input=captured.get("head_input"),
            head_positions=enc.predict_at,
            forward=enc.forward,
            batched=batched,
            mode=mode,
            chunk_size=chunk_size,
            graph_bytes=graph["bytes"],
        )
    probabilities = torch.softmax(logits.detach(), -1).gather(1, enc.targets[:, None])[:, 0]
    return Attribution(
        matrix=matrix.detach().float().cpu(),
        prompt_tokens=enc.prompt_tokens,
        response_tokens=enc.response_tokens,
        prompt_spans=enc.prompt_spans,
        response_spans=enc.response_spans,
        text=formatted.text + formatted.separator + response,
        prompt=formatted.text,
        response=response,
        probabilities=probabilities.cpu(),
        method=method,
        metadata={"objective": objective, "encoder_decoder": _is_encoder_decoder(model)},
    )
