"""The metrics and health settings: what they accept and refuse, from every source."""

from __future__ import annotations

import pytest

from pronghorn.config import load_config
from pronghorn.errors import ConfigError


def test_defaults_turn_everything_off() -> None:
    config = load_config(["app:app"], {})
    assert config.metrics_bind is None and config.statsd_host is None
    assert config.liveness_path is None and config.readiness_path is None
    assert config.shutdown_delay == 0.0
    assert config.metrics_allow_from == ("127.0.0.1", "::1")
    assert config.statsd_prefix == ""


def test_values_from_the_command_line_and_the_environment() -> None:
    config = load_config(
        ["--metrics-bind", "[::1]:9100", "--metrics-allow-from", "10.0.0.0/8,127.0.0.1",
         "--statsd-host", "localhost:8125", "--readiness-path", "/readyz", "app:app"],
        {"PRONGHORN_SHUTDOWN_DELAY": "5", "PRONGHORN_STATSD_PREFIX": "shop"},
    )  # fmt: skip
    assert config.metrics_bind == "[::1]:9100"
    assert config.metrics_allow_from == ("10.0.0.0/8", "127.0.0.1")
    assert config.statsd_host == "localhost:8125"
    assert config.readiness_path == "/readyz"
    assert config.shutdown_delay == 5.0
    assert config.statsd_prefix == "shop"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--metrics-bind", "unix:/tmp/m.sock"], "HOST:PORT"),
        (["--metrics-bind", "fd://3"], "HOST:PORT"),
        (["--statsd-host", "localhost"], "no port"),
        (["--metrics-allow-from", "10.0.0.1/8"], "host bits"),
        (["--readiness-path", "ready"], "URL path"),
        (["--liveness-path", "/live?x=1"], "URL path"),
        (["--shutdown-delay", "-1"], "seconds"),
    ],
)
def test_mistakes_are_refused(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(argv, {})
