"""The sweep's doorbell: a ring ends the other side's wait early and tells it where to ring back;
nothing about it can fail a sweep (a lost or refused datagram only costs the polling latency)."""

from __future__ import annotations

import time

from codesign.dse.doorbell import Doorbell, wait_or_sleep


def test_a_ring_ends_the_wait_and_names_the_caller() -> None:
    with Doorbell() as planner, Doorbell() as worker:
        worker.ring(planner.address)
        worker.ring(planner.address)
        started = time.monotonic()
        assert planner.wait(5.0) == [worker.address, worker.address]  # drained: both rings at once
        assert time.monotonic() - started < 1.0
        planner.ring(worker.address)
        assert worker.wait(5.0) == [planner.address]


def test_without_a_ring_the_wait_is_the_poll_interval() -> None:
    with Doorbell() as bell:
        started = time.monotonic()
        assert bell.wait(0.2) == []
        assert 0.15 < time.monotonic() - started < 2.0
        assert bell.wait(-1.0) == []  # a step that overran its interval: no wait, no error


def test_rings_that_cannot_arrive_are_harmless() -> None:
    with Doorbell() as bell:
        gone = Doorbell()
        address = gone.address
        gone.close()
        bell.ring(address)  # nobody listens there
        bell.ring(None)
        bell.ring(("127.0.0.1",))
        bell.ring(("127.0.0.1", "not a port"))
    assert Doorbell.open("203.0.113.7") is None  # an address this machine does not have: poll only
    started = time.monotonic()
    assert wait_or_sleep(None, 0.1) == []
    assert time.monotonic() - started >= 0.09
