"""Building the PEP 3333 `environ` for one request.

Owns the CGI variable mapping: header names to `HTTP_*` keys (duplicates joined per RFC
9110 section 5.3, cookies with "; "), latin-1 native strings, the SCRIPT_NAME/PATH_INFO
split for `--root-path`, and the raw request target as REQUEST_URI and RAW_URI.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote_to_bytes

from pronghorn.http.events import RequestHead

_KEY_CACHE_LIMIT = 512


class ErrorStream(Protocol):
    """What `wsgi.errors` must offer (PEP 3333): a text stream the app may write to."""

    def write(self, text: str, /) -> int: ...
    def writelines(self, lines: Iterable[str], /) -> None: ...
    def flush(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ServerFacts:
    """What the environ says about the server side of a connection."""

    server_name: str
    server_port: str
    url_scheme: str = "http"
    root_path: str = ""
    multithread: bool = True
    multiprocess: bool = False


class EnvironBuilder:
    """Makes environ dicts for one listener; keeps the per-server part precomputed."""

    def __init__(self, facts: ServerFacts, errors: ErrorStream | None = None) -> None:
        self._root = facts.root_path
        self._base: dict[str, Any] = {
            "SERVER_NAME": facts.server_name,
            "SERVER_PORT": facts.server_port,
            "SERVER_SOFTWARE": "pronghorn",
            "SCRIPT_NAME": facts.root_path,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": facts.url_scheme,
            "wsgi.errors": errors if errors is not None else sys.stderr,
            "wsgi.multithread": facts.multithread,
            "wsgi.multiprocess": facts.multiprocess,
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,
        }
        self._header_keys: dict[bytes, str] = {}

    def build(
        self,
        head: RequestHead,
        remote: tuple[str, int] | None,
        wsgi_input: object,
        file_wrapper: object,
    ) -> dict[str, Any]:
        environ = self._base.copy()
        target = head.target.decode("latin-1")
        environ["REQUEST_METHOD"] = head.method
        environ["SERVER_PROTOCOL"] = "HTTP/" + head.version
        environ["REQUEST_URI"] = environ["RAW_URI"] = target
        environ["QUERY_STRING"] = head.query.decode("latin-1")
        environ["PATH_INFO"] = self._path_info(head.path)
        if remote is not None:
            environ["REMOTE_ADDR"] = remote[0]
            environ["REMOTE_PORT"] = str(remote[1])
        else:
            environ["REMOTE_ADDR"] = ""
        environ["wsgi.input"] = wsgi_input
        environ["wsgi.file_wrapper"] = file_wrapper
        self._add_headers(environ, head.headers)
        return environ

    def _path_info(self, raw_path: bytes) -> str:
        if raw_path.find(b"%") >= 0:  # cheaper than `in` on bytes (see http.parser)
            raw_path = unquote_to_bytes(raw_path)
        path = raw_path.decode("latin-1")
        root = self._root
        # With --root-path the app is mounted at root: SCRIPT_NAME is always the prefix, so
        # URLs it builds carry it; PATH_INFO loses the prefix when the request still has it
        # (a proxy that strips the prefix before us gives the same environ).
        if root and (path == root or path.startswith(root + "/")):
            path = path[len(root) :]
        return path

    def _add_headers(self, environ: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> None:
        keys = self._header_keys
        for name, value in headers:
            key = keys.get(name)
            if key is None:
                key = _environ_key(name)
                if len(keys) < _KEY_CACHE_LIMIT:
                    keys[name] = key
            text = value.decode("latin-1")
            if key in environ:
                joiner = "; " if key == "HTTP_COOKIE" else ", "
                environ[key] = environ[key] + joiner + text
            else:
                environ[key] = text


def _environ_key(name: bytes) -> str:
    upper = name.decode("latin-1").upper().replace("-", "_")
    if upper in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        return upper
    return "HTTP_" + upper
