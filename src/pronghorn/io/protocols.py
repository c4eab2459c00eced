"""What a listening socket speaks (--protocol), as its worker needs it.

Owns `ListenerProtocol`: the protocol state each new connection gets (HTTP/1.1's
`ServerConnection`, or `UwsgiConnection` for nginx's `uwsgi_pass`) and which TCP peers may
connect at all. A uwsgi packet names the client (REMOTE_ADDR) and the scheme, so only the
front end may send one: peers outside --uwsgi-allow-from are closed before a byte is read;
a Unix socket's peers are always allowed, as its file's permissions decide who connects.
Built once per listener of a worker, so the choice costs a connection nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from pronghorn.config.model import Config
from pronghorn.http.connection import ConnectionState, ServerConnection
from pronghorn.http.limits import ParserLimits
from pronghorn.http.parser import HostMemo
from pronghorn.http.uwsgi import UwsgiConnection
from pronghorn.wsgi.proxies import TrustedAddresses

UWSGI: Final = "uwsgi"


@dataclass(frozen=True, slots=True)
class ListenerProtocol:
    """How one listener's connections are served."""

    name: str
    new_state: Callable[[], ConnectionState]
    """The protocol state of a new connection."""
    allowed: TrustedAddresses | None
    """The TCP peers that may connect; None: every peer."""


class NewState:
    """Makes the protocol state of a listener's new connection.

    A class, not `functools.partial`: compiled, its call constructs the state natively,
    where a partial went through Python's generic call (its keyword copied into a new dict,
    the constructor's arguments parsed by name): ~1,500 instructions a connection, compiled
    hello-close 67,588 -> 66,120 (docs/design.md, "What a new connection costs").
    `keep_alive` is HTTP's only: a uwsgi connection carries one request. The listener's
    HTTP connections share one `HostMemo`: a Host value found valid on one connection is
    not matched again on the next (~2k instructions a connection, compiled)."""

    __slots__ = ("_body_buffer", "_hosts", "_keep_alive", "_limits", "_uwsgi")

    def __init__(self, uwsgi: bool, limits: ParserLimits, body_buffer: int, keep_alive: bool):
        self._uwsgi = uwsgi
        self._limits = limits
        self._body_buffer = body_buffer
        self._keep_alive = keep_alive
        self._hosts = HostMemo()

    def __call__(self) -> ConnectionState:
        if self._uwsgi:
            return UwsgiConnection(self._limits, self._body_buffer)
        return ServerConnection(self._limits, self._body_buffer, self._keep_alive, self._hosts)


def listener_protocol(config: Config, limits: ParserLimits, unix: bool) -> ListenerProtocol:
    """The protocol of a listener: a Unix socket (`unix`) or a TCP one."""
    keep_alive = config.keep_alive > 0
    if config.protocol == UWSGI:
        allowed = None if unix else TrustedAddresses(config.uwsgi_allow_ips)
        uwsgi = NewState(True, limits, config.body_buffer, keep_alive)
        return ListenerProtocol(UWSGI, uwsgi, allowed)
    http = NewState(False, limits, config.body_buffer, keep_alive)
    return ListenerProtocol("http", http, None)
