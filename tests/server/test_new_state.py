"""A listener's new connections: the protocol state each gets, and what they share."""

from __future__ import annotations

from pronghorn.http.connection import ServerConnection
from pronghorn.http.events import RequestHead
from pronghorn.http.limits import ParserLimits
from pronghorn.http.uwsgi import UwsgiConnection
from pronghorn.io.protocols import NewState


def test_a_listeners_http_connections_share_the_host_found_valid() -> None:
    """The Host one connection found valid is not matched again on the next (HostMemo);
    read through private names, as nothing on the wire shows whether a match ran."""
    make = NewState(False, ParserLimits(), 0, True)
    first, second = make(), make()
    assert isinstance(first, ServerConnection) and isinstance(second, ServerConnection)
    first.receive(b"GET / HTTP/1.1\r\nHost: shared.example:8080\r\n\r\n")
    assert isinstance(first.next_request(), RequestHead)
    assert second._parser._hosts.valid == b"shared.example:8080"
    assert NewState(False, ParserLimits(), 0, True)()._parser._hosts.valid is None


def test_a_uwsgi_listener_makes_uwsgi_connections() -> None:
    assert isinstance(NewState(True, ParserLimits(), 0, True)(), UwsgiConnection)
