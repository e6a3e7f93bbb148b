"""What instruction tuning changed inside a model (Wu et al. 2023).

Local explanations: input→output attribution (encoding → a method of :data:`ATTRIBUTION_METHODS`, by default
gradients → :class:`Attribution`), aggregated (aggregate) into instruction scores (instructions; the paper's own
files: pickles). Global explanations: attention heads as word pairs (heads → knowledge, verbs) and FFN concepts
(ffn → labelers); figures in plots. Every function that runs a model takes a :class:`tuneshift.models.LoadedModel`.
"""

from tuneshift.interpret.aggregate import AGGREGATORS, aggregate, importance_density, sparsify
from tuneshift.interpret.attribution import ATTRIBUTION_METHODS, Attribution, attribute
from tuneshift.interpret.encoding import generate_response
from tuneshift.interpret.instructions import (
    base_vs_tuned,
    followed_vs_unfollowed,
    instruction_mask,
    instruction_score,
    join_ratings,
    load_final_dataset,
    load_ratings,
    summarize,
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
    "join_ratings",
    "load_attribution_pickle",
    "load_final_dataset",
    "load_ratings",
    "score_attribution_dir",
    "sparsify",
    "summarize",
]
