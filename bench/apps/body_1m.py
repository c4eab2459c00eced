"""Scenario app for `body-1m`: a fixed 1 MiB body with Content-Length, in one chunk."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

BODY = bytes(range(256)) * 4096
HEADERS = [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(BODY)))]


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", list(HEADERS))
    return [BODY]
