"""uwsgi packets for tests: what nginx's `uwsgi_pass` sends, built from a list of variables.

`packet(pairs, body)` is a request as nginx makes it (modifier1 0, the variables block with
16-bit little-endian lengths, then the body); `nginx_variables(...)` the variables of the
stock /etc/nginx/uwsgi_params for a simple request. Lengths can be forced, to build broken
packets.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import unquote

Pair = tuple[str | bytes, str | bytes]


def _bytes(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("latin-1")


def pair(name: str | bytes, value: str | bytes) -> bytes:
    """One variable: the name and the value, each after its 16-bit little-endian length."""
    key, data = _bytes(name), _bytes(value)
    return len(key).to_bytes(2, "little") + key + len(data).to_bytes(2, "little") + data


def block(pairs: Sequence[Pair]) -> bytes:
    return b"".join(pair(name, value) for name, value in pairs)


def packet(
    pairs: Sequence[Pair],
    body: bytes = b"",
    *,
    modifier1: int = 0,
    modifier2: int = 0,
    size: int | None = None,
) -> bytes:
    """A whole request; `size` overrides the variables block's declared size."""
    data = block(pairs)
    declared = len(data) if size is None else size
    return bytes([modifier1]) + declared.to_bytes(2, "little") + bytes([modifier2]) + data + body


def nginx_variables(
    method: str = "GET",
    uri: str = "/",
    *,
    body: bytes = b"",
    content_type: str = "",
    headers: Sequence[tuple[str, str]] = (("HTTP_HOST", "example.com"),),
    remote: tuple[str, int] = ("203.0.113.9", 54321),
    https: bool = False,
) -> list[Pair]:
    """The variables the stock uwsgi_params makes nginx send, in its order, then the
    request headers as HTTP_* variables."""
    path, _, query = uri.partition("?")
    pairs: list[Pair] = [
        ("QUERY_STRING", query),
        ("REQUEST_METHOD", method),
        ("CONTENT_TYPE", content_type),
        ("CONTENT_LENGTH", str(len(body)) if body else ""),
        ("REQUEST_URI", uri),
        ("PATH_INFO", unquote(path, encoding="latin-1")),  # nginx's $document_uri
        ("DOCUMENT_ROOT", "/usr/share/nginx/html"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REQUEST_SCHEME", "https" if https else "http"),
    ]
    if https:
        pairs.append(("HTTPS", "on"))
    pairs += [
        ("REMOTE_ADDR", remote[0]),
        ("REMOTE_PORT", str(remote[1])),
        ("SERVER_PORT", "443" if https else "80"),
        ("SERVER_NAME", "example.com"),
    ]
    pairs += list(headers)
    return pairs
