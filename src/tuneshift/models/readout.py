"""Word-aligned readout: every layer's representation of every word, and every word's surprisal, in one forward
pass per passage.

For a causal model, position t of one forward pass over a whole passage sees exactly the tokens 0..t, so it equals
Brain-Score's reference of re-running the model on each word's prefix (``tuneshift.models.reference``) up to
floating-point error — at a cost linear, not quadratic, in the passage length. Passages are batched (right padding,
attention mask) and all layers are captured at once by forward hooks on the real blocks. Results stream into a
memory-mapped array on disk batch by batch, so a 7B model's 33 layers × 10k words never sit in RAM.

Passages longer than the context window (``max_context`` tokens, default the model's maximum) are read in
overlapping windows: each window after the first repeats the last ``min_context`` tokens (default half the window)
of the previous one as left context, so every word is read with at least ``min_context`` tokens of context. A
leading BOS token, when the tokenizer adds one, starts every window.

Encoder–decoder models (T5) have a bidirectional encoder, so one pass cannot stand for every prefix: they are read
per word (see :func:`_encoder_decoder_batches`), only at the words a caller asks for.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import torch
import transformers

from tuneshift._io import UNWRITABLE, out_of_space, reserve
from tuneshift.errors import InvalidInputError, InvalidParameterError
from tuneshift.models.cache import ActivationCache, Readout
from tuneshift.models.hooks import HookableModel, capture_layers
from tuneshift.models.subject import POOLINGS, Passages, ReadoutOptions, Representations
from tuneshift.models.text import TokenizedPassage, tokenize_passages, validate_passages
from tuneshift.progress import progress as progress_of

READOUT_VERSION = 1
STORE_DTYPES = {"float32": np.float32, "float16": np.float16}
BATCH_TOKENS = 4096  # padded tokens per forward pass (more when one window is longer)
LOG2 = float(np.log(2.0))


class ReadableModel(HookableModel, Protocol):
    """What a readout needs of a model (:class:`tuneshift.models.load.LoadedModel` is one, its properties read-only);
    a protocol, so that this module does not import the loader (which imports it: a model's representations are
    read here)."""

    name: str
    tokenizer: transformers.PreTrainedTokenizerBase
    fingerprint: str
    device: torch.device
    n_layers: int
    n_encoder_layers: int
    is_encoder_decoder: bool
    hidden_size: int
    vocab_size: int
    max_length: int


@dataclass(frozen=True)
class ReadoutSpec:
    """Everything besides the model and the stimuli that changes a readout's numbers (part of the cache key)."""

    layers: tuple[int, ...]
    pooling: str = "last"
    max_context: int = 0
    min_context: int = 0
    store_dtype: str = "float32"
    version: int = READOUT_VERSION


