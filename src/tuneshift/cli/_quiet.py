"""What third-party libraries may print while a tuneshift command runs: the one place that decides it.

Unless ``tuneshift --debug`` is given, their progress bars (transformers' loading and saving bars, huggingface_hub
downloads, datasets' "Generating split", lm-eval's tqdm bars), their FutureWarning and DeprecationWarning lines
and lm-eval's log lines about how tuneshift drives it stay out of the terminal and of a batch job's log; tuneshift's
own progress (:mod:`tuneshift.progress`), warnings and errors stay. Nothing is imported here: the libraries read
these settings when a command imports them, after this has run.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

#: Environment defaults the libraries read when imported (a value the user set wins).
QUIET_ENVIRONMENT = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # huggingface_hub downloads, and transformers' own bars follow it
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",  # datasets' "Generating test split" (lm-eval's local task files)
    "TQDM_DISABLE": "1",  # any other tqdm bar that does not ask for itself (lm-eval's context and cache bars)
}
#: Loggers kept to errors: lm-eval warns that the model was passed in as an object and that few-shot counts were
#: set, which is how tuneshift calls it, not something for the user to act on.
QUIET_LOGGERS = ("lm_eval",)


def quiet_libraries() -> None:
    """Keep third-party progress bars, deprecation warnings and lm-eval's chatter out of the output (see above)."""
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    if not sys.warnoptions:  # python -W / PYTHONWARNINGS: the user's filters win
        for category in (FutureWarning, DeprecationWarning):
            warnings.filterwarnings("ignore", category=category)
            warnings.filterwarnings("default", category=category, module=r"tuneshift(\.|$)")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
