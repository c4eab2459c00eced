"""Benchmark entry point: run pronghorn and its peers one after another and report ratios.

    python bench/run.py [--quick] [--json out.json] [--servers a,b] [--scenarios x,y]

This file owns the schedule. For each scenario it starts every server that serves it (one worker,
pinned to CPU 0 with taskset), waits until each answers a correct HTTP request, warms each up,
then measures them round-robin (run 1 of every server, then run 2 of every server, ...) with wrk
pinned to CPU 1, reading each server tree's CPU time from /proc around every measured run. Peak RSS
is read before the servers are stopped. Every process started is stopped in a finally block.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import peers
import procs
import report
import scenarios
import servers
import wrk
from report import Row, Run, ScenarioResult
from scenarios import APPS_DIR, BENCH_DIR, Scenario
from servers import Context, ServerSpec

SERVER_CPU = 0
WRK_CPU = 1
CONNECTIONS = 64
READY_TIMEOUT = 15.0
NOISE_LIMIT = 0.10  # a run is "noisy" when other processes take more of a core than this
LOAD_WARN = 1.0  # warn in the report when the 1-minute load average is above this


@dataclass(frozen=True)
class Options:
    duration: float
    warmup: float
    runs: int
    limit_seconds: float
    retry_noisy: int = 0  # measure a noisy run again up to this many times, keep the quietest


FULL = Options(duration=5.0, warmup=1.0, runs=3, limit_seconds=1.0)
QUICK = Options(duration=2.0, warmup=1.0, runs=1, limit_seconds=0.5)  # wrk -d takes whole seconds


@dataclass
class Live:
    """A server that is up for the current scenario."""

    spec: ServerSpec
    row: Row
    server: procs.Server
    port: int


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 s runs, 1 run, fewer scenarios")
    parser.add_argument("--json", type=Path, help="write all raw numbers to this file")
    parser.add_argument("--servers", help="comma-separated server names (default: all)")
    parser.add_argument(
        "--retry-noisy",
        type=int,
        default=0,
        metavar="N",
        help="re-measure a run up to N times when other processes used >10%% of a core",
    )
    parser.add_argument(
        "--scenarios", help="comma-separated scenario names, or 'all' (default: all; quick: core)"
    )
    return parser.parse_args(argv)


def select(args: argparse.Namespace) -> tuple[list[ServerSpec], list[Scenario]]:
    server_names = (
        args.servers.split(",") if args.servers else [s.name for s in servers.SERVERS if s.default]
    )
    if args.scenarios and args.scenarios != "all":
        scenario_names = args.scenarios.split(",")
    elif args.quick and not args.scenarios:
        scenario_names = list(scenarios.QUICK_DEFAULT)
    else:
        scenario_names = [s.name for s in scenarios.SCENARIOS]
    return servers.by_name(server_names), scenarios.by_name(scenario_names)


def server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PYTHONPATH=str(APPS_DIR), PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
    return env


def write_static_files(directory: Path) -> None:
    directory.chmod(0o755)  # nginx's worker runs as an unprivileged user
    pattern = bytes(range(256))
    for scenario in scenarios.SCENARIOS:
        if scenario.kind == "static":
            target = directory / Path(scenario.load.path).name
            target.write_bytes(pattern * (scenario.file_size // 256))
            target.chmod(0o644)


def measure_limit(scenario: Scenario, result: ScenarioResult, seconds: float) -> None:
    """In-process calls/s of the scenario's app, pinned to the server CPU."""
    cmd = ["taskset", "-c", str(SERVER_CPU), str(servers.PEERS_BIN / "python")]
    cmd += [str(BENCH_DIR / "inproc.py"), scenario.module, scenario.method]
    cmd += [str(scenario.body_size), str(seconds)]
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=60, env=server_env(), check=False
    )
    if done.returncode != 0:
        result.limit_error = f"limit failed: {done.stderr.strip().splitlines()[-1:]}"
        return
    result.limit_rps = json.loads(done.stdout)["rps"]


def start_all(
    scenario: Scenario,
    specs: list[ServerSpec],
    ctx: Context,
    installed: frozenset[str],
    registry: procs.ProcessRegistry,
    result: ScenarioResult,
) -> list[Live]:
    """Start every available server for the scenario at once; rows for the others say why."""
    started: list[Live] = []
    for spec in specs:
        row = Row(server=spec.name, peer=spec.peer)
        result.rows.append(row)
        missing = spec.missing(installed)
        if missing:
            row.status, row.reason = "unavailable", missing
            continue
        port = procs.free_port(ctx.host)
        row.argv = spec.argv(ctx, scenario, port)
        log_path = ctx.work_dir / f"{scenario.name}-{spec.name}.log"
        server = registry.add(
            procs.start_server(
                spec.name,
                row.argv,
                cpu=SERVER_CPU,
                cwd=APPS_DIR,
                env=server_env(),
                log_path=log_path,
                stop_signal=spec.stop_signal,
            )
        )
        started.append(Live(spec, row, server, port))
    return started


