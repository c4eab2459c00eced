"""examples/haproxy/proxy-v2.cfg in front of a real Django app, over real TLS.

Clients connect from 127.0.0.2 and 127.0.0.3 (other loopback addresses) to haproxy, which
terminates TLS and opens a connection to pronghorn (on 127.0.0.1, --proxy-protocol) that
starts with a PROXY v2 header naming the client, with the TLV that says it used TLS
(send-proxy-v2-ssl). Django must see each client's address and port, https, and the public
host name, whatever X-Forwarded-* the client makes up; the admin login (CSRF checks the
Origin against scheme and host) must work; haproxy's health checks (the LOCAL command) must
reach pronghorn as haproxy's own address. haproxy and openssl missing fail the tests;
`make test` installs them.
"""

from __future__ import annotations

import http.client
import re
import secrets
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest
from djangodb import ADMIN_PASSWORD, ADMIN_USER, prepare_site
from fwlayout import FRAMEWORKS_DIR
from haproxy_recipe import Haproxy, start_haproxy
from proxies import ProxyMissing
from recipe import SERVER_NAME
from webclient import (
    TIMEOUT,
    Reply,
    browser_tls_connection,
    exchange_with_cookies,
    read_reply,
)

from serverproc import ServerPool, ServerProcess

CLIENTS = ("127.0.0.2", "127.0.0.3")  # "internet" clients: not trusted for proxy headers
PUBLIC = f"https://{SERVER_NAME}"
TOKEN_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CHECK_URI = "/json/?from=haproxy-check"


@dataclass
class Site:
    """One pronghorn serving Django and the recipe's haproxy in front of it."""

    upstream: ServerProcess
    haproxy: Haproxy
    cookies: dict[str, str] = field(default_factory=dict)


