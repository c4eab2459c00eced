"""A real haproxy with `send-proxy` (PROXY v1) and `send-proxy-v2` in front of pronghorn
started with --proxy-protocol, and haproxy with neither (a misconfiguration).

haproxy is started as every interop test starts it (`proxies.start_proxy`, haproxy.cfg.in),
with the option added to its `server` line. Clients connect from 127.0.0.2 and 127.0.0.3;
the app (tests/server/server_apps.py) answers with its environ. haproxy missing fails the
tests; `make test` installs it.
"""

from __future__ import annotations

import json
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from proxies import ProxyMissing, ProxyProcess, start_proxy

from rawhttp import DEFAULT_TIMEOUT, RawClient, request
from serverproc import ServerPool, ServerProcess

SERVER_APPS = str(Path(__file__).resolve().parents[1] / "server")
CLIENTS = ("127.0.0.2", "127.0.0.3")
Pair = tuple[ServerProcess, ProxyProcess]


def _pair(tmp: pytest.TempPathFactory, server_options: str) -> Iterator[Pair]:
    """pronghorn with --proxy-protocol, and haproxy in front with `server_options`."""
    pool = ServerPool()
    proxy = None
    args = ("--pythonpath", SERVER_APPS, "-b", "127.0.0.1:0", "--proxy-protocol",
            "--keep-alive", "30", "--access-logfile", "-", "server_apps:app")  # fmt: skip
    try:
        upstream = pool(*args)
        try:
            proxy = start_proxy("haproxy", tmp.mktemp("haproxy"), upstream.port, server_options)
        except ProxyMissing as missing:
            pytest.fail(str(missing), pytrace=False)
        yield upstream, proxy
    finally:
        if proxy is not None:
            proxy.stop()
        logs = [server.log_text() for server in pool.servers]
        pool.stop_all()
        assert not any("Traceback" in log for log in logs), logs


@pytest.fixture(scope="module", params=["send-proxy", "send-proxy-v2"])
def front(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    yield from _pair(tmp_path_factory, request.param)


@pytest.fixture(scope="module")
def misconfigured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    yield from _pair(tmp_path_factory, "")


def client_from(source: str, proxy: ProxyProcess) -> RawClient:
    sock = socket.create_connection(
        ("127.0.0.1", proxy.port), DEFAULT_TIMEOUT, source_address=(source, 0)
    )
    return RawClient(sock)


def environ_of(client: RawClient, tag: str = "-") -> dict[str, Any]:
    client.send(request("GET", f"/environ?tag={tag}"))
    resp = client.response()
    assert resp.status == 200, resp
    environ: dict[str, Any] = json.loads(resp.body)
    return environ


def test_the_app_sees_the_client(front: Pair) -> None:
    upstream, proxy = front
    tag = secrets.token_hex(4)
    with client_from(CLIENTS[0], proxy) as client:
        environ = environ_of(client, tag)
        port = client.local_port()
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == (CLIENTS[0], str(port))
    assert environ["wsgi.url_scheme"] == "http"
    text = upstream.wait_for_stdout(f"tag={tag}")
    line = next(line for line in text.splitlines() if f"tag={tag}" in line)
    assert line.startswith(f"{CLIENTS[0]} - - [")


def test_clients_in_turn_over_keep_alive(front: Pair) -> None:
    _, proxy = front
    clients = [client_from(source, proxy) for source in CLIENTS]
    try:
        for _round in range(3):
            for client, source in zip(clients, CLIENTS, strict=True):
                environ = environ_of(client)
                assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == (
                    source,
                    str(client.local_port()),
                )
    finally:
        for client in clients:
            client.close()


def test_bodies_pass_untouched(front: Pair) -> None:
    _, proxy = front
    body = bytes(range(256)) * 64
    with client_from(CLIENTS[1], proxy) as client:
        for _round in range(2):
            client.send(request("POST", "/echo", body=body))
            resp = client.response()
            assert (resp.status, resp.body) == (200, body)


def test_without_send_proxy_every_connection_is_refused(misconfigured: Pair) -> None:
    upstream, proxy = misconfigured
    with client_from(CLIENTS[0], proxy) as client:
        client.send(request("GET", "/environ", [("Connection", "close")]))
        resp = client.response()
    assert resp.status == 502  # haproxy: pronghorn closed without an answer
    log = upstream.wait_for_log("bad PROXY header from 127.0.0.1:")
    assert "no PROXY signature: the connection began 'GET /environ HTT'" in log