def check_ready(
    live: list[Live], scenario: Scenario, ctx: Context, registry: procs.ProcessRegistry
) -> list[Live]:
    """Poll all servers together until each answered or READY_TIMEOUT passed; keep the ones
    that answered the scenario's request correctly and stop the rest."""
    deadline = time.monotonic() + READY_TIMEOUT
    pending = {id(item): item for item in live}
    answers: dict[int, procs.Probe] = {}
    while pending and time.monotonic() < deadline:
        for key, item in list(pending.items()):
            probe = procs.try_ready(
                item.server,
                ctx.host,
                item.port,
                scenario.load.path,
                scenario.method,
                scenario.request_body,
                scenario.tls,
            )
            answers[key] = probe
            if probe.status or probe.error.startswith("exited"):
                del pending[key]
        if pending:
            time.sleep(0.05)
    ready: list[Live] = []
    for item in live:
        probe = answers.get(id(item), procs.Probe(error="not probed"))
        problem = _probe_problem(probe, scenario)
        if id(item) in pending:
            problem = f"not ready after {READY_TIMEOUT:.0f}s ({probe.error})"
        if problem:
            last = item.server.log_tail(1)
            item.row.status, item.row.reason = "unavailable", f"{problem}: {last}"
            registry.stop(item.server)
            peers.log(f"{scenario.name}: {item.spec.name} unavailable: {item.row.reason}")
        else:
            ready.append(item)
    return ready


def _probe_problem(probe: procs.Probe, scenario: Scenario) -> str:
    if not probe.status:
        return probe.error
    if not 200 <= probe.status < 300:
        return f"probe answered HTTP {probe.status}"
    if scenario.expect_len and probe.body_len != scenario.expect_len:
        return f"probe body was {probe.body_len} bytes, expected {scenario.expect_len}"
    return ""


def url(ctx: Context, item: Live, scenario: Scenario) -> str:
    scheme = "https" if scenario.tls else "http"
    return f"{scheme}://{ctx.host}:{item.port}{scenario.load.path}"


