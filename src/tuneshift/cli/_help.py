"""How every command's ``--help`` looks: click's plain layout, readable at 80 columns, and one set of metavars.

Typer's rich layout puts each option's help in a narrow third column at 80 columns and names value types as
``<int>``, ``<path>``, ``<list[str]>``; click's plain layout wraps the help under the option instead. A value
names what it holds from :data:`METAVARS`: a number ``N`` (integer) or ``NUMBER``, a ``PATH`` (``DIR`` or
``FILE`` where only one fits), a ``MODEL`` (hub id, directory, .gguf or catalog name), a ``NAME`` from a list
(dataset, catalog entry, pooling, executor...), a benchmark or sample ``ID``, a comma-separated ``LIST``...
Integers, real numbers and paths get theirs here; every other option says its own where it is declared.
``--x/--no-x`` flags have none. An argument is named by its metavar alone (``BASE``, not ``BASE <str>``), in the
usage line too (``BASE [TUNED]``, not typer's ``{BASE} [TUNED]``).
"""

from __future__ import annotations

from pathlib import Path
from typing import get_args, get_origin

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

try:  # typer 0.2x ships its own copy of click; older typer uses click itself
    from typer import _click as click
except ImportError:  # pragma: no cover
    import click

METAVARS = frozenset(
    {
        "MODEL",
        "NAME",
        "ID",
        "PATH",
        "DIR",
        "FILE",
        "N",
        "NUMBER",
        "SHARE",
        "TEXT",
        "URL",
        "ADDRESS",
        "DTYPE",
        "DEVICE",
        "LIST",
        "UNITS",
        "FILTER",
        "[BENCHMARK:]KEY=VALUE",
    }
)
_BY_TYPE = {int: "N", float: "NUMBER", Path: "PATH"}
_BY_CLICK_TYPE = {"integer": int, "integer range": int, "float": float, "float range": float, "path": Path}


def plain_help(command: TyperCommand | TyperGroup) -> None:
    """Give `command` and its subcommands click's plain help layout and the metavars of integers, real numbers and
    paths that declare none (:data:`METAVARS`)."""
    command.rich_markup_mode = None
    for param in command.params:
        if param.metavar is None and not getattr(param, "is_flag", False):
            param.metavar = _BY_TYPE.get(_value_type(param))
        if isinstance(param, TyperArgument):
            param.metavar = param.metavar or param.name.upper()
            param.__class__ = _Argument  # the same object, with the two methods below
    for sub in getattr(command, "commands", {}).values():
        plain_help(sub)


def _value_type(param: TyperArgument | TyperOption) -> type | None:
    """The Python type of one value of `param` (the item type of a repeatable option)."""
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None:  # typer before 0.2x keeps click's parameter types
        return _BY_CLICK_TYPE.get(getattr(param.type, "name", ""))
    annotation = descriptor.annotation
    return get_args(annotation)[0] if get_origin(annotation) is list else annotation


class _Argument(TyperArgument):
    """An argument shown by its metavar alone, in the usage line and in the Arguments section."""

    def get_usage_pieces(self, ctx: click.Context) -> list[str]:
        name = self.metavar + ("..." if self.nargs != 1 else "")
        return [name if self.required else f"[{name}]"]

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        record = super().get_help_record(ctx)
        return None if record is None else (self.metavar, record[1])
