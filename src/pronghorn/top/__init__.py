"""`pronghorn top`: a live terminal view of a running server's metrics, for someone on the
box without Prometheus.

`command` (options, where the listener is, exit statuses), `source` (reading /metrics and
/readyz over HTTP), `frame` (the numbers of one screen from two scrapes), `render` (their
text) and `screen` (the live, redrawn view). It reads the metrics listener of
`--metrics-bind` as any client would; nothing in the server knows it exists. See
docs/observability.md, "pronghorn top".
"""

from pronghorn.top.command import main

__all__ = ["main"]
