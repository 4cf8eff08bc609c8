"""Child processes of the signal tests start as from a terminal."""

from __future__ import annotations

import signal


def terminal_signals() -> None:
    """In the child before exec: SIGINT, SIGTERM and SIGHUP at their defaults. The suite may run
    as a background job of a non-interactive shell (SIGINT ignored) or under nohup (SIGHUP
    ignored), and codesign rightly leaves a signal its caller ignores alone."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
