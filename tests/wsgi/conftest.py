"""Fixtures for the WSGI tests that need the real server: `validated_server` runs the
`pronghorn` command with `wsgi_apps:app` (validator-wrapped) and `--root-path /mnt`."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from serverproc import ServerPool, ServerProcess  # noqa: E402


@pytest.fixture(scope="module")
def validated_server() -> Iterator[ServerProcess]:
    pool = ServerPool()
    try:
        yield pool(
            "--pythonpath",
            _HERE,
            "-b",
            "127.0.0.1:0",
            "--root-path",
            "/mnt",
            "--threads",
            "2",
            "wsgi_apps:app",
        )
    finally:
        pool.stop_all()
