"""Mount matching and path checks, before any file is touched: table-driven."""

from __future__ import annotations

import pytest

from pronghorn.static.paths import Located, Mount, Refused, locate

MOUNTS = [Mount(b"/static", b"/srv/static"), Mount(b"", b"/srv/site")]
STATIC_ONLY = [Mount(b"/static", b"/srv/static")]


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"/static/../secret", 400),
        (b"/static/%2e%2e/secret", 400),
        (b"/static/%2E%2E/secret", 400),
        (b"/static/.%2e/secret", 400),
        (b"/static/a%2fb", 400),
        (b"/static/a%2Fb", 400),
        (b"/static/a%5cb", 400),
        (b"/static/a\\b", 400),
        (b"/static/a%00b", 400),
        (b"/static/./a", 400),
        (b"/static/a%0d%0ab", 400),
        (b"/static/.env", 404),
        (b"/static/.git/config", 404),
        (b"/static/%2egit/config", 404),
        (b"/static/CON", 404),
        (b"/static/aux.txt", 404),
        (b"/static/Com1.log", 404),
        (b"/static/lpt9", 404),
        (b"/static/nul.tar.gz", 404),
        (b"/static/file.", 404),
        (b"/static/file ", 404),
        (b"/static/a:stream", 404),
        (b"/static/" + b"a" * 300, 404),
        (b"/static/" + b"a/" * 2100, 414),
    ],
)
def test_refused(raw: bytes, status: int) -> None:
    found = locate(STATIC_ONLY, raw, allow_dotfiles=False)
    assert isinstance(found, Refused), found
    assert found.status == status


@pytest.mark.parametrize(
    ("raw", "prefix", "segments", "slash"),
    [
        (b"/static/a.css", b"/static", (b"a.css",), False),
        (b"/static//a.css", b"/static", (b"a.css",), False),
        (b"/static/sub/", b"/static", (b"sub",), True),
        (b"/static", b"/static", (), False),
        (b"/static/", b"/static", (), True),
        (b"/%73tatic/a.css", b"/static", (b"a.css",), False),
        (b"/static/caf%C3%A9.txt", b"/static", ("café.txt".encode(),), False),
        (b"/staticky/a", b"", (b"staticky", b"a"), False),
        (b"/", b"", (), True),
        (b"/index.html", b"", (b"index.html",), False),
    ],
)
def test_located(raw: bytes, prefix: bytes, segments: tuple[bytes, ...], slash: bool) -> None:
    found = locate(MOUNTS, raw, allow_dotfiles=False)
    assert isinstance(found, Located), found
    assert (found.mount.prefix, found.segments, found.trailing_slash) == (prefix, segments, slash)


def test_unmounted_paths_belong_to_the_app() -> None:
    assert locate(STATIC_ONLY, b"/app/../static", allow_dotfiles=False) is None
    assert locate(STATIC_ONLY, b"/staticfoo", allow_dotfiles=False) is None


def test_dotfiles_when_allowed() -> None:
    found = locate(STATIC_ONLY, b"/static/.well-known/x", allow_dotfiles=True)
    assert isinstance(found, Located)


def test_url_path_is_normalised() -> None:
    found = locate(MOUNTS, b"//evil.example//x", allow_dotfiles=False)
    assert isinstance(found, Located)
    assert found.url_path() == "/evil.example/x"
