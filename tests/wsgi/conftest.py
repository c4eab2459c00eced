"""Fixtures for the WSGI tests that need the real server: `validated_server` runs the
`pronghorn` command with `wsgi_apps:app` (validator-wrapped) and `--root-path /mnt`."""

from __future__ import annotations

from pathlib import Path

import pytest

from serverproc import Serve, ServerProcess

_HERE = str(Path(__file__).resolve().parent)


@pytest.fixture(scope="module")
def validated_server(serve_module: Serve) -> ServerProcess:
    return serve_module(
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
