"""The static settings from the registry reach the handler: each flag changes what is served."""

from __future__ import annotations

from statichttp import fetch
from statictree import Tree, start

from serverproc import ServerPool


def test_options_from_the_command_line(pool: ServerPool, tree: Tree) -> None:
    server = start(
        pool,
        tree,
        "--static",
        f"/static={tree.root}",
        "--static-cache-control",
        "no-cache",
        "--static-immutable",
        "--static-dotfiles",
        "--static-follow-symlinks",
    )
    plain = fetch(server.host, server.port, "GET", "/static/one-k.txt")
    assert plain.status == 200
    assert plain.header("Cache-Control") == "no-cache"
    hashed = fetch(server.host, server.port, "GET", "/static/main.0123abcd89.css")
    assert hashed.header("Cache-Control") == "public, max-age=31536000, immutable"
    assert fetch(server.host, server.port, "GET", "/static/.env").status == 200
    outside = fetch(server.host, server.port, "GET", "/static/outside-link")
    assert outside.status == 200


def test_defaults_refuse_what_the_options_allow(pool: ServerPool, tree: Tree) -> None:
    server = start(pool, tree, "--static", f"/static={tree.root}")
    assert fetch(server.host, server.port, "GET", "/static/.env").status == 404
    assert fetch(server.host, server.port, "GET", "/static/outside-link").status in (403, 404)
    hashed = fetch(server.host, server.port, "GET", "/static/main.0123abcd89.css")
    assert hashed.header("Cache-Control") == "public, max-age=0, must-revalidate"
