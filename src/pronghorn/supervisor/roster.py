"""The master's record of its workers, and how a worker's end is told in the log.

Owns: `WorkerRecord` (one forked worker: pid, age, generation, heartbeat, whether it has
booted, whether it was asked to stop or is being killed, and why) and `exit_message`, which turns a
wait status into the log line (exit code, signal, "probably out of memory" for an
unexplained SIGKILL).
"""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass

from pronghorn.supervisor.heartbeat import Heartbeat


@dataclass(slots=True)
class WorkerRecord:
    """One worker process as the master sees it."""

    pid: int
    age: int
    """1 for the first worker ever started, 2 for the next, ... (gunicorn's `worker.age`)."""
    generation: int
    """Workers started after a reload belong to the next generation."""
    heartbeat: Heartbeat
    started: float
    booted: bool = False
    """It has beaten at least once: the app is loaded and it is accepting."""
    stop_deadline: float = 0.0
    """When asked to stop: the monotonic time after which it is killed; 0.0 otherwise."""
    killed_for: str = ""
    """Why the master sent (or is about to send) SIGKILL, if it did."""
    kill_at: float = 0.0
    """While the worker writes its stacks for the watchdog: when SIGKILL follows at the
    latest; 0.0 otherwise."""
    stacks_seen: int = 0
    """The heartbeat's count of stack reports when the watchdog asked for one."""

    @property
    def stopping(self) -> bool:
        return self.stop_deadline > 0.0 or bool(self.killed_for)


def exit_message(record: WorkerRecord, code: int) -> tuple[int, str]:
    """The log level and message for `record`'s end; `code` as `os.waitstatus_to_exitcode`."""
    who = f"Worker (pid:{record.pid})"
    if code < 0:
        name = _signal_name(-code)
        if record.killed_for:
            return logging.WARNING, f"{who} killed by the master: {record.killed_for}"
        if -code == signal.SIGKILL:
            return logging.ERROR, f"{who} was killed by SIGKILL: probably out of memory"
        return logging.ERROR, f"{who} was killed by signal {name}"
    if code == 0:
        if record.stop_deadline:
            return logging.INFO, f"{who} exited"
        return logging.INFO, f"{who} exited on its own (max requests, or its master changed)"
    return logging.ERROR, f"{who} exited with code {code}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
