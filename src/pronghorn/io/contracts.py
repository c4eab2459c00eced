"""What the parts of the I/O engine need of each other: narrow Protocols, and base classes
for the ones used on every request.

Owns the contracts between the files of `io/`, so that none of them imports one above it
(tests/test_import_layers.py ranks them) and none reads or writes more of another than
written here:

- `WorkerServices`: what a connection uses of the worker's request dispatch
  (`pronghorn.dispatch.requests.Dispatcher`: the error log, the Date header, refusals'
  access-log line). The reactor itself takes the `Dispatcher`, whose `run_request` it
  calls on every request: compiled, a call through a Protocol would be a generic one;
- `ConnectionHost`: what a connection needs from its reactor (the reactor's base class);
- `ChannelConnection`, `HeldConnection` (base classes of the connection),
  `PreambleConnection`: what a request's channel, the batch of held responses and a
  preamble step need from a connection.
"""

from __future__ import annotations

import logging
from typing import Protocol

from pronghorn.channel import RequestChannel
from pronghorn.config.model import Config
from pronghorn.http.connection import ConnectionState, Phase
from pronghorn.http.events import RequestHead
from pronghorn.io.outbox import Outbox
from pronghorn.io.parked import ParkedOutput, ParkingBudget
from pronghorn.io.stream import Stream
from pronghorn.metrics.recorder import WorkerMetrics
from pronghorn.wsgi.uwsgi_environ import AnyEnvironBuilder

__all__ = [
    "ChannelConnection",
    "ConnectionHost",
    "HeldConnection",
    "PreambleConnection",
    "WorkerServices",
]

Remote = tuple[str, int] | None


class WorkerServices(Protocol):
    """What a connection uses of its worker's request dispatch."""

    @property
    def error_log(self) -> logging.Logger: ...

    @property
    def date(self) -> str:
        """The cached Date header value, refreshed once a second."""
        ...

    def behind_tls(self, builder: AnyEnvironBuilder) -> AnyEnvironBuilder:
        """The builder for a connection whose PROXY header said the client spoke TLS."""
        ...

    def log_refusal(self, remote: Remote, status: int) -> None:
        """Access-log a request refused before it reached the app."""
        ...


class ConnectionHost:
    """What a connection needs from the reactor that watches it: the reactor's base class.

    This and the two connection classes below are base classes, not Protocols, because they
    are used several times a request: compiled, an attribute or a call through a Protocol
    type is a generic Python lookup (~0.2-1k instructions), through a base class a field
    read or a direct call (docs/design.md, "What is slow only compiled"). The
    subclass sets every attribute in its `__init__`."""

    state: WorkerServices
    config: Config
    metrics: WorkerMetrics | None
    parking: ParkingBudget
    outbox_type: type[Outbox]
    """`ReportingOutbox` on a worker that writes an access log, else `Outbox`."""
    stopping: bool
    wait_seconds: dict[Phase, float]
    """How long a connection may wait in each phase before its deadline."""

    def run_request(
        self,
        head: RequestHead,
        channel: RequestChannel,
        remote: Remote,
        builder: AnyEnvironBuilder,
    ) -> None:
        raise NotImplementedError


class HeldConnection:
    """A connection whose finished response waits in its outbox (`pronghorn.io.batching`)."""

    __slots__ = ("outbox",)

    outbox: Outbox


class ChannelConnection(HeldConnection):
    """What a running request's channel (`pronghorn.io.socket_channel`) uses of its
    connection (`pronghorn.io.client.ClientConnection`, the subclass); the thread running
    the request owns the connection meanwhile."""

    __slots__ = ("http", "metrics", "parked", "sock")

    sock: Stream
    http: ConnectionState
    parked: ParkedOutput
    metrics: WorkerMetrics | None
    """The worker's counters, when metrics are on."""

    def receive_more(self) -> None:
        """Read what the socket has into the protocol state (the request body)."""
        raise NotImplementedError


class PreambleConnection(Protocol):
    """What a step before HTTP (`pronghorn.io.preamble`) uses of its connection."""

    sock: Stream

    def proxied(self, source: Remote, tls: bool) -> None: ...
