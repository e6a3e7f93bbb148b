"""The model zoo: named models with their family, base model, size and the paper's reported scores.

The packaged zoo (``study/bundled/zoo.yaml``) holds the 33 models of Aw et al. 2023 with the paper's reported
scores and properties under ``reported:``, and the models of the offline catalog. A user's YAML file of the same
layout adds entries or overrides fields of existing ones (``reported:`` merged key by key), so a study can give a
checkpoint path to a model whose hub id is unknown, or add its own models. A malformed entry is refused with the
file, the line and the field.

```yaml
models:
  my-tuned:
    spec: /shared/models/my-tuned        # hub id, directory, .gguf or catalog name
    family: llama
    base_model: my-base                  # another zoo name
    instruction_tuned: true
    params_b: 0.135
    reported: {mmlu: 0.31}
```
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from tuneshift._yaml import YamlMapping, clip, load_yaml, parse_yaml
from tuneshift.errors import InvalidInputError, UnknownNameError

#: Keys accepted under ``reported:`` — the paper's per-model scores and properties (see the bundled file's header).
REPORTED_KEYS = ("pereira2018", "blank2014", "wehbe2014", "brain_avg", "futrell2018", "nwp_loss", "mmlu", "bbh")
BUNDLED = "bundled/zoo.yaml"


@dataclass(frozen=True)
class ZooEntry:
    """One model of the zoo. `spec` is what ``load_model`` takes; None when no checkpoint is known."""

    name: str
    spec: str | None = None
    family: str | None = None
    base_model: str | None = None
    instruction_tuned: bool = False
    params_b: float | None = None
    layers: int | None = None
    source: str = "user"
    notes: str = ""
    reported: dict[str, float] = field(default_factory=dict)
    defined_at: str = ""  # "file:line" of the entry that last set it

    def row(self) -> dict[str, Any]:
        """Flat record for tables: the fields, then each reported value as its own column."""
        record = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "reported"}
        return {"model": record.pop("name"), **record, **self.reported}


# field → (python types accepted, description for the error message)
_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "spec": ((str,), "a hub id, directory, .gguf file or catalog name"),
    "family": ((str,), "a family name such as llama, t5, gpt2"),
    "base_model": ((str,), "the zoo name of the base model"),
    "instruction_tuned": ((bool,), "true or false"),
    "params_b": ((int, float), "the number of parameters in billions, > 0"),
    "layers": ((int,), "the number of layers, an integer > 0"),
    "source": ((str,), "a label such as aw2023, catalog, user"),
    "notes": ((str,), "free text"),
    "reported": ((dict,), f"a mapping of {', '.join(REPORTED_KEYS)} to numbers"),
}


def _refuse(source: str, line: int, what: str, fix: str) -> InvalidInputError:
    return InvalidInputError(f"{source}:{line}: {what}. {fix}".strip())


def parse_zoo(text: str, source: str) -> dict[str, dict[str, Any]]:
    """Validated entries of one zoo file's text: name → the fields it gives (plus ``defined_at``)."""
    return check_zoo(parse_yaml(text, source), source)


def check_zoo(document: Any, source: str) -> dict[str, dict[str, Any]]:
    """Validated entries of a zoo document read by :mod:`tuneshift._yaml` from `source`."""
    if not isinstance(document, dict) or not isinstance(document.get("models"), dict):
        raise _refuse(source, 1, "a zoo file is a mapping with one key, `models:`", "See `tuneshift zoo show --help`.")
    models = document["models"]
    entries = {}
    for name, body in models.items():
        line = models.key_lines.get(name, 0)
        if not isinstance(name, str):
            raise _refuse(source, line, f"model name {clip(name)} is not a string", "Quote it.")
        if not isinstance(body, dict):
            raise _refuse(
                source, line, f"model {clip(name)} is not a mapping of fields", f"Fields: {', '.join(_FIELDS)}."
            )
        entries[name] = {**check_fields(body, name, source), "defined_at": f"{source}:{line}"}
    return entries


