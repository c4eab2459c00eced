"""`pronghorn_listen_queue` names each main listener by what a client must speak to it:
http, https (tests/tls/test_metrics_listener.py), uwsgi (nginx's `uwsgi_pass uwsgi://`), or
http+proxy when every connection must begin with a PROXY protocol header. The start-up
log's "Listening at" line (master and single process) names it the same way."""

from __future__ import annotations

from pathlib import Path

import pytest
from observing import metrics_port, scrape

from serverproc import Serve


@pytest.mark.parametrize(
    ("options", "scheme"),
    [
        ((), "http"),
        (("--protocol", "uwsgi"), "uwsgi"),
        (("--proxy-protocol", "v1"), "http+proxy"),
    ],
)
def test_each_listener_is_named_by_its_protocol(
    serve: Serve, app_dir: Path, options: tuple[str, ...], scheme: str
) -> None:
    server = serve("-b", "127.0.0.1:0", "--metrics-bind", "127.0.0.1:0", *options,
                   "metricsapp:app", cwd=app_dir)  # fmt: skip
    samples = scrape(metrics_port(server))
    names = {
        dict(labels)["listener"] for name, labels in samples if name == "pronghorn_listen_queue"
    }
    assert names == {f"{scheme}://127.0.0.1:{server.port}"}
    assert server.listener_scheme == scheme
    assert f"Listening at: {scheme}://127.0.0.1:{server.port}" in server.log_text()


@pytest.mark.parametrize(
    ("options", "scheme"),
    [(("--protocol", "uwsgi"), "uwsgi"), (("--proxy-protocol", "v1"), "http+proxy")],
)
def test_a_single_process_logs_the_same_scheme(
    serve: Serve, app_dir: Path, options: tuple[str, ...], scheme: str
) -> None:
    server = serve("-b", "127.0.0.1:0", "--single-process", *options, "metricsapp:app",
                   cwd=app_dir)  # fmt: skip
    assert f"Listening at: {scheme}://127.0.0.1:{server.port}" in server.log_text()
