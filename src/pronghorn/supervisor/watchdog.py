"""The master's watchdog: a worker that hangs is made to say where, then killed.

Owns: `Watchdog.check(workers, timeout)`, run by the master loop on every tick. A worker
*times out* when it has not booted within --timeout, when its heartbeat has stopped for
longer than that, or when its oldest request has been in the application for longer; a
worker that was asked to stop is *overdue* when it is still there after its stop deadline.
Either way the watchdog first logs why (naming the request and how long it has run) and
sends the worker `STACKS_SIGNAL`. The worker has registered that signal with `faulthandler`,
which writes the Python stack of every thread to the error log from the signal handler
itself, so it works even when no thread of the worker can run Python code; then, if its
clock thread still runs, the worker lists its requests in flight (thread by thread, named as
in the stacks) and counts the report in its heartbeat. SIGKILL follows as soon as that count
moves, or after `STACKS_WAIT` seconds.

The verdict on one heartbeat is `timed_out`, a pure decision (tests/supervisor/
test_policies.py); `Watchdog` acts on it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterable

from pronghorn.supervisor.roster import WorkerRecord

STACKS_SIGNAL = signal.SIGUSR2
"""Sent to a worker: write every thread's stack to the error log (workers ignore USR2
otherwise; the master's own USR2 is an upgrade)."""
STACKS_WAIT = 2.0
"""The longest a hung worker is given to write its stacks before SIGKILL. The stacks are
written at once; the list of requests waits for the worker's next beat (at most a second)."""


class Watchdog:
    """Decides which workers hang and ends them; holds no state of its own (the verdicts
    live in the workers' records)."""

    def __init__(self, log: logging.Logger) -> None:
        self.log = log

    def check(self, workers: Iterable[WorkerRecord], timeout: float) -> None:
        """Judge every worker (marking those that beat as booted) and kill those due."""
        now = time.monotonic()
        for record in list(workers):
            if record.kill_at:
                reported = record.heartbeat.stacks_written() != record.stacks_seen
                if reported or now >= record.kill_at:
                    record.kill_at = 0.0
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(record.pid, signal.SIGKILL)
                continue
            if record.killed_for:
                continue
            overdue = bool(record.stop_deadline) and now > record.stop_deadline
            reason = "it did not stop in time" if overdue else timed_out(record, now, timeout)
            if reason:
                self._report_then_kill(record, reason, now, overdue)

    def _report_then_kill(
        self, record: WorkerRecord, reason: str, now: float, overdue: bool
    ) -> None:
        if overdue:
            self.log.error(
                "Worker (pid:%d): %s; dumping its stacks, then killing it", record.pid, reason
            )
            record.killed_for = reason
        else:
            self.log.error(
                "WORKER TIMEOUT (pid:%d): %s; dumping its stacks, then killing it",
                record.pid,
                reason,
            )
            record.killed_for = f"timeout: {reason}"
        record.stacks_seen = record.heartbeat.stacks_written()
        record.kill_at = now + STACKS_WAIT
        try:
            os.kill(record.pid, STACKS_SIGNAL)
        except ProcessLookupError:
            record.kill_at = 0.0


def timed_out(record: WorkerRecord, now: float, timeout: float) -> str:
    """Why `record`'s worker has timed out, or "" if it has not; marks it booted once it
    has beaten."""
    beat = record.heartbeat.read()
    if beat is None:
        if now - record.started > timeout:
            return f"did not boot within {timeout:g} s"
        return ""
    record.booted = True
    if now - beat.alive > timeout:
        return f"no heartbeat for {now - beat.alive:.1f} s"
    if beat.busy_since and now - beat.busy_since > timeout:
        took = now - beat.busy_since
        return f"stuck in request {beat.request!r} for {took:.1f} s"
    return ""