class Browser:
    """One keep-alive TLS connection to haproxy from `source`, as a browser would open it
    to https://example.com (SNI and Host example.com); keeps cookies."""

    def __init__(self, site: Site, source: str) -> None:
        self.site = site
        self.conn = browser_tls_connection(site.haproxy.https_port, SERVER_NAME, source)
        assert self.conn.sock is not None
        self.port = int(self.conn.sock.getsockname()[1])

    def request(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Reply:
        return exchange_with_cookies(self.conn, self.site.cookies, method, path, body, headers)

    def close(self) -> None:
        self.conn.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    env = prepare_site(tmp_path_factory.mktemp("djangodb"), tmp_path_factory.mktemp("files"))
    env["DJANGOSITE_HOSTS"] = SERVER_NAME
    pool = ServerPool()
    haproxy = None
    # The recipe's pronghorn command, on an ephemeral port, with an access log to read.
    options = ("-b", "127.0.0.1:0", "--proxy-protocol", "--access-logfile", "-")
    try:
        upstream = pool(*options, "djangosite.wsgi", cwd=FRAMEWORKS_DIR, env=env)
        try:
            haproxy = start_haproxy(tmp_path_factory.mktemp("haproxy"), upstream.port, CHECK_URI)
        except ProxyMissing as missing:
            pytest.fail(str(missing), pytrace=False)
        yield Site(upstream, haproxy)
    finally:
        if haproxy is not None:
            haproxy.stop()
        codes = [server.stop() for server in pool.servers]
        logs = [server.log_text() for server in pool.servers]
        pool.stop_all()
        assert codes == [0] * len(codes), logs
        assert not any("Traceback" in log for log in logs), logs
        # Every connection haproxy opened began with a header pronghorn accepted.
        assert not any("PROXY header" in log for log in logs), logs


def whoami(site: Site, source: str, headers: Mapping[str, str] | None = None) -> tuple[dict, int]:
    browser = Browser(site, source)
    try:
        reply = browser.request("GET", "/whoami/", headers)
    finally:
        browser.close()
    assert reply.status == 200, reply.text()
    return reply.json(), browser.port


def test_django_sees_the_client_https_and_the_public_host(site: Site) -> None:
    seen, port = whoami(site, CLIENTS[0])
    assert seen == {
        "remote_addr": CLIENTS[0],
        "remote_port": str(port),  # the PROXY header carries the client's own port
        "secure": True,
        "scheme": "https",
        "host": SERVER_NAME,
        "port": "443",
        "absolute_uri": f"{PUBLIC}/whoami/",
        "x_forwarded_for": None,
    }


def test_django_ignores_what_the_client_forges(site: Site) -> None:
    # The client (127.0.0.2, from the PROXY header) is not a trusted proxy, although the
    # connection pronghorn accepted comes from haproxy on 127.0.0.1.
    forged = {"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "http"}
    seen, _ = whoami(site, CLIENTS[0], forged)
    assert (seen["remote_addr"], seen["secure"]) == (CLIENTS[0], True)
    assert seen["x_forwarded_for"] == "6.6.6.6"  # left for the app, never acted on
    assert seen["absolute_uri"] == f"{PUBLIC}/whoami/"


def test_each_client_keeps_its_own_address_over_keep_alive(site: Site) -> None:
    # Two clients' keep-alive connections, used in turn: haproxy must not send one client's
    # request on the other's pronghorn connection, and pronghorn must not mix them up.
    browsers = [Browser(site, source) for source in CLIENTS]
    try:
        for _round in range(3):
            for browser, source in zip(browsers, CLIENTS, strict=True):
                seen = browser.request("GET", "/whoami/").json()
                assert (seen["remote_addr"], seen["remote_port"]) == (source, str(browser.port))
    finally:
        for browser in browsers:
            browser.close()


def test_django_admin_login_over_https(site: Site) -> None:
    site.cookies.clear()
    browser = Browser(site, CLIENTS[1])
    try:
        page = browser.request("GET", "/admin/login/")
        token = TOKEN_RE.search(page.text())
        assert page.status == 200 and token is not None
        fields = {
            "csrfmiddlewaretoken": token.group(1),
            "username": ADMIN_USER,
            "password": ADMIN_PASSWORD,
            "next": "/admin/",
        }
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": PUBLIC,  # what a browser sends with a form POST
            "Referer": f"{PUBLIC}/admin/login/?next=/admin/",
        }
        body = urlencode(fields).encode()
        reply = browser.request("POST", "/admin/login/?next=/admin/", headers, body)
        assert reply.status == 302, reply.text()[:2000]
        assert reply.header("Location") == "/admin/"
        index = browser.request("GET", "/admin/")
        assert index.status == 200 and "Site administration" in index.text()
    finally:
        browser.close()


def test_the_access_log_names_the_client(site: Site) -> None:
    tag = secrets.token_hex(4)
    browser = Browser(site, CLIENTS[1])
    try:
        assert browser.request("GET", f"/whoami/?tag={tag}").status == 200
    finally:
        browser.close()
    text = site.upstream.wait_for_stdout(f"tag={tag}")
    line = next(line for line in text.splitlines() if f"tag={tag}" in line)
    assert line.startswith(f"{CLIENTS[1]} - - [")


def test_health_checks_arrive_with_a_local_header(site: Site) -> None:
    # haproxy's checks start a PROXY v2 LOCAL header; pronghorn answers them as coming
    # from haproxy itself.
    text = site.upstream.wait_for_stdout(f'"GET {CHECK_URI} HTTP/1.1" 200')
    line = next(line for line in text.splitlines() if CHECK_URI in line)
    assert line.startswith("127.0.0.1 - - [")


def test_plain_http_is_redirected_to_https(site: Site) -> None:
    with socket.create_connection(("127.0.0.1", site.haproxy.http_port), TIMEOUT) as sock:
        conn = http.client.HTTPConnection(SERVER_NAME, timeout=TIMEOUT)
        conn.sock = sock
        conn.request("GET", "/whoami/")
        reply = read_reply(conn.getresponse())
    assert reply.status == 301
    assert reply.header("Location") == f"{PUBLIC}/whoami/"
