"""What /proc says about a server's processes: children, liveness, descriptors, memory.

Processes are only ever looked at through a pid a test started (or its children), never by
name. Linux only, like the server's epoll engine.
"""

from __future__ import annotations

import os
from pathlib import Path


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # pid (comm) state ppid ...: comm may hold spaces, so split after the last ")".
    return stat.rpartition(")")[2].split()


def children(pid: int) -> set[int]:
    """Live (not zombie) child processes of `pid`."""
    found: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields and int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry))
    return found


def alive(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def open_sockets(pid: int) -> int:
    """Descriptors of `pid` that are sockets (its listeners and its connections)."""
    count = 0
    for entry in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{entry}").startswith("socket:"):
                count += 1
        except OSError:
            continue  # closed while we looked
    return count


def rss_kib(pid: int) -> int:
    """Resident set size (VmRSS) of `pid`, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise LookupError(f"no VmRSS for {pid}")


def voluntary_switches(pid: int) -> int:
    """How many times the threads of `pid` have gone to sleep (each wake-up ends one):
    the sum of `voluntary_ctxt_switches` over /proc/PID/task. A thread that ends meanwhile
    takes its count with it."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            status = Path(f"/proc/{pid}/task/{task}/status").read_text()
        except OSError:
            continue  # ended while we looked
        for line in status.splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                total += int(line.split()[1])
    return total


def cpu_seconds(pid: int) -> float:
    """The CPU time `pid` has used so far, user and system, all its threads."""
    fields = _stat_fields(pid)
    if fields is None:
        raise LookupError(f"no process {pid}")
    # After "pid (comm)": state is field 0, utime and stime are fields 11 and 12.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
