"""The commands' consoles: one rule for how wide their tables are drawn."""

from __future__ import annotations

import os
import sys
from typing import Any

from rich.console import Console

#: Columns used when the output goes to a file or pipe (a batch job's log): whole table rows, not 80-column stubs.
LOG_WIDTH = 160


def make_console(*, stderr: bool = False, **options: Any) -> Console:
    """A rich console as wide as the terminal (or as ``COLUMNS`` says), else :data:`LOG_WIDTH` columns when the stream
    is not a terminal."""
    stream = sys.stderr if stderr else sys.stdout
    sized = stream.isatty() or os.environ.get("COLUMNS", "").isdigit()
    return Console(stderr=stderr, width=None if sized else LOG_WIDTH, **options)
