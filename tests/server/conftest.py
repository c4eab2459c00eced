"""Fixtures for the server tests: the real `pronghorn` command serving `server_apps:app`.

`shared_server` is one process per test module with the options in `server_setup`. Tests
that need other options start their own through the top-level `serve` fixture.
"""

from __future__ import annotations

import pytest
from server_setup import SHARED_OPTIONS, app_args

from serverproc import Serve, ServerProcess


@pytest.fixture(scope="module")
def shared_server(serve_module: Serve) -> ServerProcess:
    return serve_module(*app_args(*SHARED_OPTIONS))


@pytest.fixture(scope="module")
def streaming_server(serve_module: Serve) -> ServerProcess:
    """The shared server with `--body-buffer 0`: every request body streams to the app as
    it reads, so the app runs before its body has arrived (the path of bodies larger than
    the buffer, and of 100-continue uploads)."""
    return serve_module(*app_args(*SHARED_OPTIONS, "--body-buffer", "0"))
