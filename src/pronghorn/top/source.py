"""Where `pronghorn top` reads from: a pronghorn metrics listener, over plain HTTP.

Owns `MetricsSource`: `scrape()` (GET /metrics, parsed strictly, and refused unless it
holds pronghorn's own families) and `readiness()` (GET /readyz: its one-line reason), and
`TopError`, a failure to tell the user with the exit status it calls for: 1 when the
listener cannot be reached or is not a pronghorn's, 2 for a mistake in what was asked
(`EXIT_USAGE`). Every request has a timeout, so a listener that hangs cannot hang top.
"""

from __future__ import annotations

import http.client
import socket
from urllib.parse import urlsplit

from pronghorn.errors import EXIT_FAILURE, EXIT_USAGE
from pronghorn.metrics.textformat import Scrape, TextFormatError, parse_text

TIMEOUT = 5.0
_MOST_BYTES = 16 * 1024 * 1024
_PRONGHORN_FAMILY = "pronghorn_requests_total"


class TopError(Exception):
    """What went wrong, in a sentence, and the exit status for it."""

    def __init__(self, message: str, status: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.status = status


def parse_url(text: str) -> tuple[str, int]:
    """(host, port) of `http://HOST:PORT[/metrics]` or `HOST:PORT`; TopError (2) else."""
    url = text if "://" in text else "http://" + text
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "http" or not parts.hostname or port is None:
        raise TopError(
            f"--metrics {text}: expected http://HOST:PORT (the --metrics-bind of the "
            "server; the metrics listener speaks plain HTTP)",
            EXIT_USAGE,
        )
    if parts.path not in ("", "/", "/metrics"):
        raise TopError(f"--metrics {text}: give the listener, without a path", EXIT_USAGE)
    return parts.hostname, port


class MetricsSource:
    """The metrics listener at `host`:`port`."""

    def __init__(self, host: str, port: int, timeout: float = TIMEOUT) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}"

    def scrape(self) -> Scrape:
        """The server's metrics now; TopError when there are none to be had."""
        status, reason, body = self._get("/metrics")
        if status == 403:
            raise TopError(
                f"{self.url}/metrics answered 403: this address is not in the server's "
                "--metrics-allow-from"
            )
        if status != 200:
            raise TopError(
                f"{self.url}/metrics answered {status} {reason}: not a pronghorn metrics listener"
            )
        try:
            scrape = parse_text(body.decode("utf-8"))
        except (UnicodeDecodeError, TextFormatError) as exc:
            raise TopError(
                f"{self.url}/metrics is not a pronghorn metrics listener (not the Prometheus "
                f"text format: {exc})"
            ) from None
        if _PRONGHORN_FAMILY not in scrape.types:
            raise TopError(
                f"{self.url}/metrics is not a pronghorn metrics listener (Prometheus metrics, "
                f"but no {_PRONGHORN_FAMILY})"
            )
        return scrape

    def readiness(self) -> str:
        """The server's own words on its readiness (/readyz), or why they are missing."""
        try:
            status, _, body = self._get("/readyz")
        except TopError as exc:
            return f"readiness unknown: {exc}"
        line = body.decode("utf-8", "replace").strip().splitlines()
        text = line[0][:200] if line else "(empty answer)"
        return f"{text} (/readyz {status})"

    def _get(self, path: str) -> tuple[int, str, bytes]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            connection.request("GET", path, headers={"Connection": "close"})
            response = connection.getresponse()
            body = response.read(_MOST_BYTES)
            return response.status, response.reason, body
        except (OSError, http.client.HTTPException) as exc:
            raise TopError(f"cannot read {self.url}{path}: {_why(exc)}") from None
        finally:
            connection.close()


def _why(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running with --metrics-bind there?)"
    if isinstance(exc, socket.timeout | TimeoutError):
        return f"no answer within {TIMEOUT:g} s"
    if isinstance(exc, http.client.HTTPException):
        return f"not an HTTP answer ({type(exc).__name__})"
    return str(exc) or type(exc).__name__
