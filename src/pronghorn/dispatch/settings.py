"""Settings turned into what the request path needs, once per worker.

Owns the translations from a `Config` to the parser's limits (`parser_limits`), the static
mounts and their options (`static_files`) and, per listener, the environ its requests start
from (`environ_builders`: the server's facts, and the trusted proxies). The I/O layer
describes its listeners by `ListenerFacts`, so nothing here knows of sockets beyond their
family.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Protocol

from pronghorn.config.model import Config
from pronghorn.http.parser import ParserLimits
from pronghorn.static import StaticFiles, StaticOptions
from pronghorn.wsgi.environ import EnvironBuilder, ServerFacts
from pronghorn.wsgi.proxies import TrustedProxies
from pronghorn.wsgi.uwsgi_environ import AnyEnvironBuilder, UwsgiEnvironBuilder

__all__ = ["ListenerFacts", "environ_builders", "parser_limits", "static_files"]


class ListenerFacts(Protocol):
    """What the request path knows of a listening socket (`pronghorn.io.listeners.Listener`)."""

    @property
    def sock(self) -> socket.socket: ...

    @property
    def server_name(self) -> str: ...

    @property
    def server_port(self) -> str: ...


def parser_limits(config: Config) -> ParserLimits:
    """The --limit-request-* settings as the HTTP core's limits."""
    return ParserLimits(
        max_request_line=config.limit_request_line,
        max_fields=config.limit_request_fields,
        max_field_size=config.limit_request_field_size,
        max_body=config.limit_request_body,
    )


def static_files(config: Config, has_app: bool, error_log: logging.Logger) -> StaticFiles | None:
    """The static mounts (None when there are none and there is an app to answer)."""
    if not config.static and has_app:
        return None
    options = StaticOptions(
        fallthrough=config.static_fallthrough,
        cache_control=config.static_cache_control,
        immutable_fingerprinted=config.static_immutable,
        allow_dotfiles=config.static_dotfiles,
        follow_outside_symlinks=config.static_follow_symlinks,
        cache_entries=config.static_cache_entries,
        cache_bytes=config.static_cache_bytes,
    )
    return StaticFiles(config.static, options, has_app=has_app, error_log=error_log)


def environ_builders(
    config: Config,
    listeners: Sequence[ListenerFacts],
    tls: ssl.SSLContext | None,
    multiprocess: bool,
    error_log: logging.Logger,
) -> list[AnyEnvironBuilder]:
    """One environ builder per listener, in order; with --proxy-protocol, then one more per
    listener for the connections whose PROXY header says the client reached the proxy over
    TLS (see `Dispatcher.behind_tls`)."""
    proxies = TrustedProxies(config.forwarded_allow_ips, config.trusted_proxy_headers)
    facts = [
        ServerFacts(
            server_name=lst.server_name,
            server_port=lst.server_port,
            url_scheme="http" if tls is None else "https",
            root_path=config.root_path,
            multithread=config.threads > 1,
            multiprocess=multiprocess,
            server_from_host=lst.sock.family == socket.AF_UNIX,
            proxies=proxies,
        )
        for lst in listeners
    ]
    if config.proxy_protocol != "off":
        facts += [replace(fact, url_scheme="https", server_from_host=True) for fact in facts]
    errors = _ErrorStream(error_log)
    uwsgi = config.protocol == "uwsgi"
    return [
        UwsgiEnvironBuilder(fact, errors) if uwsgi else EnvironBuilder(fact, errors)
        for fact in facts
    ]


class _ErrorStream:
    """`wsgi.errors`: a text stream that writes into the error log."""

    def __init__(self, log: logging.Logger) -> None:
        self._log = log

    def write(self, text: str) -> int:
        stripped = text.rstrip("\n")
        if stripped:
            self._log.error("%s", stripped)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        return None
