"""examples/systemd/, run as systemd runs it: the socket passed by socket activation, the
service started by its first connection, READY/RELOADING/STOPPING told to a notify socket,
ExecReload's command reloading with no failed request, KillSignal stopping it cleanly.

`systemd-socket-activate` (from Debian's systemd package) does what the .socket unit asks
of systemd: it listens on ListenStream, waits for the first connection, then execs the
ExecStart command with LISTEN_FDS/LISTEN_PID. What only systemd itself does (User=,
SocketMode=, restarts) is not run here.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from recipefiles import EXAMPLES, substitute, unit_file, wait_until

from procstat import children

SOCKET_UNIT = EXAMPLES / "systemd" / "pronghorn.socket"
SERVICE_UNIT = EXAMPLES / "systemd" / "pronghorn.service"
APP = """\
import os

def application(environ, start_response):
    body = f"{os.getpid()} {environ['SERVER_NAME']}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""


def _get_unix(path: str, timeout: float = 15.0) -> tuple[int, bytes]:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def _listening(path: str) -> bool:
    """Whether a socket is listening at `path` (/proc/net/unix: flags 00010000). The file
    exists from bind(), a moment before listen(): a connect in between is refused."""
    with open("/proc/net/unix", encoding="ascii", errors="replace") as table:
        for line in table:
            fields = line.split()
            if len(fields) >= 8 and fields[7] == path and fields[3] == "00010000":
                return True
    return False


class _Notifications:
    """The sd_notify datagrams the service sends, collected by a thread."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.path)
        self._sock.settimeout(0.2)
        self.messages: list[str] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        while not self._done.is_set():
            try:
                self.messages.append(self._sock.recv(4096).decode())
            except TimeoutError:
                continue

    def count(self, word: str) -> int:
        return sum(word in message.split("\n") for message in list(self.messages))

    def close(self) -> None:
        self._done.set()
        self._thread.join(5)
        self._sock.close()


def _service_command(workdir: Path) -> list[str]:
    service = unit_file(SERVICE_UNIT)["Service"]
    words = shlex.split(service["ExecStart"])
    pronghorn = str(Path(sys.executable).with_name("pronghorn"))
    words = substitute(words, "/srv/myproject/.venv/bin/pronghorn", pronghorn)
    words = substitute(words, "myproject.wsgi:application", "app:application")
    assert service["WorkingDirectory"] == "/srv/myproject"
    (workdir / "app.py").write_text(APP)
    return words


def test_units_agree_with_each_other() -> None:
    service = unit_file(SERVICE_UNIT)
    words = shlex.split(service["Service"]["ExecStart"])
    graceful = float(words[words.index("--graceful-timeout") + 1])
    # systemd's SIGKILL must not cut the graceful stop short.
    assert float(service["Service"]["TimeoutStopSec"]) > graceful
    assert service["Service"]["Type"] == "notify"
    assert service["Service"]["KillMode"] == "mixed"
    assert service["Unit"]["Requires"] == SOCKET_UNIT.name
    # No --bind: the listening socket is the one systemd passes.
    assert not {"-b", "--bind"} & set(words)


def test_socket_activation_reload_and_stop(tmp_path: Path) -> None:
    activate = shutil.which("systemd-socket-activate")
    assert activate, "systemd-socket-activate is missing: `make test` installs systemd"
    socket_path = str(tmp_path / "pronghorn.sock")
    listen = unit_file(SOCKET_UNIT)["Socket"]["ListenStream"]
    assert listen == "/run/pronghorn/pronghorn.sock"
    notifications = _Notifications(tmp_path / "notify.sock")
    extra_env = ["-E", f"NOTIFY_SOCKET={notifications.path}", "-E", "PYTHONDONTWRITEBYTECODE=1"]
    if os.environ.get("PYTHONPATH"):
        extra_env += ["-E", f"PYTHONPATH={os.environ['PYTHONPATH']}"]
    command = [activate, "-l", socket_path, *extra_env, *_service_command(tmp_path)]
    proc = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE)
    try:
        assert wait_until(lambda: _listening(socket_path), 10), "socket never listened"
        # The first connection starts the service; it waits in the queue meanwhile.
        status, body = _get_unix(socket_path)
        assert (status, body.split()[1]) == (200, b"example.com")
        assert wait_until(lambda: notifications.count("READY=1") == 1, 10)

        # ExecReload, with $MAINPID the service's pid, while requests keep coming.
        reload_words = shlex.split(unit_file(SERVICE_UNIT)["Service"]["ExecReload"])
        reload_words = substitute(reload_words, "$MAINPID", str(proc.pid))
        # The workers before the reload (-w 4, all booted once READY=1 was sent).
        old_pids = {str(pid).encode() for pid in children(proc.pid)}
        assert body.split()[0] in old_pids and len(old_pids) == 4
        statuses: list[int] = []
        subprocess.run(reload_words, check=True, timeout=10)
        deadline = time.monotonic() + 15
        while notifications.count("READY=1") < 2 and time.monotonic() < deadline:
            statuses.append(_get_unix(socket_path)[0])
        assert notifications.count("RELOADING=1") == 1
        assert notifications.count("READY=1") == 2
        assert statuses and set(statuses) == {200}
        # New workers take over (an old one may still take a connection or two while its
        # stop signal is on the way).
        assert wait_until(lambda: _get_unix(socket_path)[1].split()[0] not in old_pids, 10)

        # KillSignal to the main process only (KillMode=mixed).
        proc.send_signal(signal.SIGTERM)
        timeout_stop = float(unit_file(SERVICE_UNIT)["Service"]["TimeoutStopSec"])
        _, err = proc.communicate(timeout=timeout_stop)
        assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
        assert wait_until(lambda: notifications.count("STOPPING=1") == 1, 5)
        # The socket is systemd's: the service leaves it in place for its next start.
        assert os.path.exists(socket_path)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        notifications.close()
