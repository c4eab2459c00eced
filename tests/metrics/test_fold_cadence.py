"""The clock thread's wait between two sweeps folds the pure build's recorded metrics every
tenth of a second, and still ends at once when a stop is asked for."""

from __future__ import annotations

import time

from pronghorn.io.worker import StopFlag, _wait_folding


def test_a_sweep_folds_about_ten_times() -> None:
    folds: list[float] = []
    began = time.monotonic()
    assert _wait_folding(StopFlag(), lambda: folds.append(time.monotonic())) is False
    took = time.monotonic() - began
    assert took >= 1.0, "a sweep lasts a second"
    # Ten slices of 0.1 s; a busy machine may stretch a slice, never add one.
    assert 1 <= len(folds) <= 10


def test_a_stop_ends_the_wait_without_another_fold() -> None:
    stop = StopFlag()
    folds: list[float] = []

    def fold() -> None:
        folds.append(time.monotonic())
        stop.set()  # asked for while folding: the next slice's wait sees it

    assert _wait_folding(stop, fold) is True
    assert len(folds) == 1, "the wait went on after the stop"


def test_without_recorded_metrics_the_wait_is_one_sleep() -> None:
    stop = StopFlag()
    stop.set()
    assert _wait_folding(stop, None) is True
