"""Health paths on the main listener: `--liveness-path` and `--readiness-path`.

Owns `HealthProbes.answer`, which a worker asks before static mounts and the application
(`pronghorn.dispatch.requests.Dispatcher.run_request`; nothing is asked when neither path is set).
A GET or HEAD of one of the paths (the query is ignored) gets a short text answer and the
application never sees it:

- liveness: 200 `live`, always: a worker that answers is alive (a master whose workers all
  hang gets no answer here; the metrics listener's /livez tells that case apart);
- readiness: 200 `ready`, or 503 `not ready: ...` once the master has said the server is
  stopping (`pronghorn.metrics.readiness`), so a load balancer that probes this path stops
  sending before the listening socket closes (see --shutdown-delay).
"""

from __future__ import annotations

from pronghorn.channel import ResponseSink
from pronghorn.http.events import RequestHead
from pronghorn.http.response import plan_response
from pronghorn.metrics.readiness import STOPPING, ReadinessFlag
from pronghorn.wsgi.runner import Outcome

TEXT_HEADERS = [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")]


class HealthProbes:
    """The configured health paths of one worker."""

    __slots__ = ("_live", "_readiness", "_ready")

    def __init__(
        self, liveness_path: str | None, readiness_path: str | None, readiness: ReadinessFlag
    ) -> None:
        self._live = liveness_path.encode("latin-1") if liveness_path else None
        self._ready = readiness_path.encode("latin-1") if readiness_path else None
        self._readiness = readiness

    def answer(self, head: RequestHead, sink: ResponseSink, date: str) -> Outcome | None:
        """Answer `head` if it asks a health path; None otherwise (the request goes on)."""
        path = head.path
        if path == self._live:
            return send_text(head, sink, date, 200, "live")
        if path == self._ready:
            if self._readiness.state() == STOPPING:
                return send_text(head, sink, date, 503, "not ready: the server is stopping")
            return send_text(head, sink, date, 200, "ready")
        return None


def send_text(head: RequestHead, sink: ResponseSink, date: str, code: int, text: str) -> Outcome:
    """A one-line text answer to `head` (its body only for GET: HEAD gets the head alone)."""
    status = "200 OK" if code == 200 else "503 Service Unavailable"
    if head.method not in ("GET", "HEAD"):
        code, status, text = 405, "405 Method Not Allowed", "only GET and HEAD"
    body = (text + "\n").encode("utf-8")
    headers = TEXT_HEADERS if code != 405 else [*TEXT_HEADERS, ("Allow", "GET, HEAD")]
    plan = plan_response(
        method=head.method,
        request_version=head.version,
        request_keep_alive=head.keep_alive,
        status=status,
        headers=headers,
        date=date,
        body_length=len(body),
    )
    sent = body if plan.sends_body else b""
    sink.finish(plan.head + sent, plan.keep_alive)
    return Outcome(code, len(sent), plan.keep_alive, headers)
