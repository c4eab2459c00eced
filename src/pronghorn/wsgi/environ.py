"""Building the PEP 3333 `environ` for one request.

Owns the CGI variable mapping: header names to `HTTP_*` keys (duplicates joined per RFC
9110 section 5.3, cookies with "; "), latin-1 native strings, the SCRIPT_NAME/PATH_INFO
split for `--root-path`, and the raw request target as REQUEST_URI and RAW_URI. A trusted
proxy's headers then rewrite the client, scheme, host and prefix (`pronghorn.wsgi.proxies`);
on a Unix socket SERVER_NAME/SERVER_PORT come from the Host header, as gunicorn does.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol
from urllib.parse import unquote_to_bytes

from pronghorn.http.events import RequestHead
from pronghorn.wsgi.proxies import TrustedProxies, server_from_host

_KEY_CACHE_LIMIT: Final = 512


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
    server_from_host: bool = False
    """SERVER_NAME/SERVER_PORT follow the Host header: the listener is a Unix socket, or
    the connection's PROXY header said the client reached the proxy over TLS (the
    listener's own name and port are not what the client asked for)."""
    proxies: TrustedProxies | None = None
    """Whose proxy headers to believe (--forwarded-allow-ips, --trusted-proxy-headers)."""


class EnvironBuilder:
    """Makes environ dicts for one listener; keeps the per-server part precomputed."""

    def __init__(self, facts: ServerFacts, errors: ErrorStream | None = None) -> None:
        self._facts = facts
        self._errors = errors
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
        if facts.url_scheme == "https":
            self._base["HTTPS"] = "on"  # as Apache and nginx's fastcgi_params say it
        self._base = _with_room(self._base)
        self._header_keys: dict[bytes, str] = {}
        # The last client address seen and its port as text: a keep-alive connection's
        # requests repeat it, and str() of the port costs ~0.25k instructions. One
        # attribute holding both, so that threads replacing it never pair an address
        # with another's port.
        self._last_port: tuple[tuple[str, int] | None, str] = (None, "")
        self._server_from_host = facts.server_from_host
        self._proxies = facts.proxies
        self._proxy_keys = () if facts.proxies is None else facts.proxies.environ_keys
        self._proxy_names = frozenset(
            () if facts.proxies is None else (name.encode() for name in facts.proxies.headers)
        )

    def extended(self, variables: Mapping[str, str]) -> EnvironBuilder:
        """A builder whose environs also hold `variables` (a TLS connection's own, such
        as its client certificate): copied once per connection, free per request."""
        # Built anew, not copy.copy(): a compiled (mypyc) class cannot be copied that way.
        clone = EnvironBuilder(self._facts, self._errors)
        clone._base = _with_room({**self._base, **variables})
        return clone

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
        version = head.version
        # The usual version without building the string (~0.3k instructions, compiled).
        environ["SERVER_PROTOCOL"] = "HTTP/1.1" if version == "1.1" else "HTTP/" + version
        environ["REQUEST_URI"] = environ["RAW_URI"] = target
        environ["QUERY_STRING"] = head.query.decode("latin-1")
        environ["PATH_INFO"] = self._path_info(head.path)
        if remote is not None:
            environ["REMOTE_ADDR"] = remote[0]
            last = self._last_port
            if last[0] is not remote:
                last = self._last_port = (remote, str(remote[1]))
            environ["REMOTE_PORT"] = last[1]
        else:
            environ["REMOTE_ADDR"] = ""
            del environ["REMOTE_PORT"]  # a placeholder of _with_room: no port to say
        environ["wsgi.input"] = wsgi_input
        environ["wsgi.file_wrapper"] = file_wrapper
        self._add_headers(environ, head.headers)
        # The one per-request cost of proxy support when no proxy header came: a dict
        # lookup per trusted header (two by default). The peer is checked only after.
        server_from_host_needed = self._server_from_host
        for key in self._proxy_keys:
            if key in environ:
                assert self._proxies is not None
                if self._proxies.apply(environ, remote):
                    server_from_host_needed = False  # apply() has done it
                break
        if server_from_host_needed:
            server_from_host(environ)
        return environ

    def client(self, head: RequestHead, remote: tuple[str, int] | None) -> tuple[str, int] | None:
        """The client's address and port (0 when not known) as the environ of this request
        would say; None on a Unix socket with no trusted proxy header. For the access log
        of a request that no application saw (a static file)."""
        names = self._proxy_names
        if names and any(name.lower() in names for name, _ in head.headers):
            return client_address(self.build(head, remote, None, None))
        return remote

    def _path_info(self, raw_path: bytes) -> str:
        if 37 in raw_path:  # a "%": the byte's value is cheapest (see http.parser.on_header)
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


# The keys every request sets (REMOTE_PORT unless there is no address): placeholders in
# the per-server part, so that setting them replaces a value instead of adding a key.
_PER_REQUEST_KEYS: Final = (
    "REQUEST_METHOD",
    "SERVER_PROTOCOL",
    "REQUEST_URI",
    "RAW_URI",
    "QUERY_STRING",
    "PATH_INFO",
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "wsgi.input",
    "wsgi.file_wrapper",
)


def _with_room(base: dict[str, Any]) -> dict[str, Any]:
    """`base`, with placeholders for the per-request keys, as a dict whose copies have
    room for a request's header fields without growing.

    CPython copies a dict that has few deleted entries by cloning its table, size and all
    (`PyDict_Copy`). A copy of a dict that just fits its keys grows (a new table, every
    key rehashed; ~1.4k instructions compiled) at the first header field added; a table
    that was grown by keys then deleted gives every copy ~10 free entries. Elsewhere
    (another Python) this is only a dict with the same keys."""
    roomy = {**base, **dict.fromkeys(_PER_REQUEST_KEYS, "")}
    # At most a third of the entries deleted: more, and the copy is rebuilt key by key.
    spare = [f" spare {n}" for n in range(len(roomy) // 2)]
    for key in spare:
        roomy[key] = None
    for key in spare:
        del roomy[key]
    return roomy


def client_address(environ: dict[str, Any]) -> tuple[str, int] | None:
    """REMOTE_ADDR and REMOTE_PORT of an environ (after the app, which may have changed
    them), as the access log wants them: None without an address, port 0 when unknown."""
    address = environ.get("REMOTE_ADDR")
    if not address or not isinstance(address, str):
        return None
    port = environ.get("REMOTE_PORT")
    if isinstance(port, str) and port.isascii() and port.isdigit():
        return address, int(port)
    return address, 0


def _environ_key(name: bytes) -> str:
    upper = name.decode("latin-1").upper().replace("-", "_")
    if upper in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        return upper
    return "HTTP_" + upper
