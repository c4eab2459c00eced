"""examples/nginx/uwsgi_pass.conf in front of `pronghorn --protocol uwsgi`, run for real.

nginx (Debian's, with its stock /etc/nginx/uwsgi_params, unchanged) terminates TLS and
passes requests with `uwsgi_pass` to pronghorn over TCP and over a Unix socket, and with
`uwsgi_request_buffering off` too. The client connects from 127.0.0.2 (another loopback
address, not nginx's). What is checked: query strings and percent-encoded paths, bodies
(small, 1 MiB, chunked from the client), several KiB of cookies, several requests on one
client connection, an app error, HEAD, 204, 304, a streamed response, static files from
nginx's `alias`, the access log, and a real Django app: the client's address, https and the
public host, and the admin login (its CSRF check needs all three). nginx, openssl and the
uwsgi_params file missing fail the tests; `make test` installs nginx.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from djangodb import ADMIN_PASSWORD, ADMIN_USER, prepare_site
from fwlayout import FRAMEWORKS_DIR
from proxies import ProxyMissing
from recipe import SERVER_NAME, Nginx, start_site, substitute
from server_apps import big_body
from webclient import (
    TIMEOUT,
    Reply,
    browser_tls_connection,
    exchange_with_cookies,
    read_reply,
)

from serverproc import ServerPool, ServerProcess

_TESTS = Path(__file__).resolve().parents[1]
RECIPE = _TESTS.parent / "examples" / "nginx" / "uwsgi_pass.conf"
UWSGI_PARAMS = Path("/etc/nginx/uwsgi_params")
CLIENT_ADDRESS = "127.0.0.2"  # the "internet" client
PUBLIC = f"https://{SERVER_NAME}"
STYLE = b"body { color: #222 }\n"
BODY_LIMIT = 2 * 1024 * 1024  # pronghorn's; nginx's client_max_body_size is 10m
TOKEN_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass(frozen=True)
class Variant:
    name: str
    unix: bool = False
    buffering: bool = True


VARIANTS = (Variant("tcp"), Variant("unix", unix=True), Variant("unbuffered", buffering=False))


def render(variant: Variant, upstream: str, static: Path) -> Any:
    """The committed recipe with this test's ports, paths and upstream."""
    assert UWSGI_PARAMS.is_file(), f"{UWSGI_PARAMS} is missing: apt-get install nginx-common"
    text = RECIPE.read_text()
    include = f"include {UWSGI_PARAMS};"
    if not variant.buffering:
        include += "\n        uwsgi_request_buffering off;"
    fixed = [
        ("server 127.0.0.1:3031;", f"server {upstream};"),
        ("    listen [::]:80;\n", ""),
        ("    listen [::]:443 ssl http2;\n", ""),
        ("/srv/myproject/static/", f"{static}/"),
        ("include uwsgi_params;", include),
    ]
    for old, new in fixed:
        text = substitute(text, old, new, RECIPE)

    def site(http_port: int, https_port: int, cert: Path, key: Path) -> str:
        out = text
        for old, new in [
            ("listen 80;", f"listen 127.0.0.1:{http_port};"),
            ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
            ("/etc/letsencrypt/live/example.com/fullchain.pem", str(cert)),
            ("/etc/letsencrypt/live/example.com/privkey.pem", str(key)),
        ]:
            out = substitute(out, old, new, RECIPE)
        return out

    return site


