"""The soak (soakload.py) for 20 seconds in every `make test` (SOAK_SECONDS overrides it):
keep-alive clients, GET/HEAD/POST with bodies up to 1 MiB, every status, reset and body
checked, worker peak RSS within +-10 % between the two halves after the warm-up.

The RSS verdict judges live memory, not glibc's cache of freed buffers (soakload's
docstring says how and what was measured); `test_soak_catches_a_leak` shows that it fails
on an app that keeps 16 KiB of every request."""

from __future__ import annotations

import os

import pytest
from soakload import soak

SECONDS = float(os.environ.get("SOAK_SECONDS", "20"))
LEAK_SECONDS = 10.0


@pytest.mark.timeout(SECONDS + 120)
def test_soak() -> None:
    seconds = SECONDS
    seed = int(os.environ.get("SOAK_SEED", "0"))
    report = soak(seconds, clients=4, seed=seed)
    assert report.requests > 0
    assert report.ok, report.describe()


@pytest.mark.timeout(LEAK_SECONDS + 120)
def test_soak_catches_a_leak() -> None:
    """16 KiB a request: measured at 4 KiB, a worker went from ~31 to 37-41 MiB (+20 to
    +33 %) in 3 s, where without the leak it stayed within 3 %; four times that keeps the
    verdict clear on a loaded machine."""
    report = soak(LEAK_SECONDS, clients=4, seed=1, leak_bytes=16384)
    assert report.error_count == 0, report.describe()
    assert any("peak RSS" in problem for problem in report.final_problems), report.describe()
