"""A tuneshift model as an lm-evaluation-harness ``LM``: any lm-eval task runs on anything :func:`load_model` takes
(hub id, directory, GGUF, catalog name, tuned directory).

:class:`HarnessLM` is lm-eval's own Hugging Face backend (``HFLM``) wrapped around the already loaded model, so
tokenization, left truncation, generation (greedy, stop sequences) and chat templates are lm-eval's, and numbers
match ``lm_eval --model hf`` on the same files. Two things are ours:

- **one forward pass per question**: log-likelihood requests whose continuation is one token and whose (truncated)
  context is the same — the four options " A".." D" of a multiple-choice question — are scored from one pass over
  the context, reading the log-softmax at its last position; other requests get their own pass (``one_pass=False``
  scores every request on its own, lm-eval's ``logits_cache=False`` behaviour). Only the positions that are scored go
  through the output layer (``logits_to_keep``), not the whole sequence × vocabulary.
- **rolling log-likelihood in overlapping windows**: a long text is cut into windows of ``max_length`` tokens that
  advance by ``rolling_stride`` tokens, each scoring only its new tokens with the rest as left context (the
  standard strided perplexity). ``rolling_stride=None`` advances by the whole window with one token of context,
  exactly lm-eval's ``get_rolling_token_windows(context_len=1)``. The number of tokens scored per text is kept in
  :attr:`HarnessLM.token_counts`.

>>> from tuneshift.models import load_model
>>> lm = HarnessLM(load_model("smollm2-135m-instruct"), batch_size=8)  # doctest: +SKIP
>>> lm_eval.simple_evaluate(model=lm, tasks=["my_local_task"])  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from lm_eval.models.huggingface import HFLM

from tuneshift.errors import InvalidParameterError
from tuneshift.progress import Tracker, progress

if TYPE_CHECKING:
    from lm_eval.api.instance import Instance

    from tuneshift.models.load import LoadedModel

#: One request as lm-eval's TemplateLM hands it over: ((context, continuation) strings or None, their token ids.
TokenRequest = tuple[tuple[str, str] | None, list[int], list[int]]


class HarnessLM(HFLM):
    """lm-eval ``LM`` over a :class:`~tuneshift.models.load.LoadedModel` (see the module docstring).

    batch_size: forward-pass rows per call. max_length: context window in tokens (default: the model's, as lm-eval
    resolves it). one_pass: score single-token options of one context from one pass. rolling_stride: tokens a
    rolling window advances by (None: the whole window, lm-eval's disjoint windows). show_progress: counts and ETA.
    """

    def __init__(
        self,
        model: LoadedModel,
        *,
        batch_size: int = 8,
        max_length: int | None = None,
        one_pass: bool = True,
        rolling_stride: int | None = None,
        show_progress: bool = True,
    ) -> None:
        if batch_size < 1:
            raise InvalidParameterError("batch_size", "an integer >= 1", batch_size)
        super().__init__(
            pretrained=model.hf_model,
            tokenizer=model.tokenizer,
            backend="seq2seq" if model.is_encoder_decoder else "causal",
            batch_size=batch_size,
            max_length=max_length,
            logits_cache=False,
        )
        if rolling_stride is not None and not 0 < rolling_stride <= self.max_length:
            raise InvalidParameterError(
                "rolling_stride", f"an integer in 1..{self.max_length} (the context window)", rolling_stride
            )
        self.loaded = model
        self.one_pass = one_pass
        self.rolling_stride = rolling_stride
        self.show_progress = show_progress
        self.token_counts: dict[str, int] = {}
        self.forward_rows = 0  # rows run through the model: one per question with one_pass, one per option without
        self._keeps_logits = "logits_to_keep" in inspect.signature(model.hf_model.forward).parameters

    # ------------------------------------------------------------------------------------------ progress
    # lm-eval's tqdm bars are never shown: progress is tuneshift's (counts and ETA on a terminal, a line every
    # TUNESHIFT_PROGRESS_SECONDS in a log), advanced by our own scoring or, where lm-eval's HFLM does the work, by
    # the cache hook it calls once per answered request.
    @contextmanager
    def _counted(self, stage: str, total: int) -> Iterator[None]:
        """Advance a progress stage of `total` requests each time lm-eval's code answers one, while the block runs."""
        with progress(stage, total, unit="requests", enabled=self.show_progress) as tracker:
            hook, self.cache_hook = self.cache_hook, _CountingHook(self.cache_hook, tracker)
            try:
                yield
            finally:
                self.cache_hook = hook
            tracker.advance(total - tracker.done)  # requests lm-eval answers without the hook (rolling windows)

    def loglikelihood(self, requests: list[Instance], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        """lm-eval's, without its "Tokenizing inputs" bar."""
        return super().loglikelihood(requests, disable_tqdm=True)

    def generate_until(self, requests: list[Instance], disable_tqdm: bool = False) -> list[str]:
        """lm-eval's generation, its progress shown as tuneshift's."""
        with self._counted("generation", len(requests)):
            return super().generate_until(requests, disable_tqdm=True)

    # ------------------------------------------------------------------------------------------ log-likelihood
    def _loglikelihood_tokens(
        self, requests: list[TokenRequest], disable_tqdm: bool = False, override_bs: int | None = None
    ) -> list[tuple[float, bool]]:
        """(log p(continuation | context), continuation is the greedy decode) for each request, in order."""
        if self.backend != "causal":
            with self._counted("log-likelihood", len(requests)):
                return super()._loglikelihood_tokens(requests, disable_tqdm=True, override_bs=override_bs)
        rows: dict[tuple[int, ...], list[int]] = defaultdict(list)  # model input -> requests scored from it
        for index, (_, context, continuation) in enumerate(requests):
            window = (context + continuation)[-(self.max_length + 1) :]  # lm-eval's left truncation
            if self.one_pass and len(continuation) == 1:
                rows[tuple(window[:-1])].append(index)
            else:
                rows[(*window[:-1], -1 - index)].append(index)  # a key of its own: never shared
        results: list[tuple[float, bool] | None] = [None] * len(requests)
        ordered = sorted(rows.items(), key=lambda item: -len(item[0]))  # similar lengths share a batch
        with progress("log-likelihood", len(requests), unit="requests", enabled=self.show_progress) as tracker:
            for start in range(0, len(ordered), self.batch_size):
                batch = ordered[start : start + self.batch_size]
                self._score_batch(batch, requests, results)
                tracker.advance(sum(len(members) for _, members in batch))
        return results  # type: ignore[return-value]

    def _score_batch(
        self,
        batch: list[tuple[tuple[int, ...], list[int]]],
        requests: list[TokenRequest],
        results: list[tuple[float, bool] | None],
    ) -> None:
        """One forward pass over right-padded rows; each member request reads the positions of its continuation."""
        inputs = [[token for token in key if token >= 0] for key, _ in batch]
        width = max(len(row) for row in inputs)
        ids = torch.zeros((len(inputs), width), dtype=torch.long)
        for i, row in enumerate(inputs):
            ids[i, : len(row)] = torch.tensor(row)
        # positions whose next-token distribution is read: the last len(continuation) of each row
        needed = sorted(
            {
                position
                for (_, members), row in zip(batch, inputs, strict=True)
                for index in members
                for position in range(len(row) - len(requests[index][2]), len(row))
            }
        )
        column = {position: i for i, position in enumerate(needed)}
        kwargs = {"logits_to_keep": torch.tensor(needed, device=self.device)} if self._keeps_logits else {}
        with torch.no_grad():
            logits = self.model(ids.to(self.device), **kwargs).logits
        if not self._keeps_logits:
            logits = logits[:, needed]
        logprobs = F.log_softmax(logits, dim=-1, dtype=self.softmax_dtype)
        self.forward_rows += len(inputs)
        for (_, members), row, scores in zip(batch, inputs, logprobs, strict=True):
            for index in members:
                continuation = requests[index][2]
                columns = [column[p] for p in range(len(row) - len(continuation), len(row))]
                picked = scores[columns]
                target = torch.tensor(continuation, device=picked.device)
                logprob = float(picked.gather(1, target[:, None]).sum())
                results[index] = (logprob, bool((picked.argmax(-1) == target).all()))
                if requests[index][0] is not None:  # lm-eval's response cache (use_cache=...), as HFLM fills it
                    self.cache_hook.add_partial("loglikelihood", requests[index][0], results[index])

    # ------------------------------------------------------------------------------------------ rolling
    def loglikelihood_rolling(self, requests: list[Instance], disable_tqdm: bool = False) -> list[float]:
        """Total log-likelihood (nats) of each text, every token scored once, in windows of ``max_length`` tokens
        advancing by ``rolling_stride`` (the first token conditioned on the prefix token, BOS or EOS)."""
        windows: list[TokenRequest] = []
        owner: list[int] = []
        for index, request in enumerate(requests):
            (text,) = request.args
            tokens = self.tok_encode(text)
            self.token_counts[text] = len(tokens)
            for context, continuation in rolling_windows(
                tokens, self.prefix_token_id, self.max_length, self.rolling_stride
            ):
                windows.append((None, context, continuation))
                owner.append(index)
        scores = self._loglikelihood_tokens(windows, disable_tqdm=disable_tqdm)
        totals = [0.0] * len(requests)
        for index, (logprob, _) in zip(owner, scores, strict=True):
            totals[index] += logprob
        return totals


class _CountingHook:
    """lm-eval's cache hook (it stores each answer in the response cache) that also advances a progress tracker."""

    def __init__(self, hook: Any, tracker: Tracker) -> None:
        self.hook, self.tracker = hook, tracker

    def add_partial(self, attr: str, request: Any, result: Any) -> None:
        self.hook.add_partial(attr, request, result)
        self.tracker.advance()


def rolling_windows(
    tokens: list[int], prefix_token: int, window: int, stride: int | None = None
) -> list[tuple[list[int], list[int]]]:
    """(context, continuation) token windows that score every token of `tokens` once.

    The sequence is ``[prefix_token] + tokens``; each window holds at most ``window + 1`` tokens (the model sees
    ``window``), scores its continuation (at most `stride` new tokens; the first window scores up to `window`) and
    takes as context the tokens just before it. ``stride=None`` (= `window`) gives lm-eval's disjoint windows.
    """
    stride = window if stride is None else stride
    sequence = [prefix_token, *tokens]
    spans = []
    first = 1
    while first < len(sequence):
        last = min(first + (window if first == 1 else stride), len(sequence))  # exclusive
        start = max(0, last - window - 1)
        spans.append((sequence[start:first], sequence[first:last]))
        first = last
    return spans
