"""The `pre_request` and `post_request` hooks of a config file, around each request.

Owns: `HookedDispatcher`, the `Dispatcher` a worker runs with when its config file defines
either hook, and the `req` and `resp` objects the hooks get in place of gunicorn's Request
and Response, with the attributes hooks commonly read. A worker without these hooks runs
the plain `Dispatcher`, so their absence costs a request nothing.

Calls, with gunicorn's signatures: `pre_request(worker, req)` on the request's thread just
before the request is served (static files included), and `post_request(worker, req,
environ, resp)` after it is answered (`environ` is `{}` for a static file). The same `req`
goes to both, so an attribute a pre_request hook sets on it (a start time) is there in
post_request. A hook that raises is logged with its name; the request goes on.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Callable, Sequence
from http.client import responses
from types import SimpleNamespace
from typing import Any

from pronghorn.channel import RequestChannel
from pronghorn.config.model import Config
from pronghorn.dispatch.requests import Dispatcher
from pronghorn.dispatch.settings import ListenerFacts
from pronghorn.http.events import RequestHead
from pronghorn.logs import Logs
from pronghorn.metrics.probes import HealthProbes
from pronghorn.metrics.recorder import WorkerMetrics
from pronghorn.wsgi.runner import Outcome, WSGIApp
from pronghorn.wsgi.uwsgi_environ import AnyEnvironBuilder

_Hook = Callable[..., object]


# The views are namespaces, not classes: a compiled class's instances take no new
# attributes, and hooks set their own on `req` (a start time) as gunicorn lets them.
def request_view(head: RequestHead, remote: tuple[str, int] | None) -> SimpleNamespace:
    """What a hook sees of a request, as gunicorn's Request names it: `method`, `uri` (the
    request target as sent), `path`, `query`, `fragment` (always ''), `version` ((1, 1)),
    `headers` ([(NAME, value)], names in capitals, as received otherwise), `remote_addr` and
    `peer_addr` (the peer's (host, port); '' on a Unix socket). Hooks may add attributes."""
    major, _, minor = head.version.partition(".")
    remote_addr: tuple[str, int] | str = remote if remote is not None else ""
    return SimpleNamespace(
        method=head.method,
        uri=head.target.decode("latin-1"),
        path=head.path.decode("latin-1"),
        query=head.query.decode("latin-1"),
        fragment="",
        version=(int(major), int(minor or 0)),
        headers=[
            (name.decode("latin-1").upper(), value.decode("latin-1"))
            for name, value in head.headers
        ],
        remote_addr=remote_addr,
        peer_addr=remote_addr,
    )


def response_view(outcome: Outcome) -> SimpleNamespace:
    """What post_request sees of the response: `status` ('200 OK'; the reason phrase is the
    standard one), `status_code`, `headers` (as the application or the static files gave
    them) and `sent` (body bytes sent). Hooks may add attributes."""
    return SimpleNamespace(
        status_code=outcome.status,
        # A plain dict: building an HTTPStatus member costs several times more.
        status=f"{outcome.status} {responses.get(outcome.status, '')}".rstrip(),
        headers=list(outcome.headers),
        sent=outcome.body_bytes,
    )


class HookedDispatcher(Dispatcher):
    """A `Dispatcher` that calls the config file's request hooks around each request."""

    def __init__(
        self,
        config: Config,
        app: WSGIApp | None,
        logs: Logs,
        listeners: Sequence[ListenerFacts],
        multiprocess: bool = False,
        worker: object = None,
        tls: ssl.SSLContext | None = None,
        metrics: WorkerMetrics | None = None,
        probes: HealthProbes | None = None,
    ) -> None:
        super().__init__(config, app, logs, listeners, multiprocess, tls, metrics, probes)
        # Without a supervisor (--single-process) the worker is this process.
        self._worker = worker or SimpleNamespace(
            pid=os.getpid(), ppid=os.getppid(), age=1, log=logs.error
        )
        self._pre = config.extras.hook("pre_request")
        self._post = config.extras.hook("post_request")
        self._access_log = self.reporting
        self.reporting = self.reporting or self._post is not None
        # The request each thread is serving, for its post_request (threads own their key).
        self._requests: dict[int, SimpleNamespace] = {}

    def run_request(
        self,
        head: RequestHead,
        channel: RequestChannel,
        remote: tuple[str, int] | None,
        builder: AnyEnvironBuilder,
        thread_id: int,
        started: float,
    ) -> None:
        request = request_view(head, remote)
        if self._pre is not None:
            _call(self.error_log, "pre_request", self._pre, self._worker, request)
        self._requests[thread_id] = request
        try:
            super().run_request(head, channel, remote, builder, thread_id, started)
        finally:
            del self._requests[thread_id]

    def report(
        self,
        head: RequestHead,
        remote: tuple[str, int] | None,
        builder: AnyEnvironBuilder,
        environ: dict[str, Any] | None,
        outcome: Outcome,
        started: float,
        thread_id: int,
        channel: RequestChannel,
    ) -> None:
        if self._access_log:
            super().report(head, remote, builder, environ, outcome, started, thread_id, channel)
        if self._post is not None:
            request = self._requests[thread_id]
            response = response_view(outcome)
            arguments = (self._worker, request, {} if environ is None else environ, response)
            _call(self.error_log, "post_request", self._post, *arguments)


def _call(log: logging.Logger, name: str, hook: _Hook, *arguments: object) -> None:
    try:
        hook(*arguments)
    except Exception:  # the user's code: a failing hook must not fail the request
        log.exception("the %s hook failed", name)
