"""Third-party progress bars, deprecation warnings and lm-eval's chatter stay out of a command's output unless
``--debug`` is given; tuneshift's own progress stays (``cli/_quiet.py``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.models.test_harness import FIXTURES, save_letter_model

#: What the libraries print: a tqdm bar, a warning line, git (run by lm-eval), datasets' split bar, lm-eval's log.
NOISE = re.compile(r"it/s\]|\d+%\||Warning:|fatal:|Generating|Overwriting|`pretrained`")
WARN = """
import warnings
from tuneshift.cli._quiet import quiet_libraries
quiet_libraries()
for module in ("transformers.modeling_utils", "lm_eval.api.task", "datasets.load", "tuneshift.models.load"):
    for category in (FutureWarning, DeprecationWarning):
        warnings.warn_explicit(f"{category.__name__} from {module}", category, "x.py", 1, module=module)
"""


def tuneshift(*args: str, env: dict[str, str]) -> str:
    """The stderr of `tuneshift ARGS` in a fresh process (exit 0), with tqdm's carriage returns as line breaks."""
    done = subprocess.run(
        [sys.executable, "-m", "tuneshift.cli.main", *args], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stderr.replace("\r", "\n")


@pytest.fixture
def env(tmp_path):
    """A fresh cache and no hub; no setting of the quiet ones inherited from the test run."""
    names = ("HF_HUB_DISABLE_PROGRESS_BARS", "HF_DATASETS_DISABLE_PROGRESS_BARS", "TQDM_DISABLE", "PYTHONWARNINGS")
    environment = {key: value for key, value in os.environ.items() if key not in names}
    return environment | {"TUNESHIFT_CACHE": str(tmp_path / "cache"), "TUNESHIFT_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}


def test_only_tuneshifts_own_warnings_are_shown(env):
    shown = subprocess.run([sys.executable, "-c", WARN], capture_output=True, text=True, env=env, check=True).stderr
    assert "FutureWarning from tuneshift.models.load" in shown and "DeprecationWarning from tuneshift" in shown
    assert not re.search(r"Warning from (transformers|lm_eval|datasets)", shown), shown


def test_an_mmlu_run_through_lm_eval_shows_tuneshifts_progress_only(tmp_path, env):
    model = save_letter_model(tmp_path)
    data = tmp_path / "data" / "mmlu" / "mmlu.jsonl"  # where `tuneshift data fetch MMLU` puts it
    data.parent.mkdir(parents=True)
    shutil.copy(FIXTURES / "mmlu.jsonl", data)
    options = ["-o", f"MMLU:data={data}", "-o", "MMLU:limit=1"]
    env["TUNESHIFT_DATA"] = str(tmp_path / "data")
    shown = tuneshift("score", "--model", str(model), "-b", "MMLU", *options, "--out", str(tmp_path / "out"), env=env)
    assert "log-likelihood (requests): 12/12 (100%)" in shown
    assert not NOISE.search(shown), shown


def test_tune_shows_no_library_warning_unless_debug(tiny_model_dirs, tmp_path, env):
    args = ["tune", "--base", str(tiny_model_dirs["llama"]), "--max-steps", "1", "--max-length", "32"]
    shown = tuneshift(*args, "--out", str(tmp_path / "quiet"), env=env)
    assert "tune (steps): 1/1 (100%)" in shown and not NOISE.search(shown), shown
    debug = tuneshift("--debug", *args, "--out", str(tmp_path / "debug"), env=env)
    assert "tune (steps): 1/1 (100%)" in debug  # and whatever the libraries print, as they print it
