"""The static handler over real sockets: the real `pronghorn` command, a real file tree."""

from __future__ import annotations

import hashlib
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest
from statichttp import Client, Reply, fetch
from statictree import SECRET, UNICODE_NAME, Tree, start

from serverproc import ServerPool, ServerProcess

DEFAULT_CC = "public, max-age=0, must-revalidate"


def get(server: ServerProcess, target: bytes | str, **headers: str) -> Reply:
    named = {k.replace("_", "-"): v for k, v in headers.items()}
    return fetch(server.host, server.port, "GET", target, named)


def test_files_of_every_size_exact(server: ServerProcess, tree: Tree) -> None:
    for name in ("empty.bin", "one-m.bin", "twenty-m.bin"):
        reply = get(server, f"/static/{name}")
        assert reply.status == 200
        assert hashlib.sha256(reply.body).hexdigest() == tree.digests[name]
        assert reply.header("Content-Length") == str(len(reply.body))
        assert reply.header("Content-Type") == "application/octet-stream"
    small = get(server, "/static/one-k.txt")
    assert small.body == (tree.root / "one-k.txt").read_bytes()


def test_headers_of_a_file(server: ServerProcess, tree: Tree) -> None:
    reply = get(server, "/static/one-k.txt")
    assert reply.header("Content-Type") == "text/plain; charset=utf-8"
    assert reply.header("Content-Length") == "1024"
    assert reply.header("Accept-Ranges") == "bytes"
    assert reply.header("Cache-Control") == DEFAULT_CC
    etag = reply.header("ETag")
    assert etag is not None and re.fullmatch(r'"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"', etag)
    stamp = int((tree.root / "one-k.txt").stat().st_mtime)
    assert reply.header("Last-Modified") == time.strftime(
        "%a, %d %b %Y %H:%M:%S GMT", time.gmtime(stamp)
    )
    assert reply.header("Vary") is None  # no precompressed sibling
    assert get(server, "/static/style.css").header("Content-Type") == "text/css; charset=utf-8"


def test_head_has_the_same_headers_and_no_body(server: ServerProcess) -> None:
    with Client(server.host, server.port) as client:
        got = client.request("GET", "/static/one-m.bin")
        head = client.request("HEAD", "/static/one-m.bin")
        after = client.request("GET", "/static/one-k.txt")  # framing intact after HEAD
    assert head.status == 200 and head.body == b""
    drop = {"date"}
    assert {(k, v) for k, v in head.headers if k.lower() not in drop} == {
        (k, v) for k, v in got.headers if k.lower() not in drop
    }
    assert after.status == 200 and len(after.body) == 1024


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_are_405(server: ServerProcess, method: str) -> None:
    reply = fetch(server.host, server.port, method, "/static/one-k.txt")
    assert reply.status == 405
    assert reply.header("Allow") == "GET, HEAD"


def test_if_none_match_gives_304(server: ServerProcess) -> None:
    first = get(server, "/static/one-k.txt")
    etag = first.header("ETag")
    assert etag is not None
    with Client(server.host, server.port) as client:
        for value in (etag, f"W/{etag}", "*", f'"nope", {etag}'):
            reply = client.request("GET", "/static/one-k.txt", {"If-None-Match": value})
            assert reply.status == 304, value
            assert reply.body == b""
            assert reply.header("ETag") == etag
            assert reply.header("Last-Modified") == first.header("Last-Modified")
            assert reply.header("Cache-Control") == DEFAULT_CC
            assert reply.header("Content-Length") is None
        miss = client.request("GET", "/static/one-k.txt", {"If-None-Match": '"nope"'})
        assert miss.status == 200 and len(miss.body) == 1024


def test_if_modified_since(server: ServerProcess) -> None:
    last = get(server, "/static/one-k.txt").header("Last-Modified")
    assert last is not None
    assert get(server, "/static/one-k.txt", If_Modified_Since=last).status == 304
    old = "Sun, 06 Nov 1994 08:49:37 GMT"
    assert get(server, "/static/one-k.txt", If_Modified_Since=old).status == 200
    assert get(server, "/static/one-k.txt", If_Modified_Since="garbage").status == 200
    # If-None-Match present (and not matching): If-Modified-Since is not consulted.
    both = get(server, "/static/one-k.txt", If_Modified_Since=last, If_None_Match='"x"')
    assert both.status == 200


