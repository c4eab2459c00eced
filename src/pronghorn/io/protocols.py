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
from functools import partial
from typing import Final

from pronghorn.config.model import Config
from pronghorn.http.connection import ConnectionState, ServerConnection
from pronghorn.http.limits import ParserLimits
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


def listener_protocol(config: Config, limits: ParserLimits, unix: bool) -> ListenerProtocol:
    """The protocol of a listener: a Unix socket (`unix`) or a TCP one."""
    if config.protocol == UWSGI:
        allowed = None if unix else TrustedAddresses(config.uwsgi_allow_ips)
        uwsgi = partial(UwsgiConnection, limits, config.body_buffer)
        return ListenerProtocol(UWSGI, uwsgi, allowed)
    http = partial(ServerConnection, limits, config.body_buffer, keep_alive=config.keep_alive > 0)
    return ListenerProtocol("http", http, None)
