"""Subcommands imported only when they run, so that ``tuneshift --help`` imports no torch, pandas or scikit-learn.

``tuneshift --help`` lists each command from its :class:`LazyCommand` entry (name and one-line help); running a
command, or asking its own ``--help``, imports its module then (and gives it the plain help of :mod:`._help`).
``tests/cli`` checks that every entry's line is the command's own first help line, so the two cannot drift apart.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import ClassVar

import typer
from typer.core import TyperCommand, TyperGroup

from tuneshift.cli._help import plain_help

try:  # typer 0.2x ships its own copy of click; older typer uses click itself
    from typer import _click as click
except ImportError:  # pragma: no cover
    import click


@dataclass(frozen=True)
class LazyCommand:
    """A subcommand: ``module:attribute`` (a command function or a ``typer.Typer`` of commands) and its help line."""

    target: str
    help: str

    def load(self, name: str) -> click.Command:
        """The click command of the target, named `name`."""
        module, attribute = self.target.split(":")
        target = getattr(importlib.import_module(module), attribute)
        if isinstance(target, typer.Typer):
            command = typer.main.get_group(target) if _has_many(target) else typer.main.get_command(target)
        else:
            single = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
            single.command(name)(target)
            command = typer.main.get_command(single)
        plain_help(command)
        return command


def _has_many(app: typer.Typer) -> bool:
    """Whether `app` is a group (subcommands, sub-apps or a callback) rather than one command."""
    return len(app.registered_commands) != 1 or bool(app.registered_groups) or app.registered_callback is not None


class LazyGroup(TyperGroup):
    """A typer group whose :attr:`lazy` subcommands are imported when they are run or their help is asked for."""

    lazy: ClassVar[dict[str, LazyCommand]] = {}
    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *(name for name in self.lazy if name not in self.commands)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        entry = self.lazy.get(name)
        if entry is None or name in self.commands:
            return super().get_command(ctx, name)
        if self._listing:  # the group's own help needs the name and its line, not the module
            return TyperCommand(name, help=entry.help, short_help=entry.help)
        command = entry.load(name)
        command.name = name
        self.commands[name] = command
        return command

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def command_paths(command: click.Command, ctx: click.Context | None = None) -> list[tuple[str, ...]]:
    """Every command under `command` as the words that name it (``()`` for `command` itself, ``("study", "run")``
    ...), in help order; loads every lazy command."""
    ctx = ctx or click.Context(command, info_name=command.name)
    paths: list[tuple[str, ...]] = [()]
    if isinstance(command, TyperGroup):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            paths += [(name, *path) for path in command_paths(sub, click.Context(sub, parent=ctx, info_name=name))]
    return paths