def test_if_match_and_if_unmodified_since(server: ServerProcess) -> None:
    etag = get(server, "/static/one-k.txt").header("ETag")
    assert etag is not None
    assert get(server, "/static/one-k.txt", If_Match='"other"').status == 412
    assert get(server, "/static/one-k.txt", If_Match=etag).status == 200
    old = "Sun, 06 Nov 1994 08:49:37 GMT"
    assert get(server, "/static/one-k.txt", If_Unmodified_Since=old).status == 412
    assert get(server, "/static/one-k.txt", If_Match=etag, If_Unmodified_Since=old).status == 200


def test_single_ranges(server: ServerProcess, tree: Tree) -> None:
    data = (tree.root / "one-m.bin").read_bytes()
    size = len(data)
    cases = [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-", 1000, size - 1),
        ("bytes=-500", size - 500, size - 1),
        ("bytes=100-99999999", 100, size - 1),
    ]
    for header, first, last in cases:
        reply = get(server, "/static/one-m.bin", Range=header)
        assert reply.status == 206, header
        assert reply.header("Content-Range") == f"bytes {first}-{last}/{size}"
        assert reply.header("Content-Length") == str(last - first + 1)
        assert reply.body == data[first : last + 1]


def test_unsatisfiable_and_malformed_ranges(server: ServerProcess) -> None:
    reply = get(server, "/static/one-k.txt", Range="bytes=5000-")
    assert reply.status == 416
    assert reply.header("Content-Range") == "bytes */1024"
    for bad in ("bytes=x-y", "bytes=5-1", "lines=1-2", "bytes="):
        ignored = get(server, "/static/one-k.txt", Range=bad)
        assert ignored.status == 200, bad
        assert len(ignored.body) == 1024


def test_if_range(server: ServerProcess) -> None:
    first = get(server, "/static/one-k.txt")
    etag, last = first.header("ETag"), first.header("Last-Modified")
    assert etag and last
    assert get(server, "/static/one-k.txt", Range="bytes=0-9", If_Range=etag).status == 206
    assert get(server, "/static/one-k.txt", Range="bytes=0-9", If_Range=last).status == 206
    stale = get(server, "/static/one-k.txt", Range="bytes=0-9", If_Range='"stale"')
    assert stale.status == 200 and len(stale.body) == 1024
    weak = get(server, "/static/one-k.txt", Range="bytes=0-9", If_Range=f"W/{etag}")
    assert weak.status == 200


def test_multiple_ranges_are_multipart(server: ServerProcess, tree: Tree) -> None:
    data = (tree.root / "one-m.bin").read_bytes()
    reply = get(server, "/static/one-m.bin", Range="bytes=0-9,500000-500019,-5")
    assert reply.status == 206
    content_type = reply.header("Content-Type") or ""
    match = re.fullmatch(r"multipart/byteranges; boundary=(\S+)", content_type)
    assert match, content_type
    boundary = match.group(1).encode()
    parts = reply.body.split(b"--" + boundary)
    assert parts[-1] == b"--\r\n"
    bodies = []
    for part in parts[1:-1]:
        head, _, body = part.partition(b"\r\n\r\n")
        assert b"Content-Type: application/octet-stream" in head
        found = re.search(rb"Content-Range: bytes (\d+)-(\d+)/(\d+)", head)
        assert found
        first, last = int(found.group(1)), int(found.group(2))
        body = body.removesuffix(b"\r\n")
        assert body == data[first : last + 1]
        bodies.append((first, last))
    assert bodies == [(0, 9), (500000, 500019), (len(data) - 5, len(data) - 1)]
    merged = get(server, "/static/one-m.bin", Range="bytes=0-9,5-20")
    assert merged.status == 206 and merged.header("Content-Range") == f"bytes 0-20/{len(data)}"


def test_head_ignores_range(server: ServerProcess) -> None:
    reply = fetch(server.host, server.port, "HEAD", "/static/one-k.txt", {"Range": "bytes=0-1"})
    assert reply.status == 200 and reply.header("Content-Length") == "1024"


