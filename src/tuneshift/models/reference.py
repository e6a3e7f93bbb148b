"""Brain-Score's way of reading a passage, kept as the reference the fast readout is tested and timed against.

For every word, the model is re-run on the text of the passage up to and including that word; the representation
is each block's output at the last token, and the surprisal is −log2 p of the tokens that the word added to the
prefix. Quadratic in passage length: use it to check numbers on small inputs, not to score models.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from tuneshift.models.hooks import capture_layers
from tuneshift.models.load import LoadedModel
from tuneshift.models.text import join_words, validate_passages

LOG2 = float(np.log(2.0))


def read_out_per_prefix(model: LoadedModel, passages: Sequence[Sequence[str]]) -> tuple[pd.DataFrame, np.ndarray]:
    """(words frame with surprisal_bits, activations of shape (n_layers + 1, n_words, hidden)) — causal models."""
    hf, tokenizer = model.hf_model, model.tokenizer
    states: list[torch.Tensor] = []
    rows, vectors = [], []
    with capture_layers(model, model.layers, lambda layer, hidden: states.append(hidden)):
        for p, words in enumerate(validate_passages(passages)):
            previous = 0
            for w in range(len(words)):
                text, _ = join_words(words[: w + 1])
                ids = tokenizer(text, return_tensors="pt", add_special_tokens=True)["input_ids"]
                states.clear()
                with torch.inference_mode():
                    logits = hf(input_ids=ids, use_cache=False).logits[0].double()
                vectors.append(torch.stack([s[0, -1] for s in states]).float().numpy())
                n_new = ids.shape[1] - previous
                log_probs = torch.log_softmax(logits[:-1], dim=-1)
                targets = ids[0, 1:]
                token_bits = -log_probs[torch.arange(len(targets)), targets] / LOG2
                bits = float(token_bits[-n_new:].sum()) if w > 0 else float("nan")
                rows.append({"passage": p, "word_index": w, "word": words[w], "surprisal_bits": bits})
                previous = ids.shape[1]
    return pd.DataFrame(rows), np.stack(vectors, axis=1)
