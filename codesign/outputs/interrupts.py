"""SIGTERM and SIGHUP clean up like Ctrl-C while codesign writes output.

Python turns SIGINT into ``KeyboardInterrupt``, so ``except BaseException`` cleanup runs; SIGTERM
and SIGHUP kill the process at once and leave a half-written staging directory.  Inside
``guarded()`` all three raise ``Terminated`` instead; the outermost guard, once the cleanup has
run, raises ``KeyboardInterrupt`` for SIGINT, and for SIGTERM / SIGHUP restores the default
action and sends the signal to itself again, so the process still ends the conventional way
(killed by the signal: exit status 143 / 129 in a shell).  Inside
``critical()`` (the moment an output is renamed into place) every one of the three signals is
held back and acted on right after, so an output is either fully there or not at all.

Handlers are installed only where the process has the default action: a program's own handler
and an ignored signal (``nohup``) are left alone.  Off the main thread nothing is installed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

CAUGHT = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None)


class Terminated(BaseException):  # noqa: N818 (like KeyboardInterrupt: not an error of the program)
    """SIGTERM, SIGHUP or SIGINT arrived while output was being written.  Ctrl-C raises this too
    (turned back into KeyboardInterrupt once the cleanup has run), so that a library which
    catches KeyboardInterrupt to log it (Optuna logs the trial with a traceback) stays quiet."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum


@dataclass
class _State:
    depth: int = 0
    critical: int = 0
    pending: int | None = None


_state = _State()


@dataclass
class Progress:
    """What the outermost guard reports when a signal stops the process."""

    what: str
    done: bool = False


def _raise_for(signum: int) -> None:
    raise Terminated(signum)


def _handler(signum: int, _frame) -> None:
    if _state.critical:
        _state.pending = _state.pending or signum
        return
    _raise_for(signum)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def guarded(what: str) -> Iterator[Progress]:
    """While the block runs, SIGTERM / SIGHUP raise ``Terminated`` (cleanup code runs); then the
    process dies by that signal.  ``what`` names the output in the message; set ``done`` on the
    yielded object once the output is complete."""
    progress = Progress(what)
    if not _main_thread():
        yield progress
        return
    installed: dict = {}
    outermost = _state.depth == 0
    if outermost:
        for signum in (*CAUGHT, signal.SIGINT):
            default = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
            if signal.getsignal(signum) is default:
                installed[signum] = default
                signal.signal(signum, _handler)
    _state.depth += 1
    released = False
    try:
        yield progress
    except Terminated as exc:
        if not outermost:
            raise
        _state.depth, released = _state.depth - 1, True
        _restore(installed)
        if exc.signum == signal.SIGINT:
            raise KeyboardInterrupt from None
        name = signal.Signals(exc.signum).name
        state = (f"{progress.what} was written before it stopped" if progress.done
                 else f"nothing was written to {progress.what}")
        print(f"codesign: terminated by {name}; {state}", file=sys.stderr, flush=True)
        os.kill(os.getpid(), exc.signum)  # the default action: the process ends here
        raise SystemExit(128 + exc.signum) from None
    finally:
        if not released:
            _state.depth -= 1
            _restore(installed)
        if _state.depth == 0:
            _state.pending = None


def _restore(installed: dict) -> None:
    for signum, previous in installed.items():
        signal.signal(signum, previous)
    installed.clear()


@contextlib.contextmanager
def critical() -> Iterator[None]:
    """Hold SIGINT / SIGTERM / SIGHUP back until the block is done (inside ``guarded`` only)."""
    if not _main_thread() or _state.depth == 0:
        yield
        return
    _state.critical += 1
    try:
        yield
    finally:
        _state.critical -= 1
        if _state.critical == 0 and _state.pending is not None:
            signum, _state.pending = _state.pending, None
            _raise_for(signum)


__all__ = ["Terminated", "critical", "guarded"]