def test_precompressed_siblings(server: ServerProcess, tree: Tree) -> None:
    css = (tree.root / "style.css").read_bytes()
    br = get(server, "/static/style.css", Accept_Encoding="gzip, deflate, br")
    assert br.header("Content-Encoding") == "br"
    assert br.body == (tree.root / "style.css.br").read_bytes()
    gz = get(server, "/static/style.css", Accept_Encoding="gzip")
    assert gz.header("Content-Encoding") == "gzip"
    assert gz.body == (tree.root / "style.css.gz").read_bytes()
    pick_gz = get(server, "/static/style.css", Accept_Encoding="br;q=0, gzip")
    assert pick_gz.header("Content-Encoding") == "gzip"
    plain = get(server, "/static/style.css")
    refused = get(server, "/static/style.css", Accept_Encoding="br;q=0, gzip;q=0")
    for reply in (plain, refused):
        assert reply.header("Content-Encoding") is None
        assert reply.body == css
    for reply in (br, gz, plain):
        assert reply.header("Vary") == "Accept-Encoding"
        assert reply.header("Content-Type") == "text/css; charset=utf-8"
    assert len({br.header("ETag"), gz.header("ETag"), plain.header("ETag")}) == 3
    only_gz = get(server, "/static/only-gz.js", Accept_Encoding="br")
    assert only_gz.header("Content-Encoding") is None and only_gz.header("Vary")
    # A 304 is per representation, and keeps Vary.
    gz_etag = gz.header("ETag") or ""
    again = get(server, "/static/style.css", Accept_Encoding="gzip", If_None_Match=gz_etag)
    assert again.status == 304 and again.header("Vary") == "Accept-Encoding"
    assert get(server, "/static/style.css", If_None_Match=gz_etag).status == 200


def test_directories(server: ServerProcess) -> None:
    index = get(server, "/static/sub/")
    assert index.status == 200 and index.body == b"<p>sub index</p>"
    assert index.header("Content-Type") == "text/html; charset=utf-8"
    redirect = get(server, "/static/sub?a=1&b=%20")
    assert redirect.status == 301
    assert redirect.header("Location") == "/static/sub/?a=1&b=%20"
    assert get(server, "/media").header("Location") == "/media/"
    assert get(server, "/static/nolist/").status == 404  # no listing
    assert get(server, "/static/one-k.txt/").status == 404
    assert get(server, "/static/fifo").status == 404


def test_non_ascii_name(server: ServerProcess) -> None:
    reply = get(server, "/static/" + quote(UNICODE_NAME))
    assert reply.status == 200 and reply.body == "unicode ok ✓".encode()


def test_second_mount_and_app(server: ServerProcess) -> None:
    assert get(server, "/media/m.txt").body == b"media file"
    assert get(server, "/elsewhere").body == b"app:/elsewhere"
    assert get(server, "/staticx/one-k.txt").body == b"app:/staticx/one-k.txt"
    assert get(server, "/static/missing.txt").status == 404


TRAVERSALS = [
    b"/static/../secret.txt",
    b"/static/%2e%2e/secret.txt",
    b"/static/%2E%2E/secret.txt",
    b"/static/..%2fsecret.txt",
    b"/static/..%2Fsecret.txt",
    b"/static/%2e%2e%2fsecret.txt",
    b"/static/..\\secret.txt",
    b"/static/..%5csecret.txt",
    b"/static//../secret.txt",
    b"/static/./../secret.txt",
    b"/static/sub/../../secret.txt",
    b"/static/%252e%252e/secret.txt",
    b"/static/secret.txt%00.txt",
    b"/static/one-k.txt%00",
    b"/static/.env",
    b"/static/%2eenv",
    b"/static/.git/config",
    b"/static/.git/",
    b"/static/outside-link",
    b"/static/outside-dir/secret.txt",
    b"/static/outside-dir/",
    b"/static/CON",
    b"/static/aux.txt",
    b"/static/AUX.TXT",
    b"/static/" + b"A" * 1000,
    b"/static/" + b"a/" * 1500 + b"x",
    b"/static/%c0%ae%c0%ae/secret.txt",
    b"/static/..;/secret.txt",
]


