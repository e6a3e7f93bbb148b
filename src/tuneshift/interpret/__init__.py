"""What instruction tuning changed inside a model (Wu et al. 2023): input→output attribution and instruction
recognition (attribution, instructions, pickles); attention heads and FFN concepts (heads, ffn)."""

from tuneshift.interpret.attribution import (
    AGGREGATORS,
    ATTRIBUTION_METHODS,
    Attribution,
    aggregate,
    attribute,
    generate_response,
    importance_density,
    sparsify,
)
from tuneshift.interpret.instructions import (
    base_vs_tuned,
    followed_vs_unfollowed,
    instruction_mask,
    instruction_score,
    load_final_dataset,
    load_ratings,
)
from tuneshift.interpret.pickles import load_attribution_pickle, score_attribution_dir

__all__ = [
    "AGGREGATORS",
    "ATTRIBUTION_METHODS",
    "Attribution",
    "aggregate",
    "attribute",
    "base_vs_tuned",
    "followed_vs_unfollowed",
    "generate_response",
    "importance_density",
    "instruction_mask",
    "instruction_score",
    "load_attribution_pickle",
    "load_final_dataset",
    "load_ratings",
    "score_attribution_dir",
    "sparsify",
]
