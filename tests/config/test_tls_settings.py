"""The TLS settings: gunicorn's names and values (also in a gunicorn.conf.py), the minimum
version, and the checks that refuse TLS settings that would be silently ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from pronghorn.config import load_config
from pronghorn.errors import ConfigError

BASE = ["--certfile", "cert.pem", "app:app"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("0", "none"), ("1", "optional"), ("2", "required"),
        ("none", "none"), ("Optional", "optional"), ("REQUIRED", "required"),
        ("CERT_REQUIRED", "required"),
    ],
)  # fmt: skip
def test_cert_reqs_takes_gunicorns_numbers_and_words(given: str, expected: str) -> None:
    config = load_config(["--ca-certs", "ca.pem", "--cert-reqs", given, *BASE], {})
    assert config.cert_reqs == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [("1.2", "1.2"), ("1.3", "1.3"), ("TLSv1.3", "1.3"), ("TLSv1_2", "1.2"), ("tls1.3", "1.3")],
)
def test_ssl_min_version(given: str, expected: str) -> None:
    assert load_config(["--ssl-min-version", given, *BASE], {}).ssl_min_version == expected


def test_defaults() -> None:
    config = load_config(["app:app"], {})
    assert config.certfile is None
    assert (config.cert_reqs, config.ssl_min_version, config.ciphers) == ("none", "1.2", None)


def test_a_gunicorn_conf_py_with_ssl_settings(tmp_path: Path) -> None:
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text(
        "import ssl\n"
        "certfile = '/etc/ssl/site.pem'\nkeyfile = '/etc/ssl/site.key'\n"
        "ca_certs = '/etc/ssl/clients.pem'\ncert_reqs = ssl.CERT_REQUIRED\n"
        "ciphers = 'ECDHE+AESGCM'\nssl_version = ssl.PROTOCOL_TLS_SERVER\n"
    )
    config = load_config(["-c", str(conf), "app:app"], {})
    assert (config.certfile, config.keyfile) == ("/etc/ssl/site.pem", "/etc/ssl/site.key")
    assert (config.ca_certs, config.cert_reqs) == ("/etc/ssl/clients.pem", "required")
    assert config.ciphers == "ECDHE+AESGCM"
    warnings = "\n".join(config.extras.warnings)
    assert "use --ssl-min-version instead" in warnings
    assert "certfile" not in warnings and "cert_reqs" not in warnings


def test_toml_and_environment(tmp_path: Path) -> None:
    conf = tmp_path / "pronghorn.toml"
    conf.write_text(
        'certfile = "c.pem"\ncert-reqs = 2\nca-certs = "ca.pem"\nssl-min-version = 1.3\n'
    )
    config = load_config(["-c", str(conf), "app:app"], {"PRONGHORN_KEYFILE_PASSWORD": "s3cret"})
    assert (config.cert_reqs, config.ssl_min_version) == ("required", "1.3")
    assert config.keyfile_password == "s3cret"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--keyfile", "k.pem", "app:app"], "--keyfile configure TLS: give --certfile too"),
        (["--ssl-min-version", "1.3", "app:app"],
         "--ssl-min-version configure TLS: give --certfile too"),
        (["--cert-reqs", "required", *BASE],
         "--cert-reqs required checks client certificates against --ca-certs"),
        (["--cert-reqs", "sometimes", *BASE], "option --cert-reqs: expected none, optional"),
        (["--ssl-min-version", "1.0", *BASE], "option --ssl-min-version: expected 1.2 or 1.3"),
    ],
)  # fmt: skip
def test_mistakes(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(argv, {})
    assert message in str(info.value)


@pytest.mark.parametrize(
    "other", [["--proxy-protocol", "v2"], ["--protocol", "uwsgi"]], ids=["proxy", "uwsgi"]
)
def test_tls_with_a_protocol_it_cannot_follow_is_refused(other: list[str]) -> None:
    argv = ["--certfile", "c.pem", *other, "m:app"]
    with pytest.raises(ConfigError, match="is not supported yet"):
        load_config(argv, {})
