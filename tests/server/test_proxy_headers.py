"""Proxy headers over real sockets: what the app and the access log see from a trusted peer
(loopback by default, a Unix socket always) and from an untrusted one (here 127.0.0.1 itself,
with `--forwarded-allow-ips 10.9.9.9`)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from server_setup import app_args

from rawhttp import RawClient, has_ipv6_loopback, request, wait_until
from serverproc import Serve, ServerProcess

ALL_X = "x-forwarded-for,x-forwarded-proto,x-forwarded-host,x-forwarded-port,x-forwarded-prefix"
FORGED = [
    ("X-Forwarded-For", "1.2.3.4"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Host", "evil.example"),
    ("X-Forwarded-Port", "443"),
    ("X-Forwarded-Prefix", "/evil"),
    ("Forwarded", "for=1.2.3.4;proto=https"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("proxy-static")
    (directory / "a.txt").write_bytes(b"static a\n")
    return directory


@pytest.fixture(scope="module")
def unix_sock(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("proxy-unix") / "p.sock"


@pytest.fixture(scope="module")
def trusting(serve_module: Serve, files: Path, unix_sock: Path) -> ServerProcess:
    """Default trust (loopback; for and proto), an access log on stdout, a static mount and
    a Unix socket beside the TCP listener."""
    args = app_args("--access-logfile", "-", "--static", f"/s={files}", "-b", f"unix:{unix_sock}")
    server = serve_module(*args)
    assert wait_until(unix_sock.is_socket, 5.0)
    return server


@pytest.fixture(scope="module")
def untrusting(serve_module: Serve) -> ServerProcess:
    args = app_args(
        "--forwarded-allow-ips", "10.9.9.9", "--trusted-proxy-headers", ALL_X,
        "--access-logfile", "-",
    )  # fmt: skip
    return serve_module(*args)


def environ_of(
    server: ServerProcess, headers: list[tuple[str, str]], host: str = "shop.example"
) -> dict[str, Any]:
    tag = secrets.token_hex(4)
    with RawClient.connect(server.host, server.port) as client:
        client.send(request("GET", f"/environ?tag={tag}", headers, host=host))
        resp = client.response()
    assert resp.status == 200, resp
    environ: dict[str, Any] = json.loads(resp.body)
    return environ


def access_line(server: ServerProcess, tag: str) -> str:
    text = server.wait_for_stdout(f"tag={tag}")
    return next(line for line in text.splitlines() if f"tag={tag}" in line)


def test_untrusted_peer_forged_headers_change_nothing(untrusting: ServerProcess) -> None:
    environ = environ_of(untrusting, FORGED)
    assert environ["REMOTE_ADDR"] == "127.0.0.1"
    assert environ["REMOTE_PORT"].isdigit()
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["HTTP_HOST"] == "shop.example"
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("127.0.0.1", str(untrusting.port))
    assert environ["SCRIPT_NAME"] == ""
    # Kept as they came, never acted on.
    assert environ["HTTP_X_FORWARDED_FOR"] == "1.2.3.4"
    assert environ["HTTP_FORWARDED"] == "for=1.2.3.4;proto=https"


def test_untrusted_peer_access_log_shows_the_peer(untrusting: ServerProcess) -> None:
    tag = secrets.token_hex(4)
    with RawClient.connect(untrusting.host, untrusting.port) as client:
        client.send(request("GET", f"/hello?tag={tag}", FORGED))
        assert client.response().status == 200
    assert access_line(untrusting, tag).startswith("127.0.0.1 - - [")


def test_nginx_style_headers_from_loopback(trusting: ServerProcess) -> None:
    headers = [("X-Forwarded-For", "6.6.6.6, 203.0.113.9"), ("X-Forwarded-Proto", "https")]
    environ = environ_of(trusting, headers)
    assert environ["REMOTE_ADDR"] == "203.0.113.9"
    assert "REMOTE_PORT" not in environ
    assert environ["wsgi.url_scheme"] == "https"
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("shop.example", "443")
    # Host, port and prefix headers are not trusted by default.
    environ = environ_of(trusting, [("X-Forwarded-Host", "evil.example")])
    assert environ["HTTP_HOST"] == "shop.example"
    assert environ["REMOTE_ADDR"] == "127.0.0.1"


@pytest.mark.parametrize(
    "headers",
    [
        [("X-Forwarded-For", "not an address")],
        [("X-Forwarded-For", ",,,")],
        [("X-Forwarded-Proto", "gopher")],
        [("X-Forwarded-For", "[::1"), ("X-Forwarded-Proto", "")],
        [("X-Forwarded-For", "1.2.3.4:99999"), ("X-Forwarded-Proto", "https, javascript")],
    ],
)
def test_malformed_values_are_ignored_never_a_500(
    trusting: ServerProcess, headers: list[tuple[str, str]]
) -> None:
    environ = environ_of(trusting, headers)
    assert environ["REMOTE_ADDR"] == "127.0.0.1"
    assert environ["wsgi.url_scheme"] in ("http", "https")


def test_access_log_shows_the_client(trusting: ServerProcess) -> None:
    tag = secrets.token_hex(4)
    with RawClient.connect(trusting.host, trusting.port) as client:
        client.send(request("GET", f"/hello?tag={tag}", [("X-Forwarded-For", "203.0.113.9")]))
        assert client.response().status == 200
    assert access_line(trusting, tag).startswith("203.0.113.9 - - [")


def test_access_log_of_a_static_file_shows_the_client(trusting: ServerProcess) -> None:
    tag = secrets.token_hex(4)
    with RawClient.connect(trusting.host, trusting.port) as client:
        xff = [("X-Forwarded-For", "2001:db8::9")]
        client.send(request("GET", f"/s/a.txt?tag={tag}", xff))
        resp = client.response()
        assert (resp.status, resp.body) == (200, b"static a\n")
    assert access_line(trusting, tag).startswith("2001:db8::9 - - [")


def test_unix_socket_peer_is_trusted_and_server_name_is_the_host(
    trusting: ServerProcess, unix_sock: Path
) -> None:
    tag = secrets.token_hex(4)
    with RawClient.connect_unix(str(unix_sock)) as client:
        client.send(request("GET", "/environ", host="shop.example:8080"))
        plain = json.loads(client.response().body)
        headers = [("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-Proto", "https")]
        client.send(request("GET", f"/environ?tag={tag}", headers, host="shop.example"))
        proxied = json.loads(client.response().body)
    assert plain["REMOTE_ADDR"] == ""
    assert (plain["SERVER_NAME"], plain["SERVER_PORT"]) == ("shop.example", "8080")
    assert proxied["REMOTE_ADDR"] == "203.0.113.9"
    assert proxied["wsgi.url_scheme"] == "https"
    assert (proxied["SERVER_NAME"], proxied["SERVER_PORT"]) == ("shop.example", "443")
    assert access_line(trusting, tag).startswith("203.0.113.9 - - [")


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no ::1 on this machine")
def test_ipv6_loopback_is_trusted_and_networks_work(serve: Serve) -> None:
    args = app_args("--forwarded-allow-ips", "::1,fd00::/8")
    args[args.index("127.0.0.1:0")] = "[::1]:0"
    server = serve(*args)
    headers = [("X-Forwarded-For", "2001:db8::77, fd00::2"), ("X-Forwarded-Proto", "https")]
    environ = environ_of(server, headers)
    assert environ["REMOTE_ADDR"] == "2001:db8::77"
    assert environ["wsgi.url_scheme"] == "https"


def test_star_trusts_every_peer_and_the_whole_chain(serve: Serve) -> None:
    server = serve(*app_args("--forwarded-allow-ips", "*", "--trusted-proxy-headers", ALL_X))
    headers = [
        ("X-Forwarded-For", "203.0.113.9, 198.51.100.2"),
        ("X-Forwarded-Host", "shop.example"),
        ("X-Forwarded-Port", "8443"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Prefix", "/shop"),
    ]
    environ = environ_of(server, headers, host="127.0.0.1")
    assert environ["REMOTE_ADDR"] == "203.0.113.9"
    assert environ["HTTP_HOST"] == "shop.example:8443"
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("shop.example", "8443")
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("/shop", "/environ")
