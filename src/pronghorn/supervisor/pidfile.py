"""The `--pid` file: the master's process id, written atomically, removed only if ours.

A USR2 upgrade makes the new master rewrite the file; the old master then finds someone
else's pid in it and leaves it alone on exit.
"""

from __future__ import annotations

import contextlib
import os


def write_pidfile(path: str, pid: int) -> None:
    """Write `pid` to `path` through a temporary file and a rename (never half-written)."""
    temporary = f"{path}.{pid}.tmp"
    with open(temporary, "w", encoding="ascii") as file:
        file.write(f"{pid}\n")
        os.fchmod(file.fileno(), 0o644)  # readable by all, whatever the umask (as gunicorn)
    os.replace(temporary, path)


def remove_pidfile(path: str, pid: int) -> None:
    """Remove `path` if it still names `pid`."""
    with contextlib.suppress(OSError, ValueError):
        with open(path, encoding="ascii") as file:
            if int(file.read().strip()) != pid:
                return
        os.unlink(path)
