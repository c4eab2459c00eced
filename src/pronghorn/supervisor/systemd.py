"""What systemd gives a service and what it expects back.

Owns: socket activation (`LISTEN_PID`/`LISTEN_FDS`, and our own `_PRONGHORN_FDS` by which an
old master hands its listening sockets to the new one on USR2) and `notify`, the sd_notify
protocol: one datagram to the unix socket named by `NOTIFY_SOCKET`, written here with the
standard library. Without those variables every function does nothing.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import MutableMapping

SD_LISTEN_FDS_START = 3
UPGRADE_FDS_VAR = "_PRONGHORN_FDS"
"""Set by an old master for the master it starts on USR2: the inherited listener fds."""
OLD_MASTER_VAR = "_PRONGHORN_OLD_MASTER"
"""Set by an old master for the master it starts on USR2: the old master's pid."""
FOREIGN_FDS_VAR = "_PRONGHORN_FOREIGN_FDS"
"""Set by an old master for the master it starts on USR2: which of the fds it hands over
pronghorn did not create (systemd's, fd://), so that no stop closes them to new
connections (see `pronghorn.io.listeners.stop_new_connections`)."""


def inherited_sockets(
    environ: MutableMapping[str, str],
) -> list[tuple[socket.socket, bool]] | None:
    """The listening sockets handed to us (by systemd or an old master), each with whether
    pronghorn created it; None when there are none.

    The variables are removed so that workers and later upgrades do not see them again.
    """
    upgrade = environ.pop(UPGRADE_FDS_VAR, None)
    foreign = {int(part) for part in environ.pop(FOREIGN_FDS_VAR, "").split(",") if part.strip()}
    if upgrade:
        fds = [int(part) for part in upgrade.split(",") if part.strip()]
        return [(_adopt(fd), fd not in foreign) for fd in fds]
    listen_pid = environ.pop("LISTEN_PID", None)
    count = environ.pop("LISTEN_FDS", None)
    environ.pop("LISTEN_FDNAMES", None)
    if listen_pid is None or count is None or listen_pid.strip() != str(os.getpid()):
        return None
    first = SD_LISTEN_FDS_START
    return [(_adopt(fd), False) for fd in range(first, first + int(count))] or None


def _adopt(fd: int) -> socket.socket:
    sock = socket.socket(fileno=fd)
    os.set_inheritable(fd, False)
    sock.setblocking(False)
    return sock


def notify(state: str, environ: MutableMapping[str, str] | None = None) -> bool:
    """Send `state` (as "READY=1") to systemd's notify socket; False if there is none."""
    address = (os.environ if environ is None else environ).get("NOTIFY_SOCKET", "")
    if not address or address[0] not in "/@":
        return False
    target = "\0" + address[1:] if address[0] == "@" else address
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(state.encode("utf-8"), target)
    except OSError:
        return False
    return True


def reloading_message() -> str:
    """RELOADING=1 with the timestamp systemd's Type=notify-reload asks for."""
    return f"RELOADING=1\nMONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}"
