"""An idle worker sleeps: its threads wake a few dozen times a second (the standby's
bounded sleep, the one-second polls of the leader, the waiting threads and the clock), not
hundreds. A worker that ticks while nothing happens costs every idle server on a machine
CPU time and its power, and hides real work in `top`.

Counted, not timed: the threads' voluntary context switches (each is a thread going to
sleep, so each wake-up adds one) over a window of idleness, from /proc."""

from __future__ import annotations

import time

from server_setup import app_args

from procstat import voluntary_switches
from rawhttp import RawClient, request
from serverproc import ServerProcess

WINDOW_SECONDS = 2.0
MOST_WAKES_A_SECOND = 60
"""Measured on this tree: 24 a second (72 in 3 s, pure); before the standby's fix, ~250."""


def _served(server: ServerProcess) -> None:
    with RawClient.connect(server.host, server.port) as client:
        client.send(request("GET", "/hello?tag=idle"))
        assert client.response().status == 200


def test_an_idle_worker_sleeps() -> None:
    # --single-process: the process measured is the worker itself, all its threads.
    with ServerProcess(app_args("--single-process", "--threads", "4")) as server:
        _served(server)  # the standby ticks while requests come, then must stop
        time.sleep(0.5)  # past the standby's 50 ms of ticks after the last request
        before = voluntary_switches(server.pid)
        time.sleep(WINDOW_SECONDS)  # the idle window the wake-ups are counted over
        woke = voluntary_switches(server.pid) - before
        _served(server)  # and it still answers at once
    assert woke < MOST_WAKES_A_SECOND * WINDOW_SECONDS, f"{woke} wake-ups in {WINDOW_SECONDS} s"
