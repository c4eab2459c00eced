"""Fixtures for the server tests: the real `pronghorn` command serving `server_apps:app`.

`shared_server` is one process per test module with the options in `server_setup`. Tests
that need other options start their own through the top-level `serve` fixture.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from server_setup import SHARED_OPTIONS, app_args  # noqa: E402

from serverproc import ServerPool, ServerProcess  # noqa: E402


@pytest.fixture(scope="module")
def shared_server() -> Iterator[ServerProcess]:
    pool = ServerPool()
    try:
        yield pool(*app_args(*SHARED_OPTIONS))
    finally:
        pool.stop_all()


@pytest.fixture(scope="module")
def streaming_server() -> Iterator[ServerProcess]:
    """The shared server with `--body-buffer 0`: every request body streams to the app as
    it reads, so the app runs before its body has arrived (the path of bodies larger than
    the buffer, and of 100-continue uploads)."""
    pool = ServerPool()
    try:
        yield pool(*app_args(*SHARED_OPTIONS, "--body-buffer", "0"))
    finally:
        pool.stop_all()
