"""`pronghorn top`: its options, where the metrics listener is, and its exit statuses.

Owns `main(argv)`. The listener is `--metrics URL`, else the `metrics_bind` of the
configuration the server itself would read (`-c FILE`, PRONGHORN_METRICS_BIND, or
./pronghorn.toml), with a wildcard host (0.0.0.0, ::) read as this machine's loopback.
Exit statuses: 0 done (`--once` printed its frame, or the user quit), 1 the listener cannot
be reached or is not a pronghorn's, 2 a mistake in the options or no listener known.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Sequence
from typing import NoReturn

from pronghorn.config import TcpAddress, build_config, parse_bind, parse_command_line
from pronghorn.errors import EXIT_OK, EXIT_USAGE, ConfigError
from pronghorn.top.frame import compute_frame
from pronghorn.top.render import render
from pronghorn.top.screen import run_live
from pronghorn.top.source import MetricsSource, TopError, parse_url

DEFAULT_INTERVAL = 2.0
_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise TopError(message, EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pronghorn top",
        description="A live view of a running pronghorn's metrics: the whole server, then one "
        "row a worker (requests a second, in flight, p50 and p99 of the time in the server, "
        "restarts). Reads the server's --metrics-bind listener. Keys: q quits.",
        allow_abbrev=False,
    )
    parser.add_argument(
        "--metrics", metavar="URL",
        help="The metrics listener, as http://HOST:PORT. Default: the metrics_bind of the "
        "server's configuration (-c FILE, PRONGHORN_METRICS_BIND or ./pronghorn.toml).",
    )  # fmt: skip
    parser.add_argument("-c", "--config", metavar="FILE", help="The server's config file.")
    parser.add_argument(
        "--interval", metavar="SECONDS", type=_seconds, default=DEFAULT_INTERVAL,
        help=f"Seconds between two frames, and between the two scrapes a frame compares "
        f"(default {DEFAULT_INTERVAL:g}; workers publish once a second).",
    )  # fmt: skip
    parser.add_argument(
        "--once", action="store_true",
        help="Print one frame, computed from two scrapes --interval apart, and exit.",
    )  # fmt: skip
    return parser


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(seconds) or not 0.1 <= seconds <= 3600:
        raise argparse.ArgumentTypeError(f"expected 0.1 to 3600 seconds, not {text}")
    return seconds


def main(argv: Sequence[str]) -> int:
    """Run `pronghorn top` with `argv` (the words after `top`); the exit status."""
    try:
        options = _parser().parse_args(list(argv))
        source = MetricsSource(*_where(options.metrics, options.config))
        if options.once:
            return _once(source, options.interval)
        return run_live(source, options.interval, sys.stdout, sys.stdin)
    except TopError as exc:
        sys.stderr.write(f"pronghorn top: error: {exc}\n")
        return exc.status


def _once(source: MetricsSource, interval: float) -> int:
    before = source.scrape()
    taken = time.monotonic()
    time.sleep(interval)  # the interval the frame is computed over
    after = source.scrape()
    frame = compute_frame(before, after, time.monotonic() - taken)
    lines = render(frame, source.url, source.readiness(), width=1000)
    sys.stdout.write("\n".join(lines) + "\n")
    return EXIT_OK


def _where(url: str | None, config_file: str | None) -> tuple[str, int]:
    """(host, port) of the metrics listener to read."""
    if url:
        return parse_url(url)
    try:
        # The server's file may leave the application to its command line: name one, never
        # imported (a Config is a value), so that only the metrics settings matter here.
        words = [*(["-c", config_file] if config_file else []), "pronghorn.top:main"]
        config = build_config(parse_command_line(words), os.environ)
    except ConfigError as exc:
        raise TopError(f"reading the server's configuration: {exc}", EXIT_USAGE) from None
    if not config.metrics_bind:
        where = config.config or "the environment and ./pronghorn.toml"
        raise TopError(
            f"no metrics listener: give --metrics http://HOST:PORT (no metrics_bind in {where})",
            EXIT_USAGE,
        )
    address = parse_bind(config.metrics_bind)
    assert isinstance(address, TcpAddress)  # the setting takes HOST:PORT only
    if address.port == 0:
        raise TopError(
            f"metrics_bind {config.metrics_bind} picks a port at start: give --metrics with "
            "the one the server logged (Metrics at: ...)",
            EXIT_USAGE,
        )
    return _LOOPBACK.get(address.host, address.host), address.port
