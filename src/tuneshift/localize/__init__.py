"""The model's language network: localize it with the Fedorenko 2010 localizer (sentences > non-words), score it,
ablate it, and compare it between a base model and its tuned version (AlKhamissi et al. 2024)."""

from tuneshift.localize.localizer import Localization, localize
from tuneshift.localize.selectivity import fdr_bh, parse_top, select_top, welch_t
from tuneshift.localize.stimuli import LocalizerStimuli, load_localizer

__all__ = [
    "Localization",
    "LocalizerStimuli",
    "fdr_bh",
    "load_localizer",
    "localize",
    "parse_top",
    "select_top",
    "welch_t",
]
