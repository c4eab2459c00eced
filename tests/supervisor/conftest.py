"""Fixtures for the supervisor tests: a directory holding the test app."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from svtools import write_app  # noqa: E402


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    write_app(tmp_path, "v1")
    return tmp_path
