"""tuneshift: what instruction tuning changes in a language model.

Brain alignment (encoding models of fMRI), behavioural alignment (surprisal vs reading times) and internal
behaviour shift (attribution, attention heads, FFN concepts), for any Hugging Face model or base/tuned pair.
"""

__version__ = "0.1.0"
