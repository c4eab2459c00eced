"""Graceful stop, reload and upgrade under load: every request the kernel took is answered.

50 clients each send a request that takes 0.5 s in the app to `-w 2 --threads 4`, so most of
them wait in the listen backlog or in socket buffers when the signal comes. See
`drainrounds.py` for what each round checks; `make stress` runs many more rounds. They
take about 18 s together.
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


def test_no_request_is_lost_in_a_reload_with_reuse_port(app_dir: Path) -> None:
    # Each retiring worker's socket is its own: it must drain it (`make stress` also runs
    # TERM with `--reuse-port`: python tests/stress/drain_stress.py --reuse-port).
    result = run_round("hup", app_dir, extra=("--reuse-port",))
    assert result.passed, _explain(result)
