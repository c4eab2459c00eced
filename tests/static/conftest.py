"""Fixtures for the static-file tests: the file tree (see `statictree`) and servers over it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from statictree import Tree, build_tree, start  # noqa: E402

from serverproc import ServerPool, ServerProcess  # noqa: E402


@pytest.fixture(scope="session")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    return build_tree(tmp_path_factory.mktemp("statictree"))


@pytest.fixture(scope="module")
def pool() -> Iterator[ServerPool]:
    servers = ServerPool()
    try:
        yield servers
    finally:
        started = list(servers.servers)
        codes = [server.stop() for server in started]
        for server, code in zip(started, codes, strict=True):
            log = server.log_text()
            assert code == 0, f"exit code {code}; log:\n{log}"
            assert "Traceback" not in log, log


@pytest.fixture(scope="module")
def server(pool: ServerPool, tree: Tree) -> ServerProcess:
    """App plus /static and /media; missing files are 404."""
    return start(
        pool,
        tree,
        "--static",
        f"/static={tree.root}",
        "--static",
        f"/media={tree.media}",
        "staticapp:app",
    )
