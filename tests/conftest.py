"""Shared pytest fixtures for the whole test tree.

``serve`` starts server processes (see `serverproc.ServerProcess`) for one
test and stops all of them at teardown.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# serverproc lives beside this file; under pytest's importlib mode this
# directory is not put on sys.path for us.
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

from serverproc import Serve, ServerPool  # noqa: E402

# Server processes start in other directories: a relative PYTHONPATH (`PYTHONPATH=src
# pytest`, as in a git worktree) would make them import some other checkout's pronghorn.
if os.environ.get("PYTHONPATH"):
    os.environ["PYTHONPATH"] = os.pathsep.join(
        os.path.abspath(entry) if entry else entry
        for entry in os.environ["PYTHONPATH"].split(os.pathsep)
    )


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Yield ``serve(*args, cwd=None, env=None) -> ServerProcess``."""
    pool = ServerPool()
    try:
        yield pool
    finally:
        pool.stop_all()
