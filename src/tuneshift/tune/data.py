"""Instruction-tuning data: every format becomes a list of :class:`Example` (instruction, input, output).

Formats (``READERS``):

- ``alpaca``: a JSON list of ``{"instruction", "input", "output"}`` objects (Alpaca's ``alpaca_data.json``).
- ``jsonl``: the same objects, one per line.
- ``seed-tasks``: Self-Instruct seed tasks, one JSON object per line with ``instruction`` and ``instances``
  (``[{"input", "output"}]``); one example per instance.
- ``finaldataset``: Wu et al. 2023's FinalDataset.tsv (``ID, Prompt, Response, Instruct&Context``) or
  AnnotatedDataset.tsv (``File, Model, Prompt, Reference, Instruct, ...``; one example per prompt). The input is
  the context after ``&&&``; the instruction is the rest of the prompt, without the ``Input:`` / ``Output:``
  scaffolding. Dropping the instruction thus drops the ``|||`` spans and keeps the ``&&&`` context.

A row that cannot be read raises :class:`InvalidInputError` naming the file and line; an example whose output is
empty is skipped and counted (``Dataset.skipped_empty``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tuneshift._registry import Registry
from tuneshift.errors import DataNotFoundError, InvalidInputError, InvalidParameterError

BUNDLED = {"seed-tasks": "seed_tasks.jsonl", "finaldataset": "FinalDataset.tsv"}
DEFAULT_DATA = "seed-tasks"


@dataclass(frozen=True)
class Example:
    """One supervised example; `origin` is ``file:line`` (``#k`` for the k-th instance of a seed task)."""

    instruction: str
    input: str
    output: str
    origin: str


@dataclass
class Dataset:
    examples: list[Example]
    path: Path
    format: str
    sha256: str
    skipped_empty: int = 0

    def describe(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "format": self.format,
            "sha256": self.sha256,
            "examples": len(self.examples),
            "skipped_empty": self.skipped_empty,
        }


Reader = Callable[[Path, str], Iterator[Example]]
READERS: Registry[Reader] = Registry("tuning data format")


def bundled_path(name: str) -> Path:
    """Path of a bundled data file: ``seed-tasks`` (Apache-2.0) or ``finaldataset`` (GPL-3.0); see bundled/SOURCE.md."""
    if name not in BUNDLED:
        raise InvalidParameterError("data", f"a file or one of the bundled sets {sorted(BUNDLED)}", name)
    return Path(str(resources.files("tuneshift.tune") / "bundled" / BUNDLED[name]))


def load_dataset(data: str | Path = DEFAULT_DATA, format: str | None = None) -> Dataset:
    """Read `data` — a file, or a bundled set's name — in `format` (guessed from the name when None)."""
    path = Path(data)
    if not path.exists():
        if str(data) not in BUNDLED:
            raise DataNotFoundError(
                f"{data}: no such file. Pass an Alpaca JSON / JSONL / seed-tasks JSONL / FinalDataset TSV file, or "
                f"one of the bundled sets: {', '.join(BUNDLED)}."
            )
        format = format or str(data)
        path = bundled_path(str(data))
    format = format or guess_format(path)
    reader = READERS.get(format)
    raw = path.read_bytes()
    examples, skipped = [], 0
    for example in reader(path, decode_utf8(raw, path)):
        if example.output.strip():
            examples.append(example)
        else:
            skipped += 1
    if not examples:
        raise InvalidInputError(f"{path}: no example with a non-empty response (format {format}).")
    return Dataset(examples, path, format, hashlib.sha256(raw).hexdigest(), skipped)


def decode_utf8(raw: bytes, path: Path) -> str:
    """`raw` as UTF-8 text (a leading byte-order mark dropped); other encodings are named with the line and column."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        raise InvalidInputError(
            f"{path}:{line}: not UTF-8 text (byte {raw[error.start]:#04x} at column {column}). Save the file as UTF-8, "
            f"e.g. `iconv -f latin1 -t utf-8 {path.name} > fixed{path.suffix}`."
        ) from None


def guess_format(path: Path) -> str:
    """``.tsv`` → finaldataset, ``.json`` → alpaca, ``.jsonl`` → seed-tasks if its first record has instances."""
    suffix = path.suffix.lower()
    if suffix == ".tsv":
        return "finaldataset"
    if suffix == ".json":
        return "alpaca"
    if suffix == ".jsonl":
        with path.open(encoding="utf8", errors="replace") as handle:  # a decoding error is named when it is read
            first = next((line for line in handle if line.strip()), "{}")
        return "seed-tasks" if '"instances"' in first else "jsonl"
    raise InvalidParameterError(
        "format", f"one of {READERS.names()} (cannot guess from the suffix {suffix!r})", None, "Pass --format."
    )


def _field(record: object, key: str, where: str, required: bool = True) -> str:
    if not isinstance(record, dict):
        raise InvalidInputError(f"{where}: expected a JSON object, got {type(record).__name__}.")
    value = record.get(key, None if required else "")
    if value is None:
        raise InvalidInputError(f"{where}: missing field {key!r} (expected {{instruction, input, output}}).")
    if not isinstance(value, str):
        raise InvalidInputError(f"{where}: field {key!r} must be a string, got {type(value).__name__}.")
    return value


def _alpaca_example(record: object, where: str) -> Example:
    return Example(
        _field(record, "instruction", where),
        _field(record, "input", where, required=False),
        _field(record, "output", where),
        where,
    )


def _json_lines(path: Path, text: str) -> Iterator[tuple[str, object]]:
    for line_no, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                yield f"{path}:{line_no}", json.loads(line)
            except json.JSONDecodeError as error:
                raise InvalidInputError(
                    f"{path}:{line_no}: not valid JSON ({error.msg}, column {error.colno})."
                ) from error


@READERS.register("alpaca")
def read_alpaca(path: Path, text: str) -> Iterator[Example]:
    """A JSON list of objects; each object's line is found by decoding the list item by item."""
    decoder = json.JSONDecoder()
    position = _skip_space(text, 0)
    if text[position : position + 1] != "[":
        raise InvalidInputError(f"{path}:1: expected a JSON list of {{instruction, input, output}} objects.")
    position = _skip_space(text, position + 1)
    while text[position : position + 1] != "]":
        line = text.count("\n", 0, position) + 1
        try:
            record, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise InvalidInputError(
                f"{path}:{error.lineno}: not valid JSON ({error.msg}, column {error.colno})."
            ) from error
        yield _alpaca_example(record, f"{path}:{line}")
        position = _skip_space(text, position)
        if text[position : position + 1] == ",":
            position = _skip_space(text, position + 1)
        elif text[position : position + 1] != "]":
            line = text.count("\n", 0, position) + 1
            raise InvalidInputError(f"{path}:{line}: expected ',' or ']' after a record.")


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


@READERS.register("jsonl")
def read_jsonl(path: Path, text: str) -> Iterator[Example]:
    for where, record in _json_lines(path, text):
        yield _alpaca_example(record, where)


@READERS.register("seed-tasks")
def read_seed_tasks(path: Path, text: str) -> Iterator[Example]:
    for where, record in _json_lines(path, text):
        instruction = _field(record, "instruction", where)
        instances = record.get("instances")
        if not isinstance(instances, list) or not instances:
            raise InvalidInputError(f"{where}: expected a non-empty list 'instances' of {{input, output}} objects.")
        for k, instance in enumerate(instances):
            at = f"{where}#{k}"
            yield Example(
                instruction, _field(instance, "input", at, required=False), _field(instance, "output", at), at
            )


_TRAILING_INPUT = re.compile(r"\s*Input:\s*$")
_TRAILING_OUTPUT = re.compile(r"\s*Output:\s*$")
_LEADING_OUTPUT = re.compile(r"^\s*Output:\s*$")


def _decode(text: str) -> str:
    """Undo FinalDataset's escapes ("/t" tab, "/n" newline; a quoted field loses its quotes, "" becomes ")."""
    text = text.replace("/t", "\t").replace("/n", "\n")
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        text = text[1:-1]
    return text.replace('""', '"')


def split_prompt(prompt: str, context: str, where: str) -> tuple[str, str]:
    """(instruction, input) of a FinalDataset prompt whose ``&&&`` context is `context` (decoded strings)."""
    context = context.strip()
    if not context:
        return _TRAILING_OUTPUT.sub("", prompt).strip(), ""
    # one annotation writes the context's line breaks as "|||"
    found = next((c for c in (context, context.replace("|||", "\n")) if c in prompt), None)
    if found is None:
        raise InvalidInputError(
            f"{where}: the context after '&&&' ({context[:60]!r}) is not part of the prompt. Fix the Instruct&Context "
            "column so that its context is copied from the prompt."
        )
    start = prompt.index(found)
    head = _TRAILING_INPUT.sub("", prompt[:start])
    tail = _LEADING_OUTPUT.sub("", prompt[start + len(found) :])
    return (head + tail).strip(), found


@READERS.register("finaldataset")
def read_final_dataset(path: Path, text: str) -> Iterator[Example]:
    lines = text.split("\n")
    header = lines[0].rstrip("\r").split("\t")
    if header[:4] == ["ID", "Prompt", "Response", "Instruct&Context"]:
        columns = {"id": 0, "prompt": 1, "response": 2, "annotation": 3}
    elif header[:5] == ["File", "Model", "Prompt", "Reference", "Instruct"]:
        columns = {"id": 0, "prompt": 2, "response": 3, "annotation": 4}
    else:
        raise InvalidInputError(
            f"{path}:1: expected the header of FinalDataset.tsv (ID, Prompt, Response, Instruct&Context) or of "
            f"AnnotatedDataset.tsv (File, Model, Prompt, Reference, Instruct, ...); got {header[:5]}."
        )
    seen: set[str] = set()
    for line_no, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.rstrip("\r").split("\t")
        if len(fields) <= max(columns.values()):
            raise InvalidInputError(
                f"{path}:{line_no}: expected at least {max(columns.values()) + 1} tab-separated fields, "
                f"got {len(fields)}."
            )
        sample_id = fields[columns["id"]].removesuffix(".pkl")
        if sample_id in seen:  # AnnotatedDataset repeats each prompt once per rated model
            continue
        seen.add(sample_id)
        where = f"{path}:{line_no}"
        annotation = _decode(fields[columns["annotation"]])
        instruction, context = split_prompt(_decode(fields[columns["prompt"]]), annotation.partition("&&&")[2], where)
        yield Example(instruction, context, _decode(fields[columns["response"]]), where)
