"""The one way the test packages start servers in fixtures: `pool_fixture`.

`pool_fixture(name, scope=..., clean_exit=...)` makes a pytest fixture that yields a
`serverproc.ServerPool` (call it with the command's arguments to start a server) and stops
every server it started at teardown. With `clean_exit`, each server must then have exited
0 on SIGTERM and written no traceback to its log: the framework and static tests hold every
server they run to that. Declared once in a conftest (`serve = pool_fixture("serve")`); the
test helper directories are on `sys.path` through pytest's `pythonpath` option
(pyproject.toml), never through code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Literal

import pytest

from serverproc import ServerPool

Scope = Literal["function", "class", "module", "package", "session"]


def pool_fixture(
    name: str, *, scope: Scope = "function", clean_exit: bool = False
) -> Callable[..., Any]:
    """A fixture called `name` yielding a `ServerPool` for `scope`, stopped at teardown."""

    def pool() -> Iterator[ServerPool]:
        servers = ServerPool()
        try:
            yield servers
        finally:
            stop_pool(servers, clean_exit)

    return pytest.fixture(scope=scope, name=name)(pool)


def stop_pool(servers: ServerPool, clean_exit: bool) -> None:
    """Stop every server of `servers` (SIGTERM, then SIGKILL after a deadline); with
    `clean_exit`, fail unless each exited 0 without a traceback in its log."""
    started = list(servers.servers)
    codes = [server.stop() for server in started]
    servers.stop_all()
    if not clean_exit:
        return
    for server, code in zip(started, codes, strict=True):
        log = server.log_text()
        assert code == 0, f"exit code {code} after SIGTERM; log:\n{log}"
        assert "Traceback" not in log, f"traceback in the server log:\n{log}"
