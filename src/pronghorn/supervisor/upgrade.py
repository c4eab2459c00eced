"""The USR2 upgrade: a new master, started by the old one, that takes over the same sockets.

Owns both sides of a binary upgrade. The old master's side: whether a USR2 may start one
(`refusal`), the environment the new master inherits (`new_master_environment`: the
listening descriptors, which of them are foreign, who the old master is, plus what the
caller adds), the fork and exec (`start`), and a new master that exits before taking over
(`child_exited`). The new master's side: knowing it is one (`_PRONGHORN_OLD_MASTER`, read
once at start), and taking over once its workers serve (`take_over`: the pid file,
systemd's MAINPID, TERM to the old master only if it is still our parent).

While an upgrade is under way the two masters share the listening sockets
(`shares_listeners`): a stopping master then neither drains the backlog nor removes Unix
socket paths, since the other one goes on accepting on them. `Master` keeps the loop and
asks this object; it holds only the two pids.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Iterable, Mapping, MutableMapping

from pronghorn.errors import EXIT_FAILURE
from pronghorn.io.listeners import Listener
from pronghorn.supervisor import systemd
from pronghorn.supervisor.pidfile import write_pidfile


def new_master_environment(
    base: Mapping[str, str],
    listeners: Iterable[Listener],
    pid: int,
    extra: Mapping[str, str],
) -> tuple[list[int], dict[str, str]]:
    """The descriptors a new master inherits and its environment: `base`, the listening
    descriptors, those not ours to filter (systemd's, `fd://`), this master's `pid`, then
    `extra` (the telemetry's)."""
    listeners = list(listeners)
    fds = [listener.sock.fileno() for listener in listeners]
    env = dict(base)
    env[systemd.UPGRADE_FDS_VAR] = ",".join(str(fd) for fd in fds)
    foreign = [str(lst.sock.fileno()) for lst in listeners if not lst.owned]
    env[systemd.FOREIGN_FDS_VAR] = ",".join(foreign)
    env[systemd.OLD_MASTER_VAR] = str(pid)
    env.update(extra)
    return fds, env


class Upgrade:
    """One master's part in USR2 upgrades: the new master it started, the old one it
    replaces (0: none)."""

    def __init__(self, old_master: int = 0) -> None:
        self.child = 0
        """The new master this one started and that has not exited (0: none)."""
        self.old_master = old_master
        """The master this one replaces until it has taken over (0: none)."""

    @classmethod
    def from_environment(cls, environ: MutableMapping[str, str]) -> Upgrade:
        """The upgrade state of a master just started; removes the variable, so that the
        workers and a later new master do not see it."""
        return cls(int(environ.pop(systemd.OLD_MASTER_VAR, "0") or 0))

    @property
    def shares_listeners(self) -> bool:
        """Another master accepts on the listening sockets too (either side of an upgrade)."""
        return bool(self.child or self.old_master)

    def refusal(self, stopping: str, can_reexec: bool) -> str:
        """Why a USR2 now starts nothing ("": it may start). `can_reexec`: there is a
        command line to run again."""
        if stopping or self.shares_listeners:
            return "USR2 ignored: an upgrade is already under way or we are stopping"
        if not can_reexec:
            return (
                "USR2 ignored: this server was started by pronghorn.serve() with an "
                "application object, which a new master cannot import; restart the process "
                "to run new code (HUP starts new workers with the same object)"
            )
        return ""

    def start(self, argv: list[str], cwd: str, fds: list[int], env: dict[str, str]) -> int:
        """Fork and exec the new master (`argv` after `python -m pronghorn`) in `cwd`, with
        `fds` inherited; return its pid."""
        full_argv = [sys.executable, "-m", "pronghorn", *argv]
        pid = os.fork()
        if pid == 0:
            try:
                for fd in fds:
                    os.set_inheritable(fd, True)
                os.chdir(cwd)
                os.execve(sys.executable, full_argv, env)
            finally:
                os._exit(EXIT_FAILURE)
        self.child = pid
        return pid

    def child_exited(self, pid: int, code: int, log: logging.Logger) -> bool:
        """Whether the reaped `pid` was the new master (then it failed to take over)."""
        if not pid or pid != self.child:
            return False
        log.error("The new master (pid %d) exited with %d before taking over", pid, code)
        self.child = 0
        return True

    def take_over(self, pid: int, pidfile: str | None, log: logging.Logger) -> None:
        """The new master, once its workers serve: take over the pid file and systemd's
        main pid, then retire the old master (only if it is still our parent, so no
        stranger gets the signal)."""
        if pidfile:
            write_pidfile(pidfile, pid)
        systemd.notify(f"MAINPID={pid}\nREADY=1")
        if os.getppid() == self.old_master:
            log.info("Upgrade: taking over from master %d", self.old_master)
            os.kill(self.old_master, signal.SIGTERM)
        self.old_master = 0
