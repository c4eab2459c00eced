"""Fixtures for the supervisor tests: a directory holding the test app."""

from __future__ import annotations

from pathlib import Path

import pytest
from svtools import write_app


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    write_app(tmp_path, "v1")
    return tmp_path
