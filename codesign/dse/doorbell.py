"""Wake-ups between a sweep's planner and its workers: UDP datagrams that end a poll's sleep early.

The study is the only thing planner and workers share, and both poll it (``POLL_S``). Between
two NSGA-II rounds that costs up to two polls: the planner notices the round's last trial a
poll late, then the workers notice the new round a poll late. With a doorbell each side rings
the other: a worker after every trial it finishes (and once at start, so the planner knows its
address), the planner after it queued trials and when the sweep is done. A datagram carries
no data the receiver trusts (only the sender's doorbell address, to be rung back); a lost one,
or a network that drops them between machines, only brings back the polling latency.
"""

from __future__ import annotations

import contextlib
import select
import socket

Address = tuple[str, int]


class Doorbell:
    """A non-blocking UDP socket on ``host`` (port chosen by the system)."""

    def __init__(self, host: str = "127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind((host, 0))
        except OSError:
            self.sock.close()
            raise
        self.sock.setblocking(False)
        self.address: Address = self.sock.getsockname()[:2]

    @classmethod
    def open(cls, host: str | None) -> Doorbell | None:
        """A doorbell, or None where none can be bound (then the caller only polls)."""
        try:
            return cls(host or "127.0.0.1")
        except (OSError, ValueError):
            return None

    def ring(self, address: Address | None) -> None:
        """Wake the doorbell at ``address``, telling it where to ring back; never raises."""
        if address is None:
            return
        with contextlib.suppress(OSError, ValueError, TypeError):
            self.sock.sendto(f"{self.address[0]}:{self.address[1]}".encode(), tuple(address))

    def wait(self, timeout: float) -> list[Address]:
        """Sleep until rung or ``timeout`` s; returns the addresses of those who rang (drained)."""
        with contextlib.suppress(OSError, ValueError):
            select.select([self.sock], [], [], max(timeout, 0.0))
        callers: list[Address] = []
        while True:
            try:
                data = self.sock.recv(256)
            except OSError:  # nothing left to read (BlockingIOError), or the socket failed
                return callers
            host, _, port = data.decode(errors="replace").rpartition(":")
            if host and port.isdigit():
                callers.append((host, int(port)))

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Doorbell:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def wait_or_sleep(bell: Doorbell | None, timeout: float) -> list[Address]:
    """``bell.wait(timeout)``, or a plain sleep without a doorbell."""
    if bell is None:
        import time

        time.sleep(timeout)
        return []
    return bell.wait(timeout)
