"""The open-file cache in the real server: files changed after being served are seen.

The tree here is this module's own (the tests change it), and the tests start only once
its files are older than `cache.SETTLE_NS`, so that the server keeps them in its cache on
the first request and answers the second from it. Each test then changes its own file.
"""

from __future__ import annotations

import gzip
import hashlib
import os

import pytest
from statichttp import Client, Reply, fetch
from statictree import Tree, settled, start

from serverproc import ServerPool, ServerProcess

KIB = b"0123456789abcdef" * 64
SECRET = b"TOP-SECRET-cache-tests-7f3a"


NAMES = (
    "rewrite.txt",
    "gone.txt",
    "swap.txt",
    "sibling.css",
    "grow.txt",
    "off-entries.txt",
    "off-bytes.txt",
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    base = tmp_path_factory.mktemp("cachetree")
    root = base / "root"
    root.mkdir()
    (base / "secret.txt").write_bytes(SECRET)
    for name in NAMES:
        (root / name).write_bytes(KIB)
    settled([root / name for name in NAMES])
    return Tree(base, root, root, {})


@pytest.fixture(scope="module")
def server(pool: ServerPool, site: Tree) -> ServerProcess:
    return start(pool, site, "--static", f"/static={site.root}")


def get(server: ServerProcess, name: str, **headers: str) -> Reply:
    named = {k.replace("_", "-"): v for k, v in headers.items()}
    return fetch(server.host, server.port, "GET", f"/static/{name}", named)


def served_twice(server: ServerProcess, name: str, **headers: str) -> Reply:
    """Serve `name` twice on one connection: the full path, then (settled) the cache."""
    with Client(server.host, server.port) as client:
        named = {k.replace("_", "-"): v for k, v in headers.items()}
        first = client.request("GET", f"/static/{name}", named)
        second = client.request("GET", f"/static/{name}", named)
    assert first.status == second.status == 200
    assert first.body == second.body
    assert first.header("ETag") == second.header("ETag")
    return second


def test_rewritten_same_size_is_served_fresh(server: ServerProcess, site: Tree) -> None:
    path = site.root / "rewrite.txt"
    assert served_twice(server, "rewrite.txt").body == KIB
    stamp = os.stat(path)
    with open(path, "r+b") as out:
        out.write(KIB.upper())
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # mtime as it was
    assert get(server, "rewrite.txt").body == KIB.upper()
    assert get(server, "rewrite.txt").body == KIB.upper()


def test_deleted_file_is_404(server: ServerProcess, site: Tree) -> None:
    served_twice(server, "gone.txt")
    os.unlink(site.root / "gone.txt")
    assert get(server, "gone.txt").status == 404
    assert get(server, "gone.txt").status == 404


def test_file_replaced_by_symlink_out_of_the_root_is_refused(
    server: ServerProcess, site: Tree
) -> None:
    served_twice(server, "swap.txt")
    os.unlink(site.root / "swap.txt")
    (site.root / "swap.txt").symlink_to(site.base / "secret.txt")
    for _ in range(2):
        with Client(server.host, server.port) as client:
            reply = client.request("GET", "/static/swap.txt")
        assert reply.status in (403, 404)
        assert SECRET not in reply.body


def test_gz_sibling_added_later_is_picked_up(server: ServerProcess, site: Tree) -> None:
    first = served_twice(server, "sibling.css", Accept_Encoding="gzip")
    assert first.header("Vary") is None and first.header("Content-Encoding") is None
    (site.root / "sibling.css.gz").write_bytes(gzip.compress(KIB))
    gz = get(server, "sibling.css", Accept_Encoding="gzip")
    assert gz.header("Content-Encoding") == "gzip"
    assert gz.header("Vary") == "Accept-Encoding"
    assert gzip.decompress(gz.body) == KIB
    plain = get(server, "sibling.css")
    assert plain.header("Vary") == "Accept-Encoding" and plain.body == KIB


def test_file_grown_past_the_content_limit(server: ServerProcess, site: Tree) -> None:
    served_twice(server, "grow.txt")
    big = os.urandom(3 << 20)
    with open(site.root / "grow.txt", "ab") as out:
        out.write(big)
    for _ in range(2):
        reply = get(server, "grow.txt")
        assert reply.status == 200
        assert reply.header("Content-Length") == str(len(KIB) + len(big))
        assert hashlib.sha256(reply.body).digest() == hashlib.sha256(KIB + big).digest()


@pytest.mark.parametrize("setting", ["entries", "bytes"])
def test_cache_settings_turn_it_off(pool: ServerPool, site: Tree, setting: str) -> None:
    server = start(pool, site, "--static", f"/static={site.root}", f"--static-cache-{setting}", "0")
    name = f"off-{setting}.txt"
    assert served_twice(server, name).body == KIB
    (site.root / name).write_bytes(KIB[::-1])
    assert get(server, name).body == KIB[::-1]
