"""Model properties (MMLU, BBH, NWP loss, size) for models outside the zoo: a CSV or lm-evaluation-harness results.

* CSV: a ``model`` column and any of ``mmlu``, ``bbh``, ``nwp_loss``, ``params_b`` (others are kept as extra
  properties).
* lm-evaluation-harness ``results*.json`` (``lm_eval --output_path``): ``{"results": {task: {"acc,none": ...}},
  "groups": {...}, "model_name": ..., "config": {"model_args": "pretrained=..."}}``. MMLU is the ``mmlu`` group's
  ``acc`` (lm-eval weights subjects by their size), BBH the ``bbh`` group's (or ``bbh_fewshot``, ``bbh_cot_fewshot``,
  ``bbh_zeroshot``, ``bbh_cot_zeroshot``) first ``exact_match`` value. Without a group entry (older versions write
  only the subtasks) the unweighted mean of the subtasks is taken, and the file says so in a warning. The model is
  named by ``model_name``, else the ``pretrained=`` argument; :func:`merge_properties` matches it to a table row by
  model name or by the zoo's ``spec`` (hub id or path).
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from tuneshift.errors import InvalidInputError

BBH_GROUPS = ("bbh", "bbh_fewshot", "bbh_cot_fewshot", "bbh_zeroshot", "bbh_cot_zeroshot")


def read_properties(path: str | Path) -> pd.DataFrame:
    """``model`` plus property columns from a CSV file or an lm-evaluation-harness results JSON."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"Properties file {path} does not exist.")
    if path.suffix.lower() == ".json":
        return pd.DataFrame([_from_lm_eval(path)])
    try:
        table = pd.read_csv(path)
    except (ValueError, pd.errors.ParserError) as error:
        raise InvalidInputError(f"{path}: not a readable CSV ({error}).") from None
    if "model" not in table:
        raise InvalidInputError(f"{path}: needs a `model` column; columns found: {list(table.columns)}.")
    return table


def _from_lm_eval(path: Path) -> dict:
    try:
        document = json.loads(path.read_text())
    except ValueError as error:
        raise InvalidInputError(f"{path}: not valid JSON ({error}).") from None
    if not isinstance(document, dict) or not isinstance(document.get("results"), dict):
        raise InvalidInputError(
            f"{path}: not an lm-evaluation-harness results file (no `results` mapping). Pass the results_*.json "
            "that `lm_eval --output_path` writes."
        )
    entries = {**document["results"], **(document.get("groups") or {})}
    model = document.get("model_name") or _pretrained(document.get("config", {}).get("model_args", ""))
    if not model:
        raise InvalidInputError(f"{path}: names no model (neither model_name nor config.model_args pretrained=).")
    record = {"model": model}
    mmlu = _group_metric(entries, ("mmlu",), "acc", path)
    bbh = _group_metric(entries, BBH_GROUPS, "exact_match", path)
    if mmlu is not None:
        record["mmlu"] = mmlu
    if bbh is not None:
        record["bbh"] = bbh
    if len(record) == 1:
        raise InvalidInputError(f"{path}: holds neither MMLU nor BBH results (tasks: {', '.join(sorted(entries))}).")
    return record


def _pretrained(model_args: str | dict) -> str:
    if isinstance(model_args, dict):
        return str(model_args.get("pretrained", ""))
    match = re.search(r"(?:^|,)\s*pretrained=([^,]+)", model_args or "")
    return match.group(1) if match else ""


def _metric(entry: dict, metric: str) -> float | None:
    """The first ``metric,<filter>`` value of a task entry (``acc,none``, ``exact_match,get-answer``...)."""
    for key, value in entry.items():
        if (key == metric or key.startswith(metric + ",")) and isinstance(value, int | float):
            return float(value)
    return None


def _group_metric(entries: dict, groups: Iterable[str], metric: str, path: Path) -> float | None:
    for group in groups:
        if group in entries and (value := _metric(entries[group], metric)) is not None:
            return value
    for group in groups:
        leaves = [_metric(entry, metric) for task, entry in entries.items() if task.startswith(group + "_")]
        leaves = [value for value in leaves if value is not None]
        if leaves:
            warnings.warn(
                f"{path}: no {group!r} group score; using the unweighted mean of its {len(leaves)} subtasks",
                stacklevel=3,
            )
            return float(np.mean(leaves))
    return None


def merge_properties(
    table: pd.DataFrame, sources: Iterable[pd.DataFrame], specs: dict[str, str] | None = None
) -> pd.DataFrame:
    """`table` with each source's property columns filled in (a source's value wins over a missing or reported one).

    A source row names its model by table name or by checkpoint `specs` (table name → hub id / path).
    """
    table = table.copy()
    by_spec = {spec: name for name, spec in (specs or {}).items() if spec}
    for source in sources:
        for row in source.to_dict(orient="records"):
            name = row.pop("model")
            name = name if name in set(table["model"]) else by_spec.get(name, name)
            if name not in set(table["model"]):
                table = pd.concat([table, pd.DataFrame([{"model": name}])], ignore_index=True)
            for column, value in row.items():
                if pd.notna(value):
                    if column not in table:  # text (measured_by) needs an object column: pandas 3 refuses it in float
                        table[column] = pd.Series(
                            np.nan, index=table.index, dtype=object if isinstance(value, str) else float
                        )
                    table.loc[table["model"] == name, column] = value
    return table
