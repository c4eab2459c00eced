"""The master's policies decided without processes: the USR2 upgrade's rules and
environment (`pronghorn.supervisor.upgrade`) and the watchdog's verdict on a worker's
heartbeat (`pronghorn.supervisor.watchdog.timed_out`). Real sockets and real shared-memory
heartbeats; nothing is forked or signalled (test_signals.py and test_heartbeat.py do that)."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator

import pytest

from pronghorn.io.listeners import Listener, describe
from pronghorn.supervisor import systemd
from pronghorn.supervisor.heartbeat import Heartbeat
from pronghorn.supervisor.roster import WorkerRecord
from pronghorn.supervisor.upgrade import Upgrade, new_master_environment
from pronghorn.supervisor.watchdog import timed_out

LOG = logging.getLogger("test_policies")


@pytest.fixture
def listeners() -> Iterator[list[Listener]]:
    socks = [socket.socket(), socket.socket()]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
            sock.listen()
        yield [describe(socks[0], owned=True), describe(socks[1], owned=False)]
    finally:
        for sock in socks:
            sock.close()


def test_a_fresh_master_may_upgrade() -> None:
    upgrade = Upgrade()
    assert upgrade.refusal("", can_reexec=True) == ""
    assert not upgrade.shares_listeners


@pytest.mark.parametrize(
    ("stopping", "child", "old_master"),
    [("graceful", 0, 0), ("quick", 0, 0), ("", 4321, 0), ("", 0, 1234)],
)
def test_usr2_is_refused_while_stopping_or_during_an_upgrade(
    stopping: str, child: int, old_master: int
) -> None:
    upgrade = Upgrade(old_master)
    upgrade.child = child
    assert "already under way or we are stopping" in upgrade.refusal(stopping, can_reexec=True)


def test_usr2_is_refused_without_a_command_line_to_run_again() -> None:
    assert "pronghorn.serve()" in Upgrade().refusal("", can_reexec=False)


def test_either_side_of_an_upgrade_shares_the_listeners() -> None:
    new_master = Upgrade(old_master=1234)
    assert new_master.shares_listeners
    old_master = Upgrade()
    old_master.child = 4321
    assert old_master.shares_listeners


def test_the_old_master_is_read_once_from_the_environment() -> None:
    environ = {systemd.OLD_MASTER_VAR: "1234", "OTHER": "x"}
    assert Upgrade.from_environment(environ).old_master == 1234
    assert environ == {"OTHER": "x"}  # the workers and a later new master do not see it
    assert Upgrade.from_environment(environ).old_master == 0


def test_the_new_master_inherits_the_listeners_and_learns_which_are_foreign(
    listeners: list[Listener],
) -> None:
    fds, env = new_master_environment({"KEEP": "1"}, listeners, 777, {"EXTRA": "2"})
    assert fds == [listener.sock.fileno() for listener in listeners]
    assert env[systemd.UPGRADE_FDS_VAR] == f"{fds[0]},{fds[1]}"
    assert env[systemd.FOREIGN_FDS_VAR] == str(fds[1])  # not owned: no filter on it
    assert env[systemd.OLD_MASTER_VAR] == "777"
    assert env["KEEP"] == "1" and env["EXTRA"] == "2"


def test_only_the_new_master_exiting_ends_the_upgrade(caplog: pytest.LogCaptureFixture) -> None:
    upgrade = Upgrade()
    upgrade.child = 4321
    assert not upgrade.child_exited(999, 0, LOG)  # a worker
    assert upgrade.child == 4321
    with caplog.at_level(logging.ERROR, LOG.name):
        assert upgrade.child_exited(4321, 3, LOG)
    assert upgrade.child == 0
    assert "exited with 3 before taking over" in caplog.text
    assert not upgrade.child_exited(0, 0, LOG)  # nothing reaped, no upgrade


@pytest.fixture
def heartbeat() -> Iterator[Heartbeat]:
    beat = Heartbeat()
    try:
        yield beat
    finally:
        beat.close()


def _record(heartbeat: Heartbeat, started: float) -> WorkerRecord:
    return WorkerRecord(os.getpid(), 1, 1, heartbeat, started)


def test_a_worker_that_never_beats_times_out_after_the_timeout(heartbeat: Heartbeat) -> None:
    record = _record(heartbeat, started=100.0)
    assert timed_out(record, 129.0, 30.0) == ""
    assert timed_out(record, 131.0, 30.0) == "did not boot within 30 s"
    assert not record.booted


def test_a_beating_idle_worker_is_booted_and_fine(heartbeat: Heartbeat) -> None:
    record = _record(heartbeat, started=100.0)
    heartbeat.write(200.0, None)
    assert timed_out(record, 229.0, 30.0) == ""
    assert record.booted


def test_a_silent_heartbeat_times_out(heartbeat: Heartbeat) -> None:
    record = _record(heartbeat, started=100.0)
    heartbeat.write(200.0, None)
    assert timed_out(record, 231.0, 30.0) == "no heartbeat for 31.0 s"


def test_a_request_stuck_in_the_app_times_out_and_is_named(heartbeat: Heartbeat) -> None:
    record = _record(heartbeat, started=100.0)
    heartbeat.write(240.0, (205.0, "GET /slow"))
    assert timed_out(record, 234.0, 30.0) == ""
    assert timed_out(record, 240.0, 30.0) == "stuck in request 'GET /slow' for 35.0 s"