def make_certificate(ctx: Context) -> None:
    """A self-signed EC certificate for the TLS scenarios (the key in PKCS#8, which
    granian requires)."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "2", "-subj", f"/CN={ctx.host}", "-keyout", str(ctx.key),
         "-out", str(ctx.cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    ctx.key.chmod(0o644)  # servers run as this user; the directory is private to the run


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure_once(item: Live, scenario: Scenario, ctx: Context, opts: Options) -> Run:
    """One measured wrk run against one server, with CPU accounting around it.

    Raises RuntimeError (or ValueError / TimeoutExpired) if wrk fails or the server exits.
    """
    cpu_before = procs.tree_cpu_seconds(item.server.pid)
    core_before = procs.cpu_busy_seconds(SERVER_CPU)
    wrk_core_before = procs.cpu_busy_seconds(WRK_CPU)
    wrk_cpu_before = _children_cpu()
    address = url(ctx, item, scenario)
    got = wrk.run_wrk(address, scenario.load, opts.duration, CONNECTIONS, WRK_CPU)
    wrk_cpu = _children_cpu() - wrk_cpu_before
    wrk_core_busy = procs.cpu_busy_seconds(WRK_CPU) - wrk_core_before
    cpu_used = procs.tree_cpu_seconds(item.server.pid) - cpu_before
    core_busy = procs.cpu_busy_seconds(SERVER_CPU) - core_before
    if item.server.proc.poll() is not None:
        raise RuntimeError("server exited during the run")
    return Run(
        rps=got.rps,
        p50_ms=got.p50_ms,
        p99_ms=got.p99_ms,
        requests=got.requests,
        non2xx=got.non2xx,
        socket_errors=got.socket_errors,
        cpu_us_per_req=cpu_used * 1e6 / got.requests if got.requests else float("nan"),
        server_cpu_s=cpu_used,
        core_busy_s=core_busy,
        noise=max(0.0, core_busy - cpu_used) / opts.duration,
        wrk_noise=max(0.0, wrk_core_busy - wrk_cpu) / opts.duration,
    )


def measure(item: Live, scenario: Scenario, ctx: Context, opts: Options) -> None:
    """One run, repeated (up to opts.retry_noisy times) if other processes crowded either core."""
    best: Run | None = None
    for attempt in range(1 + opts.retry_noisy):
        try:
            run = measure_once(item, scenario, ctx, opts)
        except (RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
            item.row.status, item.row.reason = "failed", str(exc)[:200]
            return
        if best is None or max(run.noise, run.wrk_noise) < max(best.noise, best.wrk_noise):
            best = run
        if max(run.noise, run.wrk_noise) <= NOISE_LIMIT or attempt == opts.retry_noisy:
            break
        peers.log(f"{scenario.name}: {item.spec.name}: noisy run ({_noise(run)}), again")
    assert best is not None
    item.row.runs.append(best)
    peers.log(f"{scenario.name}: {item.spec.name}: {best.rps:,.0f} req/s, {_noise(best)}")


def _noise(run: Run) -> str:
    return f"others used {run.noise:.0%} of the server core, {run.wrk_noise:.0%} of wrk's"


def run_scenario(
    scenario: Scenario,
    specs: list[ServerSpec],
    ctx: Context,
    opts: Options,
    installed: frozenset[str],
    registry: procs.ProcessRegistry,
) -> ScenarioResult:
    result = ScenarioResult(name=scenario.name, kind=scenario.kind, note=scenario.note)
    if scenario.kind == "wsgi":
        measure_limit(scenario, result, opts.limit_seconds)
    serving = [spec for spec in specs if spec.serves(scenario)]
    live = start_all(scenario, serving, ctx, installed, registry, result)
    try:
        live = check_ready(live, scenario, ctx, registry)
        for item in live:
            load = scenario.load
            try:
                wrk.run_wrk(url(ctx, item, scenario), load, opts.warmup, CONNECTIONS, WRK_CPU)
            except (RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
                peers.log(f"{scenario.name}: {item.spec.name}: warm-up: {exc}")
        for _ in range(opts.runs):
            for item in live:
                if item.row.status == "ok":
                    measure(item, scenario, ctx, opts)
        for item in live:
            item.row.peak_rss_mib = procs.tree_peak_rss_kib(item.server.pid) / 1024
    finally:
        for item in live:
            registry.stop(item.server)
    report.summarize(result)
    return result


def _version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    text = (done.stdout + done.stderr).strip()
    return text.splitlines()[0] if done.returncode == 0 and text else "unavailable"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def metadata(argv: list[str], opts: Options, versions: dict[str, str]) -> dict[str, Any]:
    names = ("gunicorn", "waitress", "granian", "bjoern", "uwsgi", "cheroot", "flask", "django")
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": "python bench/run.py " + " ".join(argv),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": f"wrk -t1 -c{CONNECTIONS} -d{opts.duration:g}s --latency (taskset -c {WRK_CPU})",
        "server_cpu": SERVER_CPU,
        "runs": opts.runs,
        "warmup_s": opts.warmup,
        "loadavg_at_end": os.getloadavg()[0],
        "versions": {name: versions.get(name, "not installed") for name in names}
        | {
            "nginx": _version(["nginx", "-v"]),
            "pronghorn": _version([str(servers.PRONGHORN), "--version"]),
        },
    }


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    opts = dataclasses.replace(QUICK if args.quick else FULL, retry_noisy=args.retry_noisy)
    try:
        specs, chosen = select(args)
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 2
    problems = peers.ensure_tools()
    if problems:
        print("; ".join(problems), file=sys.stderr)
        return 1
    versions = peers.ensure_peers()
    installed = frozenset(versions)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    registry = procs.ProcessRegistry()
    results: list[ScenarioResult] = []
    load_at_start = os.getloadavg()[0]
    began = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="pronghorn-bench-") as tmp:
            ctx = Context(host="127.0.0.1", static_dir=Path(tmp) / "static", work_dir=Path(tmp))
            ctx.static_dir.mkdir()
            Path(tmp).chmod(0o755)
            write_static_files(ctx.static_dir)
            if any(scenario.tls for scenario in chosen):
                make_certificate(ctx)
            for scenario in chosen:
                results.append(run_scenario(scenario, specs, ctx, opts, installed, registry))
    except KeyboardInterrupt:
        print("interrupted; all servers stopped", file=sys.stderr)
        return 130
    finally:
        registry.stop_all()
    meta = metadata(argv, opts, versions) | {
        "elapsed_s": round(time.monotonic() - began, 1),
        "loadavg_at_start": load_at_start,
    }
    print(f"<!-- {meta['command']} — {meta['date']} — {meta['cpu']} -->\n")
    if max(load_at_start, meta["loadavg_at_end"]) > LOAD_WARN:
        print(
            f"**Warning: the machine was busy (load average {load_at_start:.1f} at start, "
            f"{meta['loadavg_at_end']:.1f} at end); see the 'other load' column.**\n"
        )
    print(report.markdown(results))
    if args.json:
        report.write_json(args.json, meta, results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