@dataclass
class Site:
    """One `pronghorn --protocol uwsgi` and the recipe's nginx in front of it."""

    upstream: ServerProcess
    nginx: Nginx
    cookies: dict[str, str] = field(default_factory=dict)

    def connect(self) -> http.client.HTTPSConnection:
        """A TLS connection to nginx from CLIENT_ADDRESS, as a browser to example.com."""
        return browser_tls_connection(self.nginx.https_port, SERVER_NAME, CLIENT_ADDRESS)

    def https(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Reply:
        """One request on a connection of its own; keeps cookies."""
        conn = self.connect()
        try:
            return exchange_with_cookies(conn, self.cookies, method, path, body, headers)
        finally:
            conn.close()


def _start(
    tmp: pytest.TempPathFactory,
    variant: Variant,
    static: Path,
    app: str,
    env: dict[str, str],
    *extra: str,
    clean: bool = True,
) -> Iterator[Site]:
    pool = ServerPool()
    nginx = None
    sock = tmp.mktemp(f"uwsgi-{variant.name}") / "app.sock"
    bind = ["-b", f"unix:{sock}"] if variant.unix else []
    # The TCP listener says where pronghorn listens; nginx uses the Unix socket if asked.
    options = [
        "--protocol", "uwsgi", "-b", "127.0.0.1:0", *bind, "--access-logfile", "-",
        "--pythonpath", str(_TESTS / "server"), *extra, app,
    ]  # fmt: skip
    try:
        server = pool(*options, cwd=FRAMEWORKS_DIR, env=env)
        upstream = f"unix:{sock}" if variant.unix else f"127.0.0.1:{server.port}"
        try:
            nginx = start_site(tmp.mktemp("nginx-uwsgi"), render(variant, upstream, static))
        except ProxyMissing as missing:
            pytest.fail(str(missing), pytrace=False)
        assert f"server {upstream};" in (nginx.directory / "site.conf").read_text()
        yield Site(server, nginx)
        errors = nginx.logs()
        if clean:
            assert "upstream prematurely closed" not in errors, errors
            assert "upstream sent" not in errors, errors
    finally:
        if nginx is not None:
            nginx.stop()
        codes = [server.stop() for server in pool.servers]
        logs = [server.log_text() for server in pool.servers]
        pool.stop_all()
        assert codes == [0] * len(codes), logs


@pytest.fixture(scope="module")
def static_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("static")
    (directory / "app.css").write_bytes(STYLE)
    return directory


@pytest.fixture(scope="module", params=VARIANTS, ids=[v.name for v in VARIANTS])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, static_dir: Path
) -> Iterator[Site]:
    limit = ("--limit-request-body", str(BODY_LIMIT))
    yield from _start(tmp_path_factory, request.param, static_dir, "server_apps:app", {}, *limit)


def _environ(reply: Reply) -> dict[str, Any]:
    assert reply.status == 200, reply.text()
    environ: dict[str, Any] = reply.json()
    return environ


def test_the_environ_names_the_client_https_and_the_host(site: Site) -> None:
    conn = site.connect()
    port = conn.sock.getsockname()[1]
    try:
        conn.request("GET", "/environ?x=1&y=%2F&z=%C3%A9")
        environ = _environ(read_reply(conn.getresponse()))
    finally:
        conn.close()
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == (CLIENT_ADDRESS, str(port))
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["HTTPS"] == "on"
    assert environ["HTTP_HOST"] == SERVER_NAME
    assert environ["SERVER_NAME"] == SERVER_NAME
    assert environ["SERVER_PORT"] == str(site.nginx.https_port)
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert environ["REQUEST_METHOD"] == "GET"
    assert environ["REQUEST_URI"] == "/environ?x=1&y=%2F&z=%C3%A9"
    assert environ["QUERY_STRING"] == "x=1&y=%2F&z=%C3%A9"
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("", "/environ")
    assert "CONTENT_LENGTH" not in environ and "CONTENT_TYPE" not in environ
    assert "DOCUMENT_ROOT" in environ  # passed through, as uWSGI does


def test_a_percent_encoded_path(site: Site) -> None:
    environ = _environ(site.https("GET", "/envir%6Fn?q=a%20b"))
    assert environ["PATH_INFO"] == "/environ"  # nginx decodes it
    assert environ["REQUEST_URI"] == "/envir%6Fn?q=a%20b"


@pytest.mark.parametrize("size", [5, 1024 * 1024])
def test_post_bodies(site: Site, size: int) -> None:
    body = big_body(size)
    reply = site.https("POST", "/echo", {"Content-Type": "application/octet-stream"}, body)
    assert reply.status == 200
    assert reply.header("X-Got") == str(size)
    assert hashlib.sha256(reply.body).digest() == hashlib.sha256(body).digest()


