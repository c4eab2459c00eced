"""Run a server command as a child process and learn where it listens.

`ServerProcess` owns one child process: it starts the command, captures its
stderr (and stdout) through reader threads, waits for the
``Listening at: http://HOST:PORT`` line that pronghorn (like gunicorn) prints,
and stops the child with a signal, escalating to SIGKILL after a deadline.
It only ever signals the pid it started.

`ServerPool` starts several and stops them all; the ``serve`` fixture in
``tests/conftest.py`` is built on it.

The command defaults to ``[sys.executable, "-m", "pronghorn"]``. The
environment variable ``PRONGHORN_TEST_COMMAND`` (split with shlex) replaces
it, which lets the suites be checked against another server such as gunicorn.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Protocol

COMMAND_ENV_VAR = "PRONGHORN_TEST_COMMAND"
LISTENING_RE = re.compile(r"Listening at: (https?|uwsgi|http\+proxy)://(\[[^\]]+\]|[^\s:]+):(\d+)")
DEFAULT_START_TIMEOUT = 20.0
DEFAULT_STOP_TIMEOUT = 10.0


def server_command() -> list[str]:
    """Return the argv prefix that starts the server under test."""
    override = os.environ.get(COMMAND_ENV_VAR, "").strip()
    if override:
        return shlex.split(override)
    return [sys.executable, "-m", "pronghorn"]


class ServerStartError(RuntimeError):
    """The server exited or stayed silent before it said where it listens."""


class _StreamCapture:
    """Collects one pipe's text in a buffer, line by line, from a thread."""

    def __init__(self, stream: IO[bytes], changed: threading.Condition) -> None:
        self._stream = stream
        self._changed = changed
        self._chunks: list[str] = []
        self.closed = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for raw in iter(self._stream.readline, b""):
            with self._changed:
                self._chunks.append(raw.decode("utf-8", "replace"))
                self._changed.notify_all()
        self._stream.close()
        with self._changed:
            self.closed = True
            self._changed.notify_all()

    def text(self) -> str:
        with self._changed:
            return "".join(self._chunks)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


class ServerProcess:
    """One server child process, started on construction.

    Use as a context manager, or call `stop()`; `wait_listening()` is called
    by the constructor so `.host` and `.port` are set once it returns.
    """

    def __init__(
        self,
        args: Sequence[str],
        *,
        command: Sequence[str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        start_timeout: float = DEFAULT_START_TIMEOUT,
    ) -> None:
        self.argv = [*(command if command is not None else server_command()), *args]
        full_env = dict(os.environ)
        full_env.update(env or {})
        self._changed = threading.Condition()
        self._proc = subprocess.Popen(
            self.argv,
            cwd=None if cwd is None else Path(cwd),
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._stderr = _StreamCapture(self._proc.stderr, self._changed)
        self._stdout = _StreamCapture(self._proc.stdout, self._changed)
        self.host = ""
        self.port = 0
        self.scheme = "http"
        self.listener_scheme = "http"
        try:
            self.wait_listening(start_timeout)
        except BaseException:
            self.stop(signal.SIGKILL, timeout=5.0)
            raise

    @property
    def pid(self) -> int:
        return self._proc.pid

    def returncode(self) -> int | None:
        """The exit code if the child has exited, else None (never blocks)."""
        return self._proc.poll()

    def log_text(self) -> str:
        """Everything the child wrote to stderr so far."""
        return self._stderr.text()

    def stdout_text(self) -> str:
        """Everything the child wrote to stdout so far."""
        return self._stdout.text()

    def url(self, path: str = "/") -> str:
        """An http (https on a TLS listener) URL for `path` on the listening address."""
        return f"{self.scheme}://{self.host}:{self.port}{path}"

    def wait_listening(self, timeout: float) -> None:
        """Wait for the listening line and record host and port from it."""
        # A TCP listener's line (http, https, uwsgi, http+proxy): a Unix socket's may come first.
        self._wait_for(self._stderr, LISTENING_RE, timeout)
        match = LISTENING_RE.search(self.log_text())
        if match is None:
            raise ServerStartError(f"unparsable listening line:\n{self._describe()}")
        # What the log names the listener; `url()` wants the transport under it.
        self.listener_scheme = match.group(1)
        self.scheme = "https" if match.group(1) == "https" else "http"
        self.host = match.group(2).strip("[]")
        self.port = int(match.group(3))

    def log_mark(self) -> int:
        """Where stderr ends now: pass it as `since` to look only at what comes after
        (a long-lived server's log names earlier connections, and the kernel reuses a
        client's port)."""
        return len(self._stderr.text())

    def wait_for_log(self, substring: str, timeout: float = 10.0, since: int = 0) -> str:
        """Wait until stderr after offset `since` contains `substring`; return that part
        of stderr then.

        Raises ServerStartError with the captured output when the deadline
        passes or the child exits first.
        """
        return self._wait_for(self._stderr, substring, timeout, since)

    def wait_for_stdout(self, substring: str, timeout: float = 10.0) -> str:
        """Like `wait_for_log`, for stdout (where ``--access-logfile -`` writes)."""
        return self._wait_for(self._stdout, substring, timeout)

    def _wait_for(
        self,
        capture: _StreamCapture,
        substring: str | re.Pattern[str],
        timeout: float,
        since: int = 0,
    ) -> str:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                # The condition's lock is re-entrant, so text() may take it again.
                text = capture.text()[since:]
                if isinstance(substring, str) and substring in text:
                    return text
                if isinstance(substring, re.Pattern) and substring.search(text):
                    return text
                if capture.closed or self._proc.poll() is not None:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(min(remaining, 0.5))
        raise ServerStartError(f"{substring!r} not seen in the output:\n{self._describe()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = DEFAULT_STOP_TIMEOUT) -> int:
        """Signal the child, wait up to `timeout`, then SIGKILL; return its exit code."""
        if self._proc.poll() is None:
            self._proc.send_signal(sig)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout)
        self._stderr.join(timeout)
        self._stdout.join(timeout)
        return self._proc.returncode

    def _describe(self) -> str:
        code = self._proc.poll()
        if code is not None:
            # Let the readers drain what the child wrote before it exited.
            self._stderr.join(2.0)
            self._stdout.join(2.0)
        state = "running" if code is None else f"exited with {code}"
        return (
            f"command: {shlex.join(self.argv)}\nstate: {state}\n"
            f"--- stderr ---\n{self.log_text()}--- stdout ---\n{self.stdout_text()}"
        )

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class Serve(Protocol):
    """The type of the ``serve`` fixture's value."""

    def __call__(
        self,
        *args: str,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ServerProcess: ...


class ServerPool:
    """Starts servers on request and stops every one of them at the end."""

    def __init__(self) -> None:
        self.servers: list[ServerProcess] = []

    def __call__(
        self,
        *args: str,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ServerProcess:
        server = ServerProcess(args, cwd=cwd, env=env)
        self.servers.append(server)
        return server

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()
        self.servers.clear()