def check_fields(body: YamlMapping, name: str, source: str) -> dict[str, Any]:
    """The fields of model `name` (a zoo entry or a study's model mapping), each checked against :data:`_FIELDS`."""
    checked = {}
    for key, value in body.items():
        line = body.key_lines.get(key, body.line)
        if key not in _FIELDS:
            near = difflib.get_close_matches(str(key), _FIELDS, n=1)
            hint = f"Did you mean {near[0]!r}? " if near else ""
            raise _refuse(
                source, line, f"model {clip(name)}: unknown field {clip(key)}", f"{hint}Fields: {', '.join(_FIELDS)}."
            )
        if value is None:
            continue
        types, expected = _FIELDS[key]
        wrong_type = not isinstance(value, types) or (bool not in types and isinstance(value, bool))
        if wrong_type or (key in ("params_b", "layers") and value <= 0):
            raise _refuse(
                source, line, f"model {clip(name)}, field {clip(key)}: expected {expected}, got {clip(value)}", ""
            )
        if key == "reported":
            for metric, number in value.items():
                metric_line = value.key_lines.get(metric, line)
                if metric not in REPORTED_KEYS:
                    raise _refuse(
                        source, metric_line, f"model {clip(name)}: unknown reported value {clip(metric)}",
                        f"Reported values: {', '.join(REPORTED_KEYS)}.",
                    )  # fmt: skip
                if isinstance(number, bool) or not isinstance(number, int | float):
                    raise _refuse(
                        source, metric_line, f"model {clip(name)}, field 'reported.{metric}': expected a number, "
                        f"got {clip(number)}", "",
                    )  # fmt: skip
            value = {metric: float(number) for metric, number in value.items() if number is not None}
        checked[key] = float(value) if key == "params_b" else value
    return checked


class Zoo(Mapping[str, ZooEntry]):
    """The merged zoo: name → :class:`ZooEntry`."""

    def __init__(self, entries: Mapping[str, ZooEntry]):
        self._entries = dict(entries)

    def __getitem__(self, name: str) -> ZooEntry:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError("zoo model", name, self._entries) from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self):
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def table(self) -> pd.DataFrame:
        """One row per model: the fields and the reported values as columns (NaN where not reported)."""
        frame = pd.DataFrame([entry.row() for entry in self._entries.values()])
        for key in REPORTED_KEYS:
            if key not in frame:
                frame[key] = float("nan")
        return frame

    def pairs(self) -> list[tuple[str, str]]:
        """(base, tuned) name pairs: every instruction-tuned entry whose base model is in the zoo."""
        return [
            (entry.base_model, entry.name)
            for entry in self._entries.values()
            if entry.instruction_tuned and entry.base_model in self._entries
        ]


def load_zoo(files: Iterable[str | os.PathLike] = (), *, bundled: bool = True) -> Zoo:
    """The packaged zoo (plus any catalog model it lacks), then each user file in order, later fields winning."""
    users = []
    for path in files:  # user files first: a hostile or mistaken one is refused before anything else loads
        path = Path(path)
        if not path.is_file():
            raise InvalidInputError(f"Zoo file {path} does not exist. Pass a YAML file with a `models:` mapping.")
        users.append(check_zoo(load_yaml(path, what="zoo file"), str(path)))
    layers = []
    if bundled:
        text = resources.files("tuneshift.study").joinpath(BUNDLED).read_text()
        packaged = parse_zoo(text, f"tuneshift/study/{BUNDLED}")
        layers += [packaged, _catalog_entries(exclude=packaged)]
    merged: dict[str, dict[str, Any]] = {}
    for layer in [*layers, *users]:
        for name, fields in layer.items():
            previous = merged.get(name, {})
            reported = {**previous.get("reported", {}), **fields.get("reported", {})}
            merged[name] = {**previous, **fields, "reported": reported}
    entries = {name: ZooEntry(name=name, **fields) for name, fields in merged.items()}
    for entry in entries.values():
        if entry.base_model and entry.base_model not in entries:
            raise InvalidInputError(
                f"{entry.defined_at}: model {clip(entry.name)}, field 'base_model': {clip(entry.base_model)} is not "
                "in the zoo. Add that model to your zoo file or correct the name."
            )
    return Zoo(entries)


def _catalog_entries(exclude: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Catalog models not written in the bundled file, with what the catalog knows (so none is ever missing)."""
    from tuneshift.models.catalog import CATALOG

    return {
        name: {
            "spec": name,
            "instruction_tuned": CATALOG.get(name).instruction_tuned,
            "source": "catalog",
            "notes": CATALOG.get(name).notes,
            "defined_at": "tuneshift.models.catalog",
        }
        for name in CATALOG.names()
        if name not in exclude
    }