def test_a_body_over_pronghorns_limit_is_413(site: Site) -> None:
    # The refused body is read before the answer: closing on it would reset the
    # connection, and nginx would answer 502.
    reply = site.https("POST", "/echo", None, b"x" * (BODY_LIMIT + 1))
    assert reply.status == 413
    assert reply.body == b"413 Request Entity Too Large\n"


def test_a_large_body_the_app_does_not_read(site: Site) -> None:
    # Larger than --body-buffer: the app runs before it has all arrived. Its unread rest
    # is read and dropped before the close, which would otherwise reset the connection.
    reply = site.https("POST", "/noread", None, big_body(1024 * 1024))
    assert (reply.status, reply.body) == (200, b"did not read\n")


def test_a_chunked_body_from_the_client(site: Site) -> None:
    pieces = [big_body(1000), b"middle", big_body(70_000)]
    conn = site.connect()
    try:
        conn.request("POST", "/environ", body=iter(pieces), encode_chunked=True)
        environ = _environ(read_reply(conn.getresponse()))
        conn.request("POST", "/echo", body=iter(pieces), encode_chunked=True)
        echoed = read_reply(conn.getresponse())
    finally:
        conn.close()
    # nginx reads it whole and sends its length, with buffering off too.
    assert environ["CONTENT_LENGTH"] == str(sum(map(len, pieces)))
    assert "HTTP_TRANSFER_ENCODING" not in environ
    assert echoed.body == b"".join(pieces)


def test_several_kib_of_cookies(site: Site) -> None:
    first = "; ".join(f"a{i}={'x' * 40}" for i in range(70))  # about 3.2 KiB
    second = "; ".join(f"b{i}={'y' * 40}" for i in range(70))
    conn = site.connect()
    try:
        conn.putrequest("GET", "/environ")
        conn.putheader("Cookie", first)
        conn.putheader("Cookie", second)  # two fields: joined with "; "
        conn.putheader("X-Big", "z" * 6000)
        conn.endheaders()
        environ = _environ(read_reply(conn.getresponse()))
    finally:
        conn.close()
    assert environ["HTTP_COOKIE"] == f"{first}; {second}"
    assert environ["HTTP_X_BIG"] == "z" * 6000


def test_several_requests_on_one_client_connection(site: Site) -> None:
    conn = site.connect()
    sock = conn.sock
    try:
        for i in range(5):
            conn.request("POST", f"/echo?tag=ka{i}", body=b"n%d" % i)
            reply = read_reply(conn.getresponse())
            assert (reply.status, reply.body) == (200, b"n%d" % i)
            assert conn.sock is sock  # nginx kept the client's connection open
        conn.request("GET", "/stream?n=3&size=5")
        assert read_reply(conn.getresponse()).body == b"aaaaabbbbbccccc"
        assert conn.sock is sock
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("method", "path", "status", "body"),
    [
        ("GET", "/boom", 500, b"500 Internal Server Error\n"),
        ("HEAD", "/hello", 200, b""),
        ("GET", "/status?code=204", 204, b""),
        ("GET", "/status?code=304", 304, b""),
        ("GET", "/stream?n=2&size=3", 200, b"aaabbb"),
    ],
)
def test_statuses_pass_through(
    site: Site, method: str, path: str, status: int, body: bytes
) -> None:
    reply = site.https(method, path)
    assert (reply.status, reply.body) == (status, body)
    if method == "HEAD":
        assert reply.header("Content-Length") == str(len(b"hello HEAD -\n"))


def test_static_files_come_from_nginx(site: Site) -> None:
    reply = site.https("GET", "/static/app.css?tag=static-nginx")
    assert (reply.status, reply.body) == (200, STYLE)
    site.https("GET", "/hello?tag=after-static")
    out = site.upstream.wait_for_stdout("tag=after-static")
    assert "static-nginx" not in out


