"""What the parts of the I/O engine need of each other, as narrow typed Protocols.

Owns the contracts between the files of `io/`, so that none of them imports one above it
(tests/test_import_layers.py ranks them) and none reads or writes more of another than
written here:

- `RequestRunner`: what the reactor needs from the worker's request dispatch
  (`pronghorn.dispatch.requests.Dispatcher`), and `WorkerServices`, the part of it a
  connection uses (the error log, the Date header, refusals' access-log line);
- `ConnectionHost`: what a connection needs from its reactor;
- `ChannelConnection`, `HeldConnection`, `PreambleConnection`: what a request's channel,
  the batch of held responses and a preamble step need from a connection.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping, Sequence
from typing import Protocol

from pronghorn.channel import RequestChannel
from pronghorn.config.model import Config
from pronghorn.http.connection import ConnectionState, Phase
from pronghorn.http.events import RequestHead
from pronghorn.http.limits import ParserLimits
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
    "RequestRunner",
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


class RequestRunner(WorkerServices, Protocol):
    """What the reactor needs from the worker: settings, per-listener facts, and running
    one request on the current thread."""

    @property
    def config(self) -> Config: ...

    @property
    def tls(self) -> ssl.SSLContext | None: ...

    @property
    def builders(self) -> Sequence[AnyEnvironBuilder]: ...

    @property
    def parser_limits(self) -> ParserLimits: ...

    @property
    def metrics(self) -> WorkerMetrics | None: ...

    @property
    def access_logging(self) -> bool:
        """The worker writes an access log: its requests report when they were sent."""
        ...

    def run_request(
        self,
        head: RequestHead,
        channel: RequestChannel,
        remote: Remote,
        builder: AnyEnvironBuilder,
        thread_id: int,
        started: float,
    ) -> None: ...


class ConnectionHost(Protocol):
    """What a connection needs from the reactor that watches it."""

    @property
    def state(self) -> WorkerServices: ...

    @property
    def config(self) -> Config: ...

    @property
    def metrics(self) -> WorkerMetrics | None: ...

    @property
    def parking(self) -> ParkingBudget: ...

    @property
    def outbox_type(self) -> type[Outbox]:
        """`ReportingOutbox` on a worker that writes an access log, else `Outbox`."""
        ...

    @property
    def stopping(self) -> bool: ...

    @property
    def wait_seconds(self) -> Mapping[Phase, float]:
        """How long a connection may wait in each phase before its deadline."""
        ...

    def run_request(
        self,
        head: RequestHead,
        channel: RequestChannel,
        remote: Remote,
        builder: AnyEnvironBuilder,
    ) -> None: ...


class HeldConnection(Protocol):
    """A connection whose finished response waits in its outbox (`pronghorn.io.batching`)."""

    @property
    def outbox(self) -> Outbox: ...


class ChannelConnection(Protocol):
    """What a running request's channel (`pronghorn.io.socket_channel`) uses of its
    connection; the thread running the request owns the connection meanwhile."""

    @property
    def sock(self) -> Stream: ...

    @property
    def http(self) -> ConnectionState: ...

    @property
    def outbox(self) -> Outbox: ...

    @property
    def parked(self) -> ParkedOutput: ...

    @property
    def metrics(self) -> WorkerMetrics | None: ...

    def receive_more(self) -> None:
        """Read what the socket has into the protocol state (the request body)."""
        ...


class PreambleConnection(Protocol):
    """What a step before HTTP (`pronghorn.io.preamble`) uses of its connection."""

    sock: Stream

    def proxied(self, source: Remote, tls: bool) -> None: ...
