"""Shared pytest fixtures for the whole test tree.

``serve`` starts server processes (see `serverproc.ServerProcess`) for one
test and stops all of them at teardown; ``serve_module`` does the same for a test
module (its servers live until the module's last test). Both come from
`serverfixtures.pool_fixture`, which the test packages share.
"""

from __future__ import annotations

import os

from serverfixtures import pool_fixture

# Server processes start in other directories: a relative PYTHONPATH (`PYTHONPATH=src
# pytest`, as in a git worktree) would make them import some other checkout's pronghorn.
if os.environ.get("PYTHONPATH"):
    os.environ["PYTHONPATH"] = os.pathsep.join(
        os.path.abspath(entry) if entry else entry
        for entry in os.environ["PYTHONPATH"].split(os.pathsep)
    )

serve = pool_fixture("serve")
"""``serve(*args, cwd=None, env=None) -> ServerProcess``, stopped after the test."""
serve_module = pool_fixture("serve_module", scope="module")
"""The same, stopped after the test module."""