def read_out(
    model: ReadableModel,
    passages: Sequence[Sequence[str]],
    *,
    layers: Sequence[int] | str = "all",
    pooling: str = "last",
    batch_size: int = 8,
    max_context: int | None = None,
    min_context: int | None = None,
    store_dtype: str = "float32",
    words_needed: np.ndarray | None = None,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> Readout:
    """Read every word of every passage through `model`.

    passages: lists of the data's own words; context runs within a passage only.
    layers: "all" (0..n_layers), or a list of layer indices, or [] for surprisal only.
    pooling: "last" — the hidden state of the word's last token (Brain-Score); "mean" — mean over its tokens.
    max_context / min_context: window length and guaranteed left context in tokens (see the module docstring).
    store_dtype: "float32" or "float16" for the stored activations (float16 halves disk and memory).
    words_needed: optional (n_words_total,) bool mask of the words whose representation is needed; only
        encoder–decoder models use it (they are read per word), causal models read all words at no extra cost.
    cache: reuse / store the result under the activation cache, keyed by (model fingerprint, stimuli, spec).
    """
    passages = validate_passages(passages)
    spec = _make_spec(model, layers, pooling, max_context, min_context, store_dtype)
    store = None
    if cache:
        store = ActivationCache(cache_dir)
        key = store.key(model.fingerprint, passages, spec, words_needed, dtype=str(model.hf_model.dtype))
        hit = store.load(key)
        if hit is not None:
            return hit
    tokenized = tokenize_passages(model.tokenizer, passages)
    words = _words_frame(passages, tokenized)
    _warn_vanished(words)
    work_dir = store.work_dir() if store else Path(tempfile.mkdtemp(prefix="readout-"))
    try:
        activations = _allocate(work_dir, spec, len(words), model.hidden_size)
        surprisal = np.zeros(len(words), dtype=np.float64)
        starts = np.concatenate([[0], np.cumsum([t.n_words for t in tokenized])])
        if model.is_encoder_decoder:
            batches = _encoder_decoder_batches(model, tokenized, starts, spec, batch_size, words_needed)
        else:
            batches = _causal_batches(model, tokenized, starts, spec, batch_size)
        _run(model, batches, spec, activations, surprisal, progress)
        surprisal[starts[:-1]] = np.nan  # the first word of a passage has no context: no surprisal
        surprisal[words["n_tokens"].to_numpy() == 0] = np.nan
        words["surprisal_bits"] = surprisal
        if store is not None:
            return store.commit(key, work_dir, words, spec, activations)
        readout = Readout(words, list(spec.layers), _in_memory(activations), None)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return readout


def model_representations(
    model: ReadableModel,
    passages: Passages,
    layers: Sequence[int],
    *,
    at: tuple[np.ndarray, np.ndarray] | None = None,
    pooling: str = "last",
    readout: ReadoutOptions | None = None,
    cache: bool = True,
    progress: bool = True,
) -> Representations:
    """`model`'s representations of the words `at` ((passage, word_index) arrays; default every word) at `layers`.

    Only the requested rows leave the (memory-mapped) readout, so a benchmark that needs one word per sentence
    never holds the whole (layers, words, hidden) array; without `at` the values stay memory-mapped when cached.
    """
    readout = readout or ReadoutOptions()
    needed = None
    if at is not None:
        starts = np.concatenate([[0], np.cumsum([len(p) for p in passages])])
        needed = np.zeros(starts[-1], dtype=bool)
        needed[starts[np.asarray(at[0])] + np.asarray(at[1])] = True
    result = read_out(
        model,
        passages,
        layers=list(layers),
        pooling=pooling,
        words_needed=needed,
        cache=cache,
        progress=progress,
        **readout.readout_kwargs(),
    )
    if at is None:
        return Representations(result.activations, result.layers)
    rows = result.rows(np.asarray(at[0]), np.asarray(at[1]))
    return Representations(np.asarray(result.activations[:, rows, :], dtype=np.float32), result.layers)


def model_surprisal(
    model: ReadableModel,
    passages: Passages,
    *,
    readout: ReadoutOptions | None = None,
    cache: bool = True,
    progress: bool = True,
) -> np.ndarray:
    """(n_words,) surprisal in bits of every word, passages in order (NaN for each passage's first word)."""
    readout = readout or ReadoutOptions()
    words = read_out(model, passages, layers=[], cache=cache, progress=progress, **readout.readout_kwargs()).words
    return words.sort_values(["passage", "word_index"], kind="stable")["surprisal_bits"].to_numpy(dtype=float)


def _make_spec(model, layers, pooling, max_context, min_context, store_dtype) -> ReadoutSpec:
    if pooling not in POOLINGS:
        raise InvalidParameterError("pooling", f"one of {POOLINGS}", pooling)
    if store_dtype not in STORE_DTYPES:
        raise InvalidParameterError("store_dtype", f"one of {sorted(STORE_DTYPES)}", store_dtype)
    if isinstance(layers, str):
        if layers != "all":
            raise InvalidParameterError("layers", '"all" or a list of layer indices', layers)
        layers = range(model.n_layers + 1)
    layers = tuple(sorted({int(layer) for layer in layers}))
    if layers and (layers[0] < 0 or layers[-1] > model.n_layers):
        raise InvalidParameterError("layers", f"indices in 0..{model.n_layers}", list(layers))
    window = int(max_context or model.max_length)
    if window < 2 or window > model.max_length:
        raise InvalidParameterError("max_context", f"an integer in 2..{model.max_length}", max_context)
    context = int(min_context if min_context is not None else window // 2)
    if not 0 <= context < window - 1:
        raise InvalidParameterError("min_context", f"an integer in 0..{window - 2}", min_context)
    return ReadoutSpec(layers, pooling, window, context, store_dtype)


def _words_frame(passages: list[list[str]], tokenized: list[TokenizedPassage]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "passage": np.repeat(np.arange(len(passages)), [len(p) for p in passages]),
            "word_index": np.concatenate([np.arange(len(p)) for p in passages]),
            "word": [word for passage in passages for word in passage],
            "n_tokens": np.concatenate([t.word_n_tokens for t in tokenized]),
        }
    )


def _warn_vanished(words: pd.DataFrame) -> None:
    vanished = words[words["n_tokens"] == 0]
    if len(vanished):
        listed = ", ".join(f"passage {r.passage} word {r.word_index} {r.word!r}" for r in vanished.head(5).itertuples())
        warnings.warn(
            f"{len(vanished)} word(s) got no token of their own ({listed}{', ...' if len(vanished) > 5 else ''}): "
            "their representation is that of the preceding token and their surprisal is NaN (n_tokens = 0).",
            stacklevel=3,
        )
    if (words["n_tokens"].to_numpy() == 0).any() and (words.groupby("passage")["n_tokens"].cumsum() == 0).any():
        first = words[words.groupby("passage")["n_tokens"].cumsum() == 0].iloc[0]
        raise InvalidInputError(
            f"passage {first.passage} word {first.word_index} {first.word!r}: no token at or before this word "
            "survives tokenization, so it has no representation. Remove or respell the word."
        )


def _allocate(work_dir: Path, spec: ReadoutSpec, n_words: int, hidden: int) -> np.ndarray | None:
    """The (layers, words, hidden) activations array: a memory-mapped ``work_dir/activations.npy`` whose disk
    blocks are reserved before any write (a store into a sparse mapping on a full disk is a SIGBUS, issue 25); when
    the disk has no room (or is read-only), an array in memory, with a warning (the readout is then not cached)."""
    if not spec.layers:
        return None
    shape, dtype = (len(spec.layers), n_words, hidden), np.dtype(STORE_DTYPES[spec.store_dtype])
    path = work_dir / "activations.npy"
    try:
        activations = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
        reserve(path, activations.offset + activations.nbytes)
        return activations
    except OSError as error:
        if not (out_of_space(error, work_dir) or error.errno in UNWRITABLE):
            raise
        path.unlink(missing_ok=True)
        warnings.warn(
            f"{work_dir}: no room for the activations ({np.prod(shape) * dtype.itemsize / 2**20:.1f} MiB are needed); "
            "keeping them in memory, not cached. Free space there or set TUNESHIFT_ACTIVATIONS to another folder.",
            stacklevel=3,
        )
        return np.zeros(shape, dtype)


def _in_memory(activations: np.ndarray | None) -> np.ndarray | None:
    return None if activations is None else np.array(activations)


@dataclass
class Batch:
    """One forward pass: padded inputs plus what to gather from it.

    gather_b, gather_p: (n,) batch row and position of the token states to pool into word representations;
        gather_word: (n,) global word row each gathered state belongs to (several per word for mean pooling).
    predict_b, predict_p: (m,) positions whose next-token distribution scores token id predict_target;
        predict_word: (m,) global word row that token belongs to. (Decoder positions for encoder–decoders.)
    decoder_input_ids: for encoder–decoder models; representations at decoder layers are gathered at
        (gather_b, decoder_p).
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    gather_b: np.ndarray
    gather_p: np.ndarray
    gather_word: np.ndarray
    predict_b: np.ndarray
    predict_p: np.ndarray
    predict_word: np.ndarray
    predict_target: np.ndarray
    decoder_input_ids: torch.Tensor | None = None
    decoder_attention_mask: torch.Tensor | None = None
    decoder_p: np.ndarray | None = None
    n_items: int = 1  # work done, in the progress unit: tokens (causal) or words (encoder–decoder)


@dataclass
class _Window:
    ids: np.ndarray  # token ids fed to the model
    gather_p: np.ndarray
    gather_word: np.ndarray
    predict_p: np.ndarray
    predict_word: np.ndarray
    predict_target: np.ndarray


def _windows(passage: TokenizedPassage, row0: int, spec: ReadoutSpec) -> Iterator[_Window]:
    """Split one passage into overlapping windows and say, per window, which tokens it is responsible for."""
    ids, token_word = passage.token_ids, passage.token_word
    lead = int(np.argmax(token_word >= 0)) if (token_word >= 0).any() else 0  # leading special tokens (BOS)
    content_end = int(np.flatnonzero(token_word >= 0)[-1]) + 1  # trailing special tokens (EOS) are dropped
    budget = spec.max_context - lead
    stride = budget - spec.min_context
    word_last = passage.word_last_token
    start = lead
    while True:
        stop = min(start + budget, content_end)
        emit_from = lead if start == lead else start + spec.min_context
        positions = np.arange(start, stop)
        window_ids = np.concatenate([ids[:lead], ids[start:stop]])
        offset = lead - start  # token index -> position in window
        if spec.pooling == "last":
            words = np.flatnonzero((word_last >= emit_from) & (word_last < stop))
            gather_p, gather_word = word_last[words] + offset, words
        else:
            emitted = positions[positions >= emit_from]
            owner = token_word[emitted]
            # A word's states are pooled in the window that emits its last token; vanished words take that token.
            words = np.flatnonzero((word_last >= emit_from) & (word_last < stop))
            own = np.isin(owner, words[passage.word_n_tokens[words] > 0])
            hollow = words[passage.word_n_tokens[words] == 0]
            gather_p = np.concatenate([emitted[own], word_last[hollow]]) + offset
            gather_word = np.concatenate([owner[own], hollow])
        targets = positions[(positions >= max(emit_from, 1)) & (token_word[positions] >= 0)]
        yield _Window(
            ids=window_ids,
            gather_p=gather_p,
            gather_word=gather_word + row0,
            predict_p=targets + offset - 1,
            predict_word=token_word[targets] + row0,
            predict_target=ids[targets],
        )
        if stop >= content_end:
            return
        start += stride


def _causal_batches(
    model: ReadableModel, tokenized: list[TokenizedPassage], starts: np.ndarray, spec: ReadoutSpec, batch_size: int
) -> tuple[int, Iterator[Batch]]:
    windows = [w for p, passage in enumerate(tokenized) for w in _windows(passage, int(starts[p]), spec)]
    order = np.argsort([-len(w.ids) for w in windows], kind="stable")  # similar lengths share a batch
    pad = model.tokenizer.pad_token_id if model.tokenizer.pad_token_id is not None else 0
    # At most `batch_size` windows and BATCH_TOKENS padded tokens per pass (windows come longest first), so that
    # long stories make several small passes: bounded memory, and progress that moves.
    groups, first = [], 0
    while first < len(order):
        size = max(1, min(batch_size, BATCH_TOKENS // len(windows[order[first]].ids)))
        groups.append(order[first : first + size])
        first += size

    def generate() -> Iterator[Batch]:
        for group in groups:
            chosen = [windows[i] for i in group]
            ids, mask = _pad([w.ids for w in chosen], pad)
            rows = np.arange(len(chosen))
            yield Batch(
                input_ids=ids,
                attention_mask=mask,
                gather_b=np.repeat(rows, [len(w.gather_p) for w in chosen]),
                gather_p=np.concatenate([w.gather_p for w in chosen]),
                gather_word=np.concatenate([w.gather_word for w in chosen]),
                predict_b=np.repeat(rows, [len(w.predict_p) for w in chosen]),
                predict_p=np.concatenate([w.predict_p for w in chosen]),
                predict_word=np.concatenate([w.predict_word for w in chosen]),
                predict_target=np.concatenate([w.predict_target for w in chosen]),
                n_items=sum(len(w.ids) for w in chosen),
            )

    return sum(len(w.ids) for w in windows), generate()


def _pad(sequences: list[np.ndarray], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token id sequences into (batch, longest) ids and attention mask."""
    longest = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), longest), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.as_tensor(sequence)
        mask[row, : len(sequence)] = 1
    return ids, mask


