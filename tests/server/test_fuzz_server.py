"""A short run of the server fuzzer (tests/server/fuzzserver.py) in every `make test`: the
same 120 generated streams each time (seed 0, small bodies), about 5 seconds. `make fuzz`
runs it for minutes, coverage-guided, with bodies up to 64 KiB."""

from __future__ import annotations

import os

from fuzzserver import FuzzRun, start_server


def test_server_survives_fuzzed_streams() -> None:
    seed = int(os.environ.get("FUZZ_SEED", "0"))
    with start_server() as server:
        run = FuzzRun(server, max_body=512)
        run.run_random(seed, seconds=60, count=120)
        report = run.finish()
    assert report.streams == 120
    assert not report.unexpected(), f"seed {seed}\n{report.describe()}"
