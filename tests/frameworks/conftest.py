"""Fixtures shared by the framework tests.

``serve_module`` is the module-scoped twin of the top-level ``serve``: each
test module starts its framework's server once. At teardown every server must
stop on SIGTERM with exit code 0 and must not have logged a traceback.
``files_dir`` holds a 1 MiB file of random bytes that the apps serve.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The test modules import fwlayout and webclient from this directory; under
# pytest's importlib mode it is not put on sys.path for us.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from fwlayout import BLOB_NAME, BLOB_SIZE  # noqa: E402

from serverproc import Serve, ServerPool  # noqa: E402


@pytest.fixture(scope="module")
def serve_module() -> Iterator[Serve]:
    pool = ServerPool()
    servers = pool.servers
    try:
        yield pool
    finally:
        started = list(servers)
        codes = [server.stop() for server in started]
        pool.stop_all()
        for server, code in zip(started, codes, strict=True):
            log = server.log_text()
            assert code == 0, f"exit code {code} after SIGTERM; log:\n{log}"
            assert "Traceback" not in log, f"traceback in the server log:\n{log}"


@pytest.fixture(scope="module")
def files_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("files")
    (directory / BLOB_NAME).write_bytes(os.urandom(BLOB_SIZE))
    return directory


@pytest.fixture(scope="module")
def blob(files_dir: Path) -> bytes:
    return (files_dir / BLOB_NAME).read_bytes()