def _encoder_decoder_batches(
    model: ReadableModel,
    tokenized: list[TokenizedPassage],
    starts: np.ndarray,
    spec: ReadoutSpec,
    batch_size: int,
    words_needed: np.ndarray | None,
) -> tuple[int, Iterator[Batch]]:
    """T5 and other encoder–decoders, one item per word read.

    Representation of word w: the encoder reads the passage up to and including w (its own EOS appended) and the
    decoder reads the same tokens teacher-forced after its start token; encoder layers are taken at w's last
    token, decoder layers at the decoder's last position (which has seen all of them). Surprisal of word w: the
    encoder reads the words before w, the decoder is teacher-forced on w's tokens, and
    −log2 p(w's tokens | encoder(context)) is summed — the decoder predicts the next words from the preceding
    context, as in T5's span-continuation pretraining.
    """
    tok = model.tokenizer
    eos = tok.eos_token_id
    start_id = model.hf_model.config.decoder_start_token_id
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    window = spec.max_context - 1
    items = []
    for p, passage in enumerate(tokenized):
        content = np.flatnonzero(passage.token_word >= 0)
        for w in range(passage.n_words):
            row = int(starts[p]) + w
            last = passage.word_last_token[w]
            context = content[content <= last][-window:]
            want_repr = bool(spec.layers) and (words_needed is None or bool(words_needed[row]))
            own = content[passage.token_word[content] == w]
            want_surprisal = w > 0 and len(own) > 0
            if not (want_repr or want_surprisal):
                continue
            items.append(
                (
                    row,
                    passage.token_ids[context],
                    passage.token_ids[content[content < own[0]]][-window:] if want_surprisal else None,
                    passage.token_ids[own],
                    want_repr,
                )
            )

    def generate() -> Iterator[Batch]:
        for first in range(0, len(items), batch_size):
            chosen = items[first : first + batch_size]
            rows = np.arange(len(chosen))
            # Representation pass inputs; surprisal pass inputs are a second group of rows in the same batch.
            enc = [np.append(c, eos) for _, c, _, _, _ in chosen]
            dec = [np.concatenate([[start_id], c]) for _, c, _, _, _ in chosen]
            surprisal_rows = [i for i, item in enumerate(chosen) if item[2] is not None]
            enc += [np.append(chosen[i][2], eos) for i in surprisal_rows]
            dec += [np.concatenate([[start_id], chosen[i][3][:-1]]) for i in surprisal_rows]
            enc_ids, enc_mask = _pad(enc, pad)
            dec_ids, dec_mask = _pad(dec, pad)
            repr_rows = rows[[item[4] for item in chosen]]
            n_own = np.array([len(chosen[i][3]) for i in surprisal_rows], dtype=np.int64)
            predict_b = np.repeat(len(chosen) + np.arange(len(surprisal_rows)), n_own)
            predict_p = np.concatenate([np.arange(n) for n in n_own]) if len(n_own) else np.zeros(0, np.int64)
            yield Batch(
                input_ids=enc_ids,
                attention_mask=enc_mask,
                gather_b=repr_rows,
                gather_p=np.array([len(chosen[i][1]) - 1 for i in repr_rows], dtype=np.int64),
                gather_word=np.array([chosen[i][0] for i in repr_rows], dtype=np.int64),
                predict_b=predict_b,
                predict_p=predict_p,
                predict_word=np.repeat([chosen[i][0] for i in surprisal_rows], n_own).astype(np.int64),
                predict_target=np.concatenate([chosen[i][3] for i in surprisal_rows] or [np.zeros(0, np.int64)]),
                decoder_input_ids=dec_ids,
                decoder_attention_mask=dec_mask,
                decoder_p=np.array([len(chosen[i][1]) for i in repr_rows], dtype=np.int64),
                n_items=len(chosen),
            )

    return len(items), generate()


