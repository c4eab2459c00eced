"""Seeing inside the server: what a worker counts, how the master learns it, how it is told.

`catalogue` (what is counted, and where each number sits in a worker's block), `recorder`
(the per-worker counters the request path increments), `block` (the shared memory a worker
publishes them in once a second), `exposition` (the Prometheus text format), `endpoint` (the
small HTTP listener of `--metrics-bind`: /metrics, /livez, /readyz), `probes` (health paths on
the main listener), `readiness` (the master's verdict, shared with the workers) and `statsd`
(gunicorn-compatible UDP). See docs/observability.md and docs/design.md, "Metrics".
"""
