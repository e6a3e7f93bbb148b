"""The one YAML loader of tuneshift: bounded, strict, and with line numbers for every error.

Every YAML file the package reads (study files, zoo files) goes through :func:`load_yaml` / :func:`parse_yaml`, so
that no small file can cost gigabytes or hide a mistake:

- the file's size is checked before it is read (:data:`MAX_BYTES`), and its text must be UTF-8;
- a first pass over the parser's events (libyaml when present, streaming, memory bounded by the nesting depth) refuses
  aliases (``*name``: a 490-byte "billion laughs" file expands to gigabytes in any consumer that walks it), more than
  :data:`MAX_NODES` values, and nesting deeper than :data:`MAX_DEPTH` — before anything is built;
- duplicate keys in a mapping are refused with the file and both lines (YAML's default is "last one wins" silently);
- error messages quote user input through :func:`clip`, never longer than :data:`QUOTE_LIMIT` characters.

Mappings come back as :class:`YamlMapping` (a dict) carrying ``line`` and ``key_lines`` (1-based), so callers can
name the line of any field they refuse.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from tuneshift.errors import InvalidInputError

#: Largest YAML file read, in bytes (study and zoo files are a few kB; the packaged zoo is ~10 kB).
MAX_BYTES = 8 * 2**20
#: Most values (scalars, lists, mappings) in one document: a study of 5,000 models × 10 fields fits.
MAX_NODES = 100_000
#: Deepest nesting of lists/mappings (study files nest 3 or 4 deep).
MAX_DEPTH = 64
#: Characters of user input quoted in an error message.
QUOTE_LIMIT = 200

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def clip(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)`` cut to `limit` characters (with the full length said), for quoting user input in messages.

    Containers are summarised before ``repr`` walks them, so a huge value is never rendered whole."""
    if isinstance(value, dict | list | tuple | set) and len(value) > 20:
        return f"<{type(value).__name__} of {len(value)} items>"
    text = repr(value) if not isinstance(value, str) or len(value) <= limit else repr(value[: limit + 1])
    if len(text) <= limit:
        return text
    size = f"{len(value):,} characters" if isinstance(value, str) else "long"
    return f"{text[: limit - 1]}… ({size})"


def truncate(text: str, limit: int = 2 * QUOTE_LIMIT) -> str:
    """`text` (an error message that may quote user input) cut to `limit` characters."""
    return text if len(text) <= limit else f"{text[: limit - 1]}… (cut at {limit} of {len(text):,} characters)"


class YamlMapping(dict):
    """A YAML mapping that remembers its own line and the line of each key (1-based)."""

    line: int = 0
    key_lines: dict


class _StrictLoader(_Loader):  # type: ignore[misc,valid-type]
    """Safe loader whose mappings are :class:`YamlMapping` and refuse duplicate keys."""

    source = "<yaml>"

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> YamlMapping:
        mapping = YamlMapping()
        mapping.line = node.start_mark.line + 1
        mapping.key_lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                hash(key)
            except TypeError:
                raise InvalidInputError(f"{self.source}:{line}: a mapping key must be a plain value.") from None
            if key in mapping.key_lines:
                raise InvalidInputError(
                    f"{self.source}:{line}: duplicate key {clip(key)} (first at line {mapping.key_lines[key]}). "
                    "Keep one of them: YAML would silently keep the last."
                )
            mapping.key_lines[key] = line
            mapping[key] = self.construct_object(value_node, deep=True)
        return mapping


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _StrictLoader.construct_mapping)


def load_yaml(path: str | os.PathLike, *, what: str = "YAML file", max_bytes: int = MAX_BYTES, **limits: int) -> Any:
    """The document in `path`, checked as the module docstring says; `what` names the file in messages."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as error:
        raise InvalidInputError(f"{what} {path}: cannot be read ({error.strerror}).") from None
    if not path.is_file():
        raise InvalidInputError(f"{what} {path}: is not a file.")
    if size > max_bytes:
        raise InvalidInputError(
            f"{path}: {size:,} bytes; a {what} holds at most {max_bytes:,}. Is this the right file? Split it if so."
        )
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise InvalidInputError(
            f"{path}:{line}: not UTF-8 text (byte {error.start}); save the file as UTF-8."
        ) from None
    return parse_yaml(text, str(path), max_bytes=max_bytes, **limits)


def parse_yaml(
    text: str, source: str, *, max_bytes: int = MAX_BYTES, max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH
) -> Any:
    """The document in `text` (read from `source`, which messages name), checked as the module docstring says."""
    if len(text) > max_bytes:
        raise InvalidInputError(f"{source}: {len(text):,} characters; a YAML file here holds at most {max_bytes:,}.")
    try:
        _check_events(text, source, max_nodes, max_depth)
        loader = _StrictLoader(text)
        loader.source = source
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as error:
        raise InvalidInputError(f"{source}:{_line(error)}: not valid YAML ({_describe(error)}).") from None


def _check_events(text: str, source: str, max_nodes: int, max_depth: int) -> None:
    """Refuse aliases, too many values and too deep nesting from the parser's event stream (nothing is built)."""
    nodes = depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            raise InvalidInputError(
                f"{source}:{event.start_mark.line + 1}: YAML alias *{clip(event.anchor, 40)[1:-1]}: aliases are not "
                "accepted (they can expand a small file into gigabytes). Write the value out."
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > max_depth:
                raise InvalidInputError(
                    f"{source}:{event.start_mark.line + 1}: nested more than {max_depth} levels deep."
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        if isinstance(event, yaml.NodeEvent):
            nodes += 1
            if nodes > max_nodes:
                raise InvalidInputError(
                    f"{source}:{event.start_mark.line + 1}: more than {max_nodes:,} values; a study or zoo file "
                    "holds fewer. Split it into several files."
                )


def _line(error: yaml.YAMLError) -> int:
    # the construct being parsed (context) starts where the mistake is; the problem mark is often the file's end
    mark = getattr(error, "context_mark", None) or getattr(error, "problem_mark", None)
    return mark.line + 1 if mark else 0


def _describe(error: yaml.YAMLError) -> str:
    """What went wrong, without the quoted source line (it may be megabytes long)."""
    what = " ".join(filter(None, (getattr(error, "context", None), getattr(error, "problem", None))))
    return clip(what or str(error)).strip("'\"")
