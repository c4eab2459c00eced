"""Fixtures for the TLS tests; what they share lives in `tlstools` (a name of its own: test
modules import from it, and `conftest` is every test directory's name)."""

from __future__ import annotations

from tlstools import site  # noqa: F401  (the fixture)