def _run(
    model: ReadableModel,
    batches: tuple[int, Iterator[Batch]],
    spec: ReadoutSpec,
    activations: np.ndarray | None,
    surprisal: np.ndarray,
    show_progress: bool,
) -> None:
    """Run every batch with hooks on the requested layers; pool states into words and sum token surprisals."""
    total, iterator = batches
    hf = model.hf_model
    device = model.device
    n_encoder = model.n_encoder_layers
    captured: dict[int, torch.Tensor] = {}
    current: dict[str, Batch] = {}

    def gather(layer: int, hidden: torch.Tensor) -> None:
        batch = current["batch"]
        positions = batch.decoder_p if layer > n_encoder else batch.gather_p
        index = (
            torch.as_tensor(batch.gather_b, device=hidden.device),
            torch.as_tensor(positions, device=hidden.device),
        )
        captured[layer] = hidden[index].float().cpu()

    softcap = model.family.logit_softcap(hf.config)
    head = hf.get_output_embeddings()
    unit = "words" if model.is_encoder_decoder else "tokens"
    reporting = progress_of(f"reading {model.name}", total, enabled=show_progress, unit=unit)
    with capture_layers(model, spec.layers, gather), reporting as bar, torch.inference_mode():
        for batch in iterator:
            current["batch"] = batch
            captured.clear()
            inputs = dict(input_ids=batch.input_ids.to(device), attention_mask=batch.attention_mask.to(device))
            predict = (torch.as_tensor(batch.predict_b), torch.as_tensor(batch.predict_p))
            if batch.decoder_input_ids is not None:
                out = hf(
                    **inputs,
                    decoder_input_ids=batch.decoder_input_ids.to(device),
                    decoder_attention_mask=batch.decoder_attention_mask.to(device),
                    use_cache=False,
                )
                final = out.logits[predict[0].to(device), predict[1].to(device)]
                to_logits = None  # the decoder's logits are already there (one word per item: small)
            else:
                hidden = hf.base_model(**inputs, use_cache=False).last_hidden_state
                final = hidden[predict[0].to(device), predict[1].to(device)]
                to_logits = functools.partial(_logits, head, softcap=softcap)
            if activations is not None and len(batch.gather_word):
                _pool_into(activations, spec, captured, batch.gather_word)
            if len(batch.predict_word):
                targets = torch.as_tensor(batch.predict_target, device=final.device)
                bits = _surprisal_bits(final, targets, to_logits, vocab_size=model.vocab_size)
                np.add.at(surprisal, batch.predict_word, bits)
            bar.advance(batch.n_items)


