"""One round of each kind: start a server, fill it with requests, signal it, judge the outcome.

`run_round(kind, app_dir)` starts `pronghorn -w 2 --threads 4` (by default) on the test app
in `app_dir`, sends `clients` requests that each take `seconds` in the app, so that most of
them wait in the listen backlog or in socket buffers, and then:

- ``term``: SIGTERM to the master. Every request sent must be answered; late clients may be
  refused but never reset; the master exits 0, after the last response.
- ``hup``: SIGHUP. New workers take over, the old ones finish; nothing may fail, late clients
  included.
- ``usr2``: SIGUSR2. A new master takes over and stops the old one; nothing may fail.

It returns a `RoundResult` with the counts and what went wrong; the server (and, for usr2, the
new master it started) is stopped before it returns. Only processes the round started are
signalled, by pid.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from drainload import DrainRound
from svtools import BIND, ENV, alive, children, wait_until

from serverproc import ServerProcess

KINDS = ("term", "hup", "usr2")


@dataclass
class RoundResult:
    kind: str
    summary: str = ""
    lost: int = 0
    """Requests sent and not answered, and late clients reset, closed or left waiting (and,
    for hup and usr2, refused)."""
    problems: list[str] = field(default_factory=list)
    """Anything else wrong: exit status, an error in the log, a step that did not happen."""
    log: str = ""

    @property
    def passed(self) -> bool:
        return self.lost == 0 and not self.problems


def run_round(
    kind: str,
    app_dir: Path,
    *,
    workers: int = 2,
    threads: int = 4,
    clients: int = 50,
    seconds: float = 0.5,
    graceful: float = 30.0,
    extra: Sequence[str] = (),
) -> RoundResult:
    """One round of `kind` (see the module docstring)."""
    pidfile = app_dir / "master.pid"
    args = [
        *BIND,
        *("-w", str(workers), "--threads", str(threads)),
        *("--graceful-timeout", f"{graceful:g}", "--pid", str(pidfile)),
        *extra,
        "svapp:app",
    ]
    result = RoundResult(kind)
    server = ServerProcess(args, cwd=app_dir, env=ENV)
    new_master = 0
    try:
        master = server.pid
        if not wait_until(lambda: "Ready:" in server.log_text(), 10):
            result.problems.append("the server did not get ready")
            return result
        load = DrainRound(
            server.host, server.port, clients=clients, seconds=seconds, timeout=graceful + 10
        )
        load.start()
        if kind == "term":
            _term(server, load, graceful, result)
        elif kind == "hup":
            _hup(server, master, workers, load, result)
        elif kind == "usr2":
            new_master = _usr2(server, pidfile, workers, load, result)
        else:
            raise ValueError(f"unknown round kind {kind!r}")
        load.finish()
        result.summary = load.summary()
        result.lost = load.failures(refusals_allowed=kind == "term")
    finally:
        if new_master and alive(new_master):
            os.kill(new_master, signal.SIGTERM)  # started by this round, through the old master
            if not wait_until(lambda: not alive(new_master), 15):
                os.kill(new_master, signal.SIGKILL)
                result.problems.append(f"the new master {new_master} did not stop")
        server.stop(timeout=15)
        result.log = server.log_text()
    for bad in ("accept failed", "Traceback", "crashed"):
        if bad in result.log:
            result.problems.append(f"the log says {bad!r}")
    return result


def _term(server: ServerProcess, load: DrainRound, graceful: float, result: RoundResult) -> None:
    os.kill(server.pid, signal.SIGTERM)
    load.follow(stop_on_refusal=True)
    if not wait_until(lambda: server.returncode() is not None, graceful + 10):
        result.problems.append("the master did not exit")
    elif server.returncode() != 0:
        result.problems.append(f"the master exited with {server.returncode()}")


def _hup(
    server: ServerProcess, master: int, workers: int, load: DrainRound, result: RoundResult
) -> None:
    old = children(master)
    os.kill(master, signal.SIGHUP)
    load.follow(stop_on_refusal=False)
    if not wait_until(lambda: "Reload complete" in server.log_text(), 20):
        result.problems.append("the reload did not complete")
        return
    if not wait_until(lambda: not children(master) & old, 40):
        result.problems.append("the old workers did not exit")
        return
    if len(children(master)) != workers:
        result.problems.append(f"{len(children(master))} workers after the reload")
    _more_late(load, result)


def _usr2(
    server: ServerProcess, pidfile: Path, workers: int, load: DrainRound, result: RoundResult
) -> int:
    old = server.pid
    os.kill(old, signal.SIGUSR2)
    load.follow(stop_on_refusal=False)
    if not wait_until(lambda: _pid_in(pidfile) not in (0, old), 20):
        result.problems.append("no new master took over the pid file")
        return 0
    new = _pid_in(pidfile)
    if not wait_until(lambda: server.returncode() is not None, 40):
        result.problems.append("the old master did not exit")
    elif server.returncode() != 0:
        result.problems.append(f"the old master exited with {server.returncode()}")
    if not wait_until(lambda: len(children(new)) == workers, 10):
        result.problems.append("the new master has not got its workers")
    _more_late(load, result)
    return new


def _more_late(load: DrainRound, result: RoundResult) -> None:
    """Let the late clients make a few more requests to the server that took over."""
    seen = load.late_count()
    if not wait_until(lambda: load.late_count() >= seen + 20, 10):
        result.problems.append("late clients made no progress after the takeover")


def _pid_in(path: Path) -> int:
    try:
        return int(path.read_text().strip() or "0")
    except (OSError, ValueError):
        return 0
