"""The soak (soakload.py) for 20 seconds in every `make test` (SOAK_SECONDS overrides it):
keep-alive clients, GET/HEAD/POST with bodies up to 1 MiB, every status, reset and body
checked, worker RSS within +-10 % between the end of the warm-up and the end."""

from __future__ import annotations

import os

import pytest
from soakload import soak

SECONDS = float(os.environ.get("SOAK_SECONDS", "20"))


@pytest.mark.timeout(SECONDS + 120)
def test_soak() -> None:
    seconds = SECONDS
    report = soak(seconds, clients=4, seed=int(os.environ.get("SOAK_SEED", "0")))
    assert report.requests > 0
    assert report.ok, report.describe()
