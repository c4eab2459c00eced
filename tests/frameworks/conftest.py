"""Fixtures shared by the framework tests.

``serve_module`` is the top-level one held to more: each test module starts
its framework's server once, and at teardown every server must stop on SIGTERM
with exit code 0 and must not have logged a traceback.
``files_dir`` holds a 1 MiB file of random bytes that the apps serve.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fwlayout import BLOB_NAME, BLOB_SIZE

from serverfixtures import pool_fixture

serve_module = pool_fixture("serve_module", scope="module", clean_exit=True)


@pytest.fixture(scope="module")
def files_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("files")
    (directory / BLOB_NAME).write_bytes(os.urandom(BLOB_SIZE))
    return directory


@pytest.fixture(scope="module")
def blob(files_dir: Path) -> bytes:
    return (files_dir / BLOB_NAME).read_bytes()