def test_plain_http_is_redirected(site: Site) -> None:
    with socket.create_connection(("127.0.0.1", site.nginx.http_port), TIMEOUT) as sock:
        conn = http.client.HTTPConnection(SERVER_NAME, timeout=TIMEOUT)
        conn.sock = sock
        conn.request("GET", "/hello")
        reply = read_reply(conn.getresponse())
    assert reply.status == 301
    assert reply.header("Location") == f"{PUBLIC}/hello"


def test_the_access_log_names_the_client(site: Site) -> None:
    site.https("GET", "/hello?tag=access-log-test")
    text = site.upstream.wait_for_stdout("tag=access-log-test")
    line = next(line for line in text.splitlines() if "tag=access-log-test" in line)
    assert line.startswith(f"{CLIENT_ADDRESS} - - [")
    assert '"GET /hello?tag=access-log-test HTTP/1.1" 200 ' in line


@pytest.fixture(scope="module")
def refusing_site(tmp_path_factory: pytest.TempPathFactory, static_dir: Path) -> Iterator[Site]:
    """pronghorn that does not let nginx (127.0.0.1) in: --uwsgi-allow-from 10.9.9.9."""
    extra = ("--uwsgi-allow-from", "10.9.9.9")
    site = _start(
        tmp_path_factory, VARIANTS[0], static_dir, "server_apps:app", {}, *extra, clean=False
    )
    yield from site


def test_nginx_not_allowed_is_a_502(refusing_site: Site) -> None:
    reply = refusing_site.https("GET", "/hello")
    assert reply.status == 502
    # The line is written before the close nginx answers 502 for, but it reaches the capture
    # of the server's stderr through a pipe and a thread: wait for it.
    log = refusing_site.upstream.wait_for_log("refused: not in --uwsgi-allow-from")
    assert "uwsgi connection from 127.0.0.1:" in log
    assert "refused: not in --uwsgi-allow-from" in log


# -- Django -----------------------------------------------------------------------------


@pytest.fixture(scope="module", params=VARIANTS[:2], ids=[v.name for v in VARIANTS[:2]])
def django_site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, static_dir: Path
) -> Iterator[Site]:
    env = prepare_site(tmp_path_factory.mktemp("djangodb"), tmp_path_factory.mktemp("files"))
    env["DJANGOSITE_HOSTS"] = SERVER_NAME
    yield from _start(tmp_path_factory, request.param, static_dir, "djangosite.wsgi", env)


def test_django_sees_the_client_https_and_the_public_host(django_site: Site) -> None:
    conn = django_site.connect()
    port = conn.sock.getsockname()[1]
    try:
        conn.request("GET", "/whoami/")
        reply = read_reply(conn.getresponse())
    finally:
        conn.close()
    assert reply.status == 200, reply.text()
    seen = reply.json()
    print(f"Django behind nginx uwsgi_pass saw: {json.dumps(seen)}")
    assert seen == {
        "remote_addr": CLIENT_ADDRESS,
        "remote_port": str(port),  # the client's, from nginx's $remote_port
        "secure": True,
        "scheme": "https",
        "host": SERVER_NAME,  # Debian's uwsgi_params sends HTTP_HOST $host
        "port": str(django_site.nginx.https_port),  # SERVER_PORT: nginx's $server_port
        "absolute_uri": f"{PUBLIC}/whoami/",
        "x_forwarded_for": None,
    }


def test_django_admin_login_over_https(django_site: Site) -> None:
    django_site.cookies.clear()
    page = django_site.https("GET", "/admin/login/")
    assert page.status == 200
    token = TOKEN_RE.search(page.text())
    assert token is not None
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
    reply = django_site.https("POST", "/admin/login/?next=/admin/", headers, body)
    assert reply.status == 302, reply.text()[:2000]
    assert reply.header("Location") == "/admin/"
    index = django_site.https("GET", "/admin/")
    assert index.status == 200
    assert "Site administration" in index.text()
