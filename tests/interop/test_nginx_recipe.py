"""examples/nginx/proxy_pass.conf in front of real Django and Flask apps, over real TLS.

The client connects from 127.0.0.2 (another loopback address) to nginx, which terminates
TLS and proxies to pronghorn on 127.0.0.1 with `X-Forwarded-For $proxy_add_x_forwarded_for`,
`X-Forwarded-Proto $scheme` and `Host $host`. pronghorn runs with its defaults for proxy
headers, so nginx (127.0.0.1) is trusted: Django and Flask must see the client's address,
https and the public host name, and the Django admin login (CSRF checks the Origin against
scheme and host) must work. A second pair in which pronghorn does not trust nginx
(`--forwarded-allow-ips 10.9.9.9`) shows what goes wrong without it: the same login is
refused. nginx and openssl missing fail the tests; `make test` installs them.
"""

from __future__ import annotations

import http.client
import re
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pytest
from djangodb import ADMIN_PASSWORD, ADMIN_USER, prepare_site
from fwlayout import FRAMEWORKS_DIR
from proxies import ProxyMissing
from recipe import SERVER_NAME, Nginx, start_nginx
from webclient import (
    TIMEOUT,
    Reply,
    browser_tls_connection,
    exchange_with_cookies,
    read_reply,
)

from serverproc import ServerPool, ServerProcess

CLIENT_ADDRESS = "127.0.0.2"  # the "internet" client: not a trusted proxy
PUBLIC = f"https://{SERVER_NAME}"
TOKEN_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
STYLE = b"body { color: #222 }\n"


