"""BIG-Bench Hard (Suzgun et al. 2022): 27 tasks, 6,511 examples, bundled with tuneshift (MIT; see
``bundled/bbh/SOURCE.md``). A task file is the release's ``<task>.json``: ``{"canary", "examples": [{"input",
"target"}]}``; a user's file in that format can stand in for any task (``task_dir=``).

Categories. Aw et al. (2023, Table 2) report BBH by category — algorithmic, language understanding, world knowledge,
multilingual, others — and take BBH from InstructEval (Chia et al. 2023), but neither publishes which task is in
which category. Searched for this mapping: InstructEval's code, github.com/declare-lab/instruct-eval at
commit 49bbd2ce7e3a5bdc4024ba62a5c9c68c107ee966 (its newest), whose ``bbh.py`` scores each task and prints one
unweighted mean over tasks, with no category table in any file of that commit or of its history (``git log -S``
for "algorithmic", "world_knowledge", "multilingual" over all branches); the public repositories of Aw et al.'s
first author (``awwkl/*``: none holds this paper's code); code search for BBH task → category tables; and the
stored web copies of both papers (arXiv 2312.00575, 2306.04757) as far as a search reaches. None gives it.

:data:`CATEGORIES` is therefore derived, not copied: Suzgun et al.'s own split of the 23 families into
*algorithmic* and *NLP* tasks (their Table 2/Appendix), with the NLP tasks sorted by what each task's BIG-bench
description says it needs — knowledge of the world (dates, sports, films, causal judgements about everyday events),
understanding of English (ambiguity, adjective order, sarcasm, humorous edits of names), a second language
(salient translation errors) — and the rest (formal fallacies, penguins table, coloured objects) as *others*.
Category correlations computed with it are therefore not the paper's Table 2 categories, only their closest
reading.
"""

from __future__ import annotations

import gzip
import json
import os
from importlib import resources
from pathlib import Path

import pandas as pd

from tuneshift._registry import Registry
from tuneshift.data._dataset import DATASETS, DatasetInfo
from tuneshift.errors import InvalidInputError

CITATION = (
    "Suzgun, Scales, Schärli, Gehrmann, Tay, Chung, Chowdhery, Le, Chi, Zhou, Wei (2022). Challenging BIG-Bench "
    "Tasks and Whether Chain-of-Thought Can Solve Them. arXiv:2210.09261."
)
BIBTEX = """@article{suzgun2022challenging,
  title={Challenging BIG-Bench Tasks and Whether Chain-of-Thought Can Solve Them},
  author={Suzgun, Mirac and Scales, Nathan and Sch{\"a}rli, Nathanael and Gehrmann, Sebastian and Tay, Yi and
          Chung, Hyung Won and Chowdhery, Aakanksha and Le, Quoc V. and Chi, Ed H. and Zhou, Denny and Wei, Jason},
  journal={arXiv preprint arXiv:2210.09261}, year={2022}
}"""

_ALGORITHMIC = (
    "boolean_expressions dyck_languages geometric_shapes logical_deduction_three_objects "
    "logical_deduction_five_objects logical_deduction_seven_objects multistep_arithmetic_two navigate object_counting "
    "temporal_sequences tracking_shuffled_objects_three_objects tracking_shuffled_objects_five_objects "
    "tracking_shuffled_objects_seven_objects web_of_lies word_sorting"
)
#: task → category (derived; see the module docstring). Every bundled task has one.
CATEGORIES: dict[str, str] = {
    **dict.fromkeys(_ALGORITHMIC.split(), "algorithmic"),
    **dict.fromkeys(["disambiguation_qa", "hyperbaton", "snarks", "ruin_names"], "language_understanding"),
    **dict.fromkeys(
        ["causal_judgement", "date_understanding", "movie_recommendation", "sports_understanding"], "world_knowledge"
    ),
    "salient_translation_error_detection": "multilingual",
    **dict.fromkeys(["formal_fallacies", "penguins_in_a_table", "reasoning_about_colored_objects"], "others"),
}
#: The 27 task names; an unknown one raises UnknownNameError with near matches.
TASKS: Registry[str] = Registry("BBH task")
for _task, _category in sorted(CATEGORIES.items()):
    TASKS.add(_task, _category)


def bundled_dir() -> Path:
    """The folder of the bundled ``<task>.json.gz`` files."""
    return Path(str(resources.files("tuneshift.data") / "bundled" / "bbh"))


def task_path(task: str, task_dir: str | os.PathLike | None = None) -> Path:
    """The file of `task`: ``<task_dir>/<task>.json`` when a folder is given, else the bundled copy."""
    TASKS.get(task)
    return Path(task_dir) / f"{task}.json" if task_dir is not None else bundled_dir() / f"{task}.json.gz"


def load_bbh(tasks: list[str] | None = None, *, task_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """The examples of `tasks` (default: all 27), one row each: ``item`` (``<task>/<n>``), ``task``, ``category``,
    ``input``, ``target``. A file that is not the release's JSON layout raises InvalidInputError naming it and
    the example."""
    names = sorted(CATEGORIES) if tasks is None else list(tasks)
    frames = [_read_task(task, task_path(task, task_dir)) for task in names]
    return pd.concat(frames, ignore_index=True)


def _read_task(task: str, path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InvalidInputError(f"BBH task {task!r}: {path} does not exist; expected the release's {task}.json.")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            document = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as error:
        raise InvalidInputError(f"{path}: not a readable JSON file ({error}).") from None
    examples = document.get("examples") if isinstance(document, dict) else None
    if not isinstance(examples, list) or not examples:
        raise InvalidInputError(f'{path}: expected {{"examples": [{{"input": ..., "target": ...}}, ...]}}.')
    for number, example in enumerate(examples):
        if not (isinstance(example, dict) and isinstance(example.get("input"), str)):
            raise InvalidInputError(f"{path}, example {number}: needs a text 'input' and 'target'.")
        if not isinstance(example.get("target"), str):
            raise InvalidInputError(f"{path}, example {number}: needs a text 'input' and 'target'.")
    frame = pd.DataFrame({"input": [e["input"] for e in examples], "target": [e["target"] for e in examples]})
    frame.insert(0, "category", CATEGORIES[task])
    frame.insert(0, "task", task)
    frame.insert(0, "item", [f"{task}/{n}" for n in range(len(frame))])
    return frame


DATASETS.add(
    "BBH",
    DatasetInfo(
        name="BBH",
        loader=lambda data_dir=None, **kwargs: load_bbh(**kwargs),
        description="BIG-Bench Hard: 27 tasks, 6,511 examples (bundled, MIT)",
        citation=BIBTEX,
        bundled=bundled_dir() / "boolean_expressions.json.gz",
        license="MIT",
    ),
)
