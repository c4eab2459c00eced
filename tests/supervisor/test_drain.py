"""Graceful stop, reload and upgrade under load: every request the kernel took is answered.

50 clients each send a request that takes 0.5 s in the app to `-w 2 --threads 4`, so most of
them wait in the listen backlog or in socket buffers when the signal comes. See
`drainrounds.py` for what each round checks; `make stress` runs many more rounds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from drainrounds import RoundResult, run_round


def _explain(result: RoundResult) -> str:
    return "\n".join([result.summary, *result.problems, result.log[-4000:]])


@pytest.mark.parametrize("kind", ["term", "hup", "usr2"])
def test_no_request_is_lost(kind: str, app_dir: Path) -> None:
    result = run_round(kind, app_dir)
    assert result.passed, _explain(result)


@pytest.mark.parametrize("kind", ["term", "hup"])
def test_no_request_is_lost_with_reuse_port(kind: str, app_dir: Path) -> None:
    result = run_round(kind, app_dir, extra=("--reuse-port",))
    assert result.passed, _explain(result)
