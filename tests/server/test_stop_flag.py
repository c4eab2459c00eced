"""The worker's stop flag: a SIGTERM handler or any thread sets it, the clock thread waits
on it (pronghorn.io.worker.StopFlag; why it is not a threading.Event is in its docstring)."""

from __future__ import annotations

import signal
import threading

from pronghorn.io.worker import StopFlag


def test_a_signal_handler_ends_a_wait_in_the_same_thread() -> None:
    stop = StopFlag()
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: stop.set())
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        assert stop.wait(30.0) is True, "the wait outlived the handler's set"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0.0)
        signal.signal(signal.SIGALRM, previous)
        stop.close()


def test_another_thread_ends_a_wait() -> None:
    stop = StopFlag()
    setter = threading.Timer(0.05, stop.set)
    setter.start()
    try:
        assert stop.wait(30.0) is True
    finally:
        setter.join()
        stop.close()


def test_unset_it_waits_out_its_timeout() -> None:
    stop = StopFlag()
    assert stop.wait(0.01) is False
    assert not stop.is_set()
    stop.set()
    stop.set()  # a second set, from a second signal, is harmless
    assert stop.is_set() and stop.wait(0.0) is True
    stop.close()
    stop.set()  # after close: writes nothing
    assert stop.is_set()
