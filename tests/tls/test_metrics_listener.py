"""The metrics of a TLS server name its listener as clients reach it: https://, not http://
(`pronghorn_listen_queue` once said http:// for every TCP listener)."""

from __future__ import annotations

import http.client
import re

from tlstools import Site, https, tls_args

from pronghorn.metrics.textformat import parse_text
from serverproc import Serve


def test_the_listen_queue_of_a_tls_listener_says_https(serve: Serve, site: Site) -> None:
    server = serve(*tls_args(site, "--metrics-bind", "127.0.0.1:0"))
    match = re.search(r"Metrics at: http://127\.0\.0\.1:(\d+)/metrics", server.log_text())
    assert match is not None, server.log_text()
    client = https(site, server.port)  # the listener does speak TLS
    try:
        client.request("GET", "/")
        assert client.getresponse().status == 200
    finally:
        client.close()
    connection = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=10)
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    listeners = [
        labels["listener"] for labels, _ in parse_text(text).series("pronghorn_listen_queue")
    ]
    assert listeners == [f"https://127.0.0.1:{server.port}"]
    limits = parse_text(text).series("pronghorn_listen_queue_limit")
    assert [labels["listener"] for labels, _ in limits] == listeners
