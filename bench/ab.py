"""A/B of server commands on one scenario: interleaved rounds, every server restarted each round.

    python bench/ab.py [--rounds N] [--seconds S] [--app MODULE:CALLABLE] [--close]
                       [--path PATH] [--scenario NAME] [--together] NAME=COMMAND ...

For telling apart two versions of pronghorn (or one with and without an option) whose
difference is smaller than the noise of one `bench/run.py` row. Each round starts every
COMMAND (with `--bind 127.0.0.1:PORT APP` appended, pinned to CPU 0 with taskset, in
bench/apps), waits until each answers, warms each up for a second, measures each with wrk
(`-t1 -c64`, pinned to CPU 1) for S seconds, and stops them all. The order of the servers
alternates round by round, and every server is started afresh each round, because the
same tree ran a few percent faster or slower from one start to the next (two A/B runs of
long-lived servers put the same variant at 0.992 and at 0.943 of the same baseline), which
a comparison of long-lived servers takes for the change. Prints, per server, the median req/s, the
median CPU time of its whole process tree per request (from /proc), and its ratio to the
first server's req/s in the same round (median, range, and each round's). `--close` sends
every request with `Connection: close` (the hello-close scenario: a connection a request);
`--path` loads another path than `/` (a static file, say, with `--static` in the commands:
`--path /static/file-1k.bin 'a=pronghorn --static /static=DIR'`). `--scenario NAME` takes the
app and the load of a `bench/run.py` scenario instead (`--scenario post-echo` sends its
4 KiB POST bodies; a static scenario loads `/static/file-1k.bin` or `-1m.bin`, which the
commands' `--static` must serve).

`--together` measures the servers of a round at the same time instead of one after the
other: they share CPU 0 (the scheduler gives each an equal part of it) and one wrk each
loads them, all on CPU 1. Whatever slows the machine during a round (another tenant, the
host's clock) then slows every server alike, and the round's ratio keeps only the
difference between them: for a difference of a few percent, which the rounds of the
sequential mode swing well beyond. The req/s are each server's share of one core, not
what it does alone.

Example, what metrics cost the pure build:

    python bench/ab.py off=.venv/bin/pronghorn 'on=.venv/bin/pronghorn --metrics-bind 127.0.0.1:0'

A COMMAND is split on spaces; to measure another tree's sources, run its interpreter with
`env PYTHONPATH=DIR/src .venv/bin/python -m pronghorn`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import procs
import scenarios
from procs import Server
from wrk import LoadSpec, run_wrk

APPS = Path(__file__).resolve().parent / "apps"
SERVER_CPU, WRK_CPU = 0, 1
CONNECTIONS = 64
READY_SECONDS = 20.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--app", default="hello:app")
    parser.add_argument("--close", action="store_true", help="Connection: close on every request")
    parser.add_argument(
        "--path", default="/", help="the URL path to load (a static file: give --static too)"
    )
    parser.add_argument(
        "--together", action="store_true", help="load the servers of a round at the same time"
    )
    parser.add_argument(
        "--scenario",
        help="a scenario of bench/scenarios.py: its app and its load (post-echo's POST body, "
        "say) instead of --app, --close and --path; a static one needs --static in the commands",
    )
    parser.add_argument("servers", nargs="+", metavar="NAME=COMMAND")
    args = parser.parse_args()
    specs = [tuple(spec.split("=", 1)) for spec in args.servers]
    if any(len(spec) != 2 for spec in specs):
        parser.error("each server is NAME=COMMAND")
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in specs}
    load = LoadSpec(args.path, ("Connection: close",) if args.close else ())
    app = args.app
    if args.scenario:
        scenario = scenarios.by_name([args.scenario])[0]
        load = scenario.load
        if scenario.kind == "wsgi":
            app = scenario.target
    with tempfile.TemporaryDirectory() as logs:
        for number in range(args.rounds):
            order = specs if number % 2 == 0 else specs[::-1]
            started = [_start(name, command, app, Path(logs)) for name, command in order]
            try:
                for server, port in started:
                    _wait_until_up(server, port, load.path)
                    _rate(port, 1, load)
                measure = _measure_together if args.together else _measure_in_turn
                for name, result in measure(started, args.seconds, load).items():
                    runs[name].append(result)
            finally:
                for server, _ in started:
                    procs.stop_server(server)
    _report(runs)
    return 0


def _measure_in_turn(
    started: list[tuple[Server, int]], seconds: int, load: LoadSpec
) -> dict[str, tuple[float, float]]:
    """Each server alone, one after the other: (req/s, CPU µs a request) by name."""
    return {server.name: _measure(server, port, seconds, load) for server, port in started}


def _measure_together(
    started: list[tuple[Server, int]], seconds: int, load: LoadSpec
) -> dict[str, tuple[float, float]]:
    """Every server at once, a wrk each (see the module's docstring)."""
    with ThreadPoolExecutor(len(started)) as pool:
        futures = {
            server.name: pool.submit(_measure, server, port, seconds, load)
            for server, port in started
        }
        return {name: future.result() for name, future in futures.items()}


def _measure(server: Server, port: int, seconds: int, load: LoadSpec) -> tuple[float, float]:
    before = procs.tree_cpu_seconds(server.pid)
    rate = _rate(port, seconds, load)
    cpu = procs.tree_cpu_seconds(server.pid) - before
    return rate, cpu / (rate * seconds) * 1e6


def _report(runs: dict[str, list[tuple[float, float]]]) -> None:
    base = next(iter(runs))
    for name, results in runs.items():
        ratios = [
            rate / base_rate for (rate, _), (base_rate, _) in zip(results, runs[base], strict=True)
        ]
        print(
            f"{name}: {statistics.median(r for r, _ in results):,.0f} req/s, "
            f"{statistics.median(c for _, c in results):.2f} µs CPU a request, "
            f"÷ {base} {statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f}; "
            f"{' '.join(f'{r:.3f}' for r in ratios)})"
        )


def _start(name: str, command: str, app: str, logs: Path) -> tuple[Server, int]:
    port = procs.free_port()
    # The servers run in bench/apps: a word that names a file from here becomes absolute.
    words = [os.path.abspath(w) if Path(w).exists() else w for w in command.split()]
    argv = [*words, "--bind", f"127.0.0.1:{port}", app]
    log = logs / f"{name}-{port}.log"
    server = procs.start_server(
        name, argv, cpu=SERVER_CPU, cwd=APPS, env=dict(os.environ), log_path=log
    )
    return server, port


def _wait_until_up(server: Server, port: int, path: str) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        probe = procs.try_ready(server, "127.0.0.1", port, path, "GET", b"")
        if probe.status == 200:
            return
        if "exited" in probe.error:  # procs.try_ready gave up: the server is gone
            raise SystemExit(f"{server.name} {probe.error}:\n{server.log_tail()}")
        time.sleep(0.05)  # polling with a deadline, not waiting for readiness blind
    raise SystemExit(f"{server.name} did not answer within {READY_SECONDS:g} s")


def _rate(port: int, seconds: int, load: LoadSpec) -> float:
    url = f"http://127.0.0.1:{port}{load.path}"
    return run_wrk(url, load, seconds, CONNECTIONS, WRK_CPU).rps


if __name__ == "__main__":
    raise SystemExit(main())