@pytest.mark.parametrize("target", TRAVERSALS, ids=lambda t: t[:60].decode("latin-1"))
def test_traversal_is_refused(server: ServerProcess, target: bytes) -> None:
    with Client(server.host, server.port) as client:
        client.send_raw(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = b""
        while chunk := client.sock.recv(65536):
            raw += chunk
    status = int(raw.split(b" ", 2)[1])
    assert status in (400, 403, 404, 414), raw[:200]
    assert SECRET not in raw


def test_inside_symlink_is_served(server: ServerProcess, tree: Tree) -> None:
    assert get(server, "/static/inside-link").body == (tree.root / "one-k.txt").read_bytes()


def test_many_requests_on_one_connection(server: ServerProcess) -> None:
    etag = get(server, "/static/one-k.txt").header("ETag") or ""
    with Client(server.host, server.port) as client:
        for _ in range(3):
            assert client.request("GET", "/static/one-k.txt").status == 200
            assert client.request("GET", "/static/nope").status == 404
            assert client.request("GET", "/static/one-k.txt", {"If-None-Match": etag}).status == 304
            assert client.request("GET", "/static/one-m.bin", {"Range": "bytes=0-0"}).status == 206
            assert client.request("GET", "/static/sub").status == 301
            assert client.request("GET", "/other").body == b"app:/other"
            assert len(client.request("GET", "/static/one-m.bin").body) == 1 << 20


def test_pipelined_requests(server: ServerProcess) -> None:
    with Client(server.host, server.port) as client:
        one = b"GET /static/one-k.txt HTTP/1.1\r\nHost: x\r\n\r\n"
        big = b"GET /static/one-m.bin HTTP/1.1\r\nHost: x\r\n\r\n"
        client.send_raw(one + big + one + big)
        sizes = [len(client.read_reply().body) for _ in range(4)]
    assert sizes == [1024, 1 << 20, 1024, 1 << 20]


def test_concurrent_big_downloads(server: ServerProcess, tree: Tree) -> None:
    def download(_: int) -> str:
        reply = get(server, "/static/twenty-m.bin")
        assert reply.status == 200
        return hashlib.sha256(reply.body).hexdigest()

    with ThreadPoolExecutor(8) as pool:
        digests = list(pool.map(download, range(8)))
    assert digests == [tree.digests["twenty-m.bin"]] * 8


def test_file_wrapper_goes_through_sendfile_path(server: ServerProcess, tree: Tree) -> None:
    reply = get(server, "/wrapped/twenty-m.bin")
    assert reply.status == 200
    assert hashlib.sha256(reply.body).hexdigest() == tree.digests["twenty-m.bin"]


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_slow_client_does_not_grow_memory(server: ServerProcess) -> None:
    before = _rss_kib(server.pid)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    sock.settimeout(20)
    sock.connect((server.host, server.port))
    with sock:
        sock.sendall(b"GET /static/twenty-m.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        received = 0
        deadline = time.monotonic() + 10
        # Read a little, in small bites, so the server has to wait for us.
        while received < 2 << 20 and time.monotonic() < deadline:
            received += len(sock.recv(16384))
        during = _rss_kib(server.pid)
    assert received >= 2 << 20
    assert during - before < 8 * 1024, (before, during)


def test_access_log_has_static_lines(server: ServerProcess) -> None:
    get(server, "/static/one-k.txt?logged=1")
    text = server.wait_for_stdout('"GET /static/one-k.txt?logged=1 HTTP/1.1" 200 1024')
    assert "/static/one-k.txt?logged=1" in text


@pytest.fixture(scope="module")
def fallthrough(pool: ServerPool, tree: Tree) -> ServerProcess:
    return start(
        pool, tree, "--static", f"/static={tree.root}", "--static-fallthrough", "staticapp:app"
    )


def test_fallthrough_passes_missing_files_to_the_app(fallthrough: ServerProcess) -> None:
    assert get(fallthrough, "/static/missing.txt").body == b"app:/static/missing.txt"
    assert get(fallthrough, "/static/nolist/").body == b"app:/static/nolist/"
    assert get(fallthrough, "/static/one-k.txt").status == 200
    # Refusals are never passed on.
    assert get(fallthrough, "/static/.env").status == 404
    assert get(fallthrough, b"/static/%2e%2e/secret.txt").status == 400


@pytest.fixture(scope="module")
def site_only(pool: ServerPool, tree: Tree) -> ServerProcess:
    return start(pool, tree, "--static", f"/={tree.root}")


def test_static_site_without_app(site_only: ServerProcess, tree: Tree) -> None:
    assert get(site_only, "/one-k.txt").status == 200
    assert get(site_only, "/sub/").body == b"<p>sub index</p>"
    assert get(site_only, "/sub").header("Location") == "/sub/"
    assert get(site_only, "/missing").status == 404
    assert get(site_only, "//evil.example/").status in (301, 404)
    redirect = get(site_only, "//sub")
    assert redirect.header("Location") == "/sub/"
    assert SECRET not in get(site_only, b"/../secret.txt").body
