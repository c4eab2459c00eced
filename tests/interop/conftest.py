"""Fixtures for the interop tests: pronghorn serving `echo_app`, and nginx and haproxy before it.

Each is started once per test module (per xdist worker). `proxy` is parametrised over both
proxies, so every test that takes it runs through nginx and through haproxy. A proxy binary
that is missing fails the tests (it does not skip them): `make test` installs both.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from differential import Upstream
from echo_app import LOG_ENV
from proxies import ProxyMissing, ProxyProcess, start_proxy

from serverproc import Serve

_HERE = Path(__file__).resolve().parent

# One worker, one thread: the fence in `differential` relies on it. Idle upstream
# connections live longer here than in either proxy's pool, so a proxy never reuses one that
# pronghorn is closing at that moment (which would be a 502 of the test's own making).
PRONGHORN_OPTIONS = (
    "--threads", "1",
    "--keep-alive", "30",
    "--header-timeout", "5",
    "--io-timeout", "5",
)  # fmt: skip
PROXIES = ("nginx", "haproxy")


@pytest.fixture(scope="module")
def upstream(serve_module: Serve, tmp_path_factory: pytest.TempPathFactory) -> Upstream:
    app_log = tmp_path_factory.mktemp("pronghorn") / "app.jsonl"
    args = ["--pythonpath", str(_HERE), "-b", "127.0.0.1:0", *PRONGHORN_OPTIONS, "echo_app:app"]
    return Upstream(serve_module(*args, env={LOG_ENV: str(app_log)}), app_log)


def _proxy(kind: str, upstream: Upstream, tmp: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    try:
        proxy = start_proxy(kind, tmp.mktemp(kind), upstream.server.port)
    except ProxyMissing as missing:
        pytest.fail(str(missing), pytrace=False)
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture(scope="module")
def nginx(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    yield from _proxy("nginx", upstream, tmp_path_factory)


@pytest.fixture(scope="module")
def haproxy(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    yield from _proxy("haproxy", upstream, tmp_path_factory)


@pytest.fixture(scope="module", params=PROXIES)
def proxy(request: pytest.FixtureRequest) -> ProxyProcess:
    started: ProxyProcess = request.getfixturevalue(request.param)
    return started
