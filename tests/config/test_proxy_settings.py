"""--forwarded-allow-ips, --trusted-proxy-headers, --proxy-protocol and --proxy-allow-from:
forms, sources, defaults and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from pronghorn.config import load_config
from pronghorn.errors import ConfigError


def test_defaults_trust_loopback_for_for_and_proto() -> None:
    config = load_config(["m:app"], {})
    assert config.forwarded_allow_ips == ("127.0.0.1", "::1")
    assert config.trusted_proxy_headers == ("x-forwarded-for", "x-forwarded-proto")


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("10.0.0.5", ("10.0.0.5",)),
        ("10.0.0.0/8", ("10.0.0.0/8",)),
        ("10.0.0.5/32", ("10.0.0.5",)),
        ("2001:DB8::/32", ("2001:db8::/32",)),
        ("2001:db8:0::1", ("2001:db8::1",)),
        ("*", ("*",)),
        (" 10.0.0.1 , fd00::/8,*", ("10.0.0.1", "fd00::/8", "*")),
        ("", ()),
    ],
)
def test_allow_ips_forms_are_normalised(given: str, stored: tuple[str, ...]) -> None:
    config = load_config(["--forwarded-allow-ips", given, "m:app"], {})
    assert config.forwarded_allow_ips == stored


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("localhost", "expected an IP address, a network such as 10.0.0.0/8"),
        ("10.0.0.1/8", "10.0.0.1/8 has host bits set; 10.0.0.0/8?"),
        ("10.0.0.0/33", "expected an IP address"),
        ("10.0.0.*", "expected an IP address"),
    ],
)
def test_allow_ips_mistakes_are_refused(given: str, message: str) -> None:
    with pytest.raises(ConfigError, match="option --forwarded-allow-ips") as info:
        load_config(["--forwarded-allow-ips", given, "m:app"], {})
    assert message in str(info.value)


def test_allow_ips_from_environment_file_and_gunicorn_conf(tmp_path: Path) -> None:
    env = {"PRONGHORN_FORWARDED_ALLOW_IPS": "10.0.0.0/8,192.0.2.7"}
    assert load_config(["m:app"], env).forwarded_allow_ips == ("10.0.0.0/8", "192.0.2.7")
    toml = tmp_path / "p.toml"
    toml.write_text('forwarded-allow-ips = ["10.1.0.0/16", "::1"]\n')
    config = load_config(["-c", str(toml), "m:app"], {})
    assert config.forwarded_allow_ips == ("10.1.0.0/16", "::1")
    # gunicorn.conf.py spells it as one comma-separated string.
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text("forwarded_allow_ips = '10.2.0.1,10.2.0.2'\n")
    config = load_config(["-c", str(conf), "m:app"], {})
    assert config.forwarded_allow_ips == ("10.2.0.1", "10.2.0.2")
    assert not config.extras.warnings


def test_trusted_headers_are_case_insensitive_and_may_be_empty() -> None:
    argv = ["--trusted-proxy-headers", "X-Forwarded-Host, x-forwarded-PORT", "m:app"]
    config = load_config(argv, {})
    assert config.trusted_proxy_headers == ("x-forwarded-host", "x-forwarded-port")
    config = load_config(["--trusted-proxy-headers", "", "m:app"], {})
    assert config.trusted_proxy_headers == ()
    config = load_config(["m:app"], {"PRONGHORN_TRUSTED_PROXY_HEADERS": "forwarded"})
    assert config.trusted_proxy_headers == ("forwarded",)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("x-forwarded-server", "expected one of forwarded, x-forwarded-for"),
        ("forwarded,x-forwarded-proto", "forwarded cannot be trusted together with x-forw"),
        ("forwarded,x-forwarded-for,x-forwarded-host", "with x-forwarded-for, x-forwarded-h"),
    ],
)
def test_trusted_header_mistakes_are_refused(given: str, message: str) -> None:
    with pytest.raises(ConfigError, match="option --trusted-proxy-headers") as info:
        load_config(["--trusted-proxy-headers", given, "m:app"], {})
    assert message in str(info.value)


def test_forwarded_goes_with_the_prefix_header() -> None:
    argv = ["--trusted-proxy-headers", "forwarded,x-forwarded-prefix", "m:app"]
    assert load_config(argv, {}).trusted_proxy_headers == ("forwarded", "x-forwarded-prefix")


def test_proxy_protocol_is_off_and_allows_loopback_by_default() -> None:
    config = load_config(["m:app"], {})
    assert (config.proxy_protocol, config.proxy_allow_from) == ("off", ("127.0.0.1", "::1"))


def test_proxy_protocol_from_every_source(tmp_path: Path) -> None:
    argv = ["--proxy-protocol", "--proxy-allow-from", "10.0.0.0/8, 192.0.2.7/32", "m:app"]
    config = load_config(argv, {})
    assert (config.proxy_protocol, config.proxy_allow_from) == ("auto", ("10.0.0.0/8", "192.0.2.7"))
    env = {"PRONGHORN_PROXY_PROTOCOL": "yes", "PRONGHORN_PROXY_ALLOW_FROM": "*"}
    config = load_config(["m:app"], env)
    assert (config.proxy_protocol, config.proxy_allow_from) == ("auto", ("*",))
    toml = tmp_path / "p.toml"
    toml.write_text('proxy-protocol = true\nproxy-allow-from = ["fd00::/8"]\n')
    config = load_config(["-c", str(toml), "m:app"], {})
    assert (config.proxy_protocol, config.proxy_allow_from) == ("auto", ("fd00::/8",))
    # gunicorn.conf.py: gunicorn's names (proxy_allow_ips for --proxy-allow-from), no warning.
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text("proxy_protocol = True\nproxy_allow_ips = '10.2.0.1,10.2.0.2'\n")
    config = load_config(["-c", str(conf), "m:app"], {})
    assert (config.proxy_protocol, config.proxy_allow_from) == ("auto", ("10.2.0.1", "10.2.0.2"))
    assert not config.extras.warnings


def test_proxy_allow_from_mistakes_are_refused() -> None:
    with pytest.raises(ConfigError, match="option --proxy-allow-from") as info:
        load_config(["--proxy-protocol", "--proxy-allow-from", "haproxy.local", "m:app"], {})
    assert "expected an IP address, a network such as 10.0.0.0/8" in str(info.value)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--proxy-protocol", "v1"], "v1"),
        (["--proxy-protocol", "V2"], "v2"),
        (["--proxy-protocol", "off"], "off"),
        (["--proxy-protocol"], "auto"),
    ],
)
def test_proxy_protocol_takes_gunicorns_values(argv: list[str], expected: str) -> None:
    assert load_config([*argv, "m:app"], {}).proxy_protocol == expected


def test_proxy_protocol_refuses_other_words() -> None:
    with pytest.raises(ConfigError, match="option --proxy-protocol") as info:
        load_config(["--proxy-protocol", "v3", "m:app"], {})
    assert "one of off, v1, v2, auto" in str(info.value)
