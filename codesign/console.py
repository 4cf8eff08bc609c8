"""The terminal every command prints its tables to."""

from __future__ import annotations

import sys

PIPED_WIDTH = 140  # piped output (CI logs, files) gets a fixed width so tables stay readable


def console():
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else PIPED_WIDTH)
