"""The built-in content type table."""

from __future__ import annotations

import pytest

from pronghorn.static.content_types import DEFAULT_TYPE, content_type


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("style.css", "text/css; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("mod.mjs", "text/javascript; charset=utf-8"),
        ("data.json", "application/json; charset=utf-8"),
        ("logo.svg", "image/svg+xml; charset=utf-8"),
        ("index.html", "text/html; charset=utf-8"),
        ("INDEX.HTM", "text/html; charset=utf-8"),
        ("readme.txt", "text/plain; charset=utf-8"),
        ("photo.JPG", "image/jpeg"),
        ("a.png", "image/png"),
        ("font.woff2", "font/woff2"),
        ("module.wasm", "application/wasm"),
        ("doc.pdf", "application/pdf"),
        ("clip.mp4", "video/mp4"),
        ("archive.tar.gz", "application/gzip"),
        ("noext", DEFAULT_TYPE),
        ("weird.unknownext", DEFAULT_TYPE),
        (".hidden", DEFAULT_TYPE),
    ],
)
def test_content_type(name: str, expected: str) -> None:
    assert content_type(name) == expected
