"""`--reload`: notice when a Python source file changes.

Owns: `SourceWatcher`, which watches the given directories for `.py` changes, with
watchfiles on a background thread when it is installed, else by polling file times from the
master loop. Either way the master learns of a change through `changed()` and restarts its
workers; the watcher itself never signals anything.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence

_SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages"})
_MAX_FILES = 20_000


class SourceWatcher:
    """Tells the master when a `.py` file under `roots` changes. `wake` is called from the
    watchfiles thread (if any) so the master loop looks at `changed()` at once."""

    def __init__(self, roots: Sequence[str], wake: Callable[[], None]) -> None:
        self._roots = [os.path.abspath(root) for root in roots]
        self._wake = wake
        self._flag = threading.Event()
        self._stop = threading.Event()
        self._snapshot: dict[str, float] = {}
        self._thread: threading.Thread | None = None
        self.engine = "poll"
        try:
            import watchfiles  # noqa: F401
        except ImportError:
            self._snapshot = _scan(self._roots)
        else:
            self.engine = "watchfiles"
            self._thread = threading.Thread(target=self._watch, name="reloader", daemon=True)
            self._thread.start()

    def _watch(self) -> None:
        import watchfiles

        for _changes in watchfiles.watch(
            *self._roots, watch_filter=watchfiles.PythonFilter(), stop_event=self._stop
        ):
            self._flag.set()
            self._wake()

    def changed(self) -> bool:
        """True once per change (or burst of changes) since the last call."""
        if self._thread is None:
            current = _scan(self._roots)
            if current != self._snapshot:
                self._snapshot = current
                return True
            return False
        if self._flag.is_set():
            self._flag.clear()
            return True
        return False

    def close(self) -> None:
        self._stop.set()


def _scan(roots: Sequence[str]) -> dict[str, float]:
    return dict(_python_files(roots))


def _python_files(roots: Sequence[str]) -> Iterator[tuple[str, float]]:
    count = 0
    for root in roots:
        for directory, subdirs, files in os.walk(root):
            subdirs[:] = [d for d in subdirs if not d.startswith(".") and d not in _SKIP_DIRS]
            for name in files:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(directory, name)
                try:
                    yield path, os.stat(path).st_mtime
                except OSError:
                    continue
                count += 1
                if count >= _MAX_FILES:
                    return
