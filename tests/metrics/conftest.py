"""Fixtures for the metrics and health tests: the test app in a directory of its own."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """A directory holding `metricsapp.py` (served as `metricsapp:app`) and a static file."""
    shutil.copy(_HERE / "metricsapp.py", tmp_path / "metricsapp.py")
    public = tmp_path / "public"
    public.mkdir()
    (public / "big.bin").write_bytes(bytes(range(256)) * 1024)  # 256 KiB: sent by sendfile
    return tmp_path
