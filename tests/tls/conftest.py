"""Fixtures for the TLS tests; what they share lives in `tlstools` (a name of its own: test
modules import from it, and `conftest` is every test directory's name)."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from tlstools import site  # noqa: E402, F401  (the fixture)