def _logits(head: torch.nn.Module, hidden: torch.Tensor, softcap: float | None) -> torch.Tensor:
    """Output logits for selected final states (Gemma-2/3 soft-cap their logits: cap · tanh(logits / cap))."""
    logits = head(hidden)
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    return logits


def _surprisal_bits(
    states: torch.Tensor,
    targets: torch.Tensor,
    to_logits: Callable[[torch.Tensor], torch.Tensor] | None,
    vocab_size: int,
    max_elements: int = 2**26,
) -> np.ndarray:
    """−log2 softmax(logits)[target] per row, in float32.

    states: (rows, hidden) final states turned into logits by `to_logits` chunk by chunk, or (rows, vocab) logits
    when `to_logits` is None. At most `max_elements` logits (256 MB in float32) exist at once, whatever the corpus
    length: Gemma's 262k-token vocabulary times a story's tokens would otherwise take gigabytes.
    """
    chunk = max(1, max_elements // max(vocab_size, 1))
    bits = []
    for part, tgt in zip(states.split(chunk), targets.split(chunk), strict=True):
        logits = (to_logits(part) if to_logits is not None else part).float()
        bits.append((torch.logsumexp(logits, dim=-1) - logits.gather(1, tgt[:, None])[:, 0]) / LOG2)
    return torch.cat(bits).double().cpu().numpy()


def _pool_into(
    activations: np.ndarray, spec: ReadoutSpec, captured: dict[int, torch.Tensor], word_rows: np.ndarray
) -> None:
    """Average the gathered token states of each word (one state per word for "last" pooling) into its row."""
    states = torch.stack([captured[layer] for layer in spec.layers])  # (layers, n_gathered, hidden)
    rows, inverse, counts = np.unique(word_rows, return_inverse=True, return_counts=True)
    if len(rows) == len(word_rows):
        pooled = states[:, np.argsort(inverse)]
    else:
        pooled = (
            torch.zeros(states.shape[0], len(rows), states.shape[2]).index_add_(1, torch.as_tensor(inverse), states)
            / torch.as_tensor(counts, dtype=torch.float32)[None, :, None]
        )
    activations[:, rows, :] = pooled.numpy().astype(activations.dtype, copy=False)