@dataclass
class Site:
    """One pronghorn and the recipe's nginx in front of it."""

    upstream: ServerProcess
    nginx: Nginx
    cookies: dict[str, str] = field(default_factory=dict)

    def https(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Reply:
        """One request over TLS to nginx from CLIENT_ADDRESS, as a browser would send it
        to https://example.com (SNI and Host example.com); keeps cookies."""
        conn = browser_tls_connection(self.nginx.https_port, SERVER_NAME, CLIENT_ADDRESS)
        try:
            return exchange_with_cookies(conn, self.cookies, method, path, body, headers)
        finally:
            conn.close()


def _start_nginx(tmp: pytest.TempPathFactory, upstream: ServerProcess, static: Path) -> Nginx:
    try:
        return start_nginx(tmp.mktemp("nginx-recipe"), upstream.port, static)
    except ProxyMissing as missing:
        pytest.fail(str(missing), pytrace=False)


@pytest.fixture(scope="module")
def static_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("static")
    (directory / "app.css").write_bytes(STYLE)
    return directory


@pytest.fixture(scope="module")
def django_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = prepare_site(tmp_path_factory.mktemp("djangodb"), tmp_path_factory.mktemp("files"))
    return {**env, "DJANGOSITE_HOSTS": SERVER_NAME}


def _site(
    tmp: pytest.TempPathFactory, static: Path, env: dict[str, str], *options: str
) -> Iterator[Site]:
    pool = ServerPool()
    nginx = None
    try:
        upstream = pool(*options, cwd=FRAMEWORKS_DIR, env=env)
        nginx = _start_nginx(tmp, upstream, static)
        yield Site(upstream, nginx)
    finally:
        if nginx is not None:
            nginx.stop()
        codes = [server.stop() for server in pool.servers]
        logs = [server.log_text() for server in pool.servers]
        pool.stop_all()
        assert codes == [0] * len(codes), logs
        assert not any("Traceback" in log for log in logs), logs


@pytest.fixture(scope="module")
def django_site(
    tmp_path_factory: pytest.TempPathFactory, static_dir: Path, django_env: dict[str, str]
) -> Iterator[Site]:
    # The options of the recipe's comment; proxy headers left at their defaults.
    options = ("-b", "127.0.0.1:0", "--keep-alive", "75", "--access-logfile", "-")
    yield from _site(tmp_path_factory, static_dir, django_env, *options, "djangosite.wsgi")


@pytest.fixture(scope="module")
def untrusting_django_site(
    tmp_path_factory: pytest.TempPathFactory, static_dir: Path, django_env: dict[str, str]
) -> Iterator[Site]:
    options = ("-b", "127.0.0.1:0", "--forwarded-allow-ips", "10.9.9.9")
    yield from _site(tmp_path_factory, static_dir, django_env, *options, "djangosite.wsgi")


@pytest.fixture(scope="module")
def flask_site(tmp_path_factory: pytest.TempPathFactory, static_dir: Path) -> Iterator[Site]:
    env = {"FLASKAPP_FILES": str(tmp_path_factory.mktemp("flaskfiles"))}
    options = ("-b", "127.0.0.1:0", "--keep-alive", "75")
    yield from _site(tmp_path_factory, static_dir, env, *options, "flaskapp:app")


def test_django_sees_the_client_https_and_the_public_host(django_site: Site) -> None:
    reply = django_site.https("GET", "/whoami/")
    assert reply.status == 200, reply.text()
    assert reply.json() == {
        "remote_addr": CLIENT_ADDRESS,
        "remote_port": None,  # nginx's port to pronghorn is not the client's
        "secure": True,
        "scheme": "https",
        "host": SERVER_NAME,
        "port": "443",
        "absolute_uri": f"{PUBLIC}/whoami/",
        "x_forwarded_for": CLIENT_ADDRESS,
    }


def test_django_ignores_what_the_client_forges(django_site: Site) -> None:
    forged = {"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "http"}
    seen = django_site.https("GET", "/whoami/", forged).json()
    assert seen["remote_addr"] == CLIENT_ADDRESS
    assert seen["x_forwarded_for"] == f"6.6.6.6, {CLIENT_ADDRESS}"
    assert (seen["secure"], seen["absolute_uri"]) == (True, f"{PUBLIC}/whoami/")


def test_django_admin_login_over_https(django_site: Site) -> None:
    django_site.cookies.clear()
    page = django_site.https("GET", "/admin/login/")
    assert page.status == 200
    token = TOKEN_RE.search(page.text())
    assert token is not None
    reply = _post_login(django_site, token.group(1))
    assert reply.status == 302, reply.text()[:2000]
    assert reply.header("Location") == "/admin/"
    index = django_site.https("GET", "/admin/")
    assert index.status == 200
    assert "Site administration" in index.text()


def test_without_trust_the_same_login_is_refused(untrusting_django_site: Site) -> None:
    site = untrusting_django_site
    seen = site.https("GET", "/whoami/").json()
    assert (seen["remote_addr"], seen["secure"]) == ("127.0.0.1", False)
    assert seen["absolute_uri"] == f"http://{SERVER_NAME}/whoami/"
    page = site.https("GET", "/admin/login/")
    token = TOKEN_RE.search(page.text())
    assert token is not None
    reply = _post_login(site, token.group(1))
    assert reply.status == 403  # Origin https://example.com is not http://example.com


def _post_login(site: Site, token: str) -> Reply:
    fields = {
        "csrfmiddlewaretoken": token,
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
    return site.https("POST", "/admin/login/?next=/admin/", headers, body)


def test_the_access_log_names_the_client(django_site: Site) -> None:
    django_site.https("GET", "/whoami/?from=access-log-test")
    text = django_site.upstream.wait_for_stdout("from=access-log-test")
    line = next(line for line in text.splitlines() if "from=access-log-test" in line)
    assert line.startswith(f"{CLIENT_ADDRESS} - - [")


def test_plain_http_is_redirected_and_static_files_come_from_nginx(django_site: Site) -> None:
    with socket.create_connection(("127.0.0.1", django_site.nginx.http_port), TIMEOUT) as sock:
        conn = http.client.HTTPConnection(SERVER_NAME, timeout=TIMEOUT)
        conn.sock = sock
        conn.request("GET", "/whoami/")
        reply = read_reply(conn.getresponse())
    assert reply.status == 301
    assert reply.header("Location") == f"{PUBLIC}/whoami/"
    static = django_site.https("GET", "/static/app.css")
    assert (static.status, static.body) == (200, STYLE)


def test_flask_url_for_external(flask_site: Site) -> None:
    reply = flask_site.https("GET", "/whoami")
    assert reply.status == 200, reply.text()
    assert reply.json() == {
        "remote_addr": CLIENT_ADDRESS,
        "scheme": "https",
        "secure": True,
        "host": SERVER_NAME,
        "external": f"{PUBLIC}/json",
    }
