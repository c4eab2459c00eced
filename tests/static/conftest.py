"""Fixtures for the static-file tests: the file tree (see `statictree`) and servers over it."""

from __future__ import annotations

import pytest
from statictree import Tree, build_tree, start

from serverfixtures import pool_fixture
from serverproc import ServerPool, ServerProcess


@pytest.fixture(scope="session")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    return build_tree(tmp_path_factory.mktemp("statictree"))


pool = pool_fixture("pool", scope="module", clean_exit=True)
"""The servers of a test module; each must exit 0 on SIGTERM, without a traceback."""


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
