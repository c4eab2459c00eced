"""Process options: Python/gunicorn config files with hooks, systemd notify and socket
activation, --reuse-port, --preload, --reload, USR1 and --single-process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from svtools import BIND, ENV, children, get, wait_until, write_app

from serverproc import Serve

GUNICORN_CONF = """\
import multiprocessing

bind = "127.0.0.1:0"
workers = 2
keepalive = 3
preload_app = False
worker_class = "sync"
_private = 1

def _note(line):
    with open({events!r}, "a") as file:
        file.write(line + "\\n")

def on_starting(server):
    _note("on_starting")

def when_ready(server):
    _note(f"when_ready {{server.num_workers}}")

def post_fork(server, worker):
    _note(f"post_fork {{worker.age}}")

def worker_exit(server, worker):
    _note("worker_exit")

def on_exit(server):
    _note("on_exit")
"""


def test_gunicorn_conf_py_settings_and_hooks(serve: Serve, app_dir: Path) -> None:
    events = app_dir / "events.txt"
    conf = app_dir / "gunicorn.conf.py"
    conf.write_text(GUNICORN_CONF.format(events=str(events)))
    server = serve(*BIND, "-c", str(conf), "svapp:app", cwd=app_dir, env=ENV)
    assert wait_until(lambda: len(children(server.pid)) == 2, 5)
    assert wait_until(lambda: events.exists() and "when_ready 2" in events.read_text(), 5)
    assert "gunicorn setting 'worker_class': use --threads instead" in server.log_text()
    assert get(server.host, server.port)[0] == 200
    assert server.stop() == 0
    lines = events.read_text().split()
    assert lines[0] == "on_starting" and lines[-1] == "on_exit"
    assert "post_fork" in lines and lines.count("worker_exit") == 2


def _notify_socket(tmp_path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(5)
    return sock


def _receive_until(sock: socket.socket, wanted: str) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        message = sock.recv(4096).decode()
        seen.append(message)
        if wanted in message:
            return seen
    raise AssertionError(f"{wanted} not received: {seen}")


def test_sd_notify_ready_reloading_stopping(serve: Serve, app_dir: Path) -> None:
    with _notify_socket(app_dir) as notify:
        env = {**ENV, "NOTIFY_SOCKET": str(app_dir / "notify.sock")}
        server = serve(*BIND, "-w", "1", "svapp:app", cwd=app_dir, env=env)
        _receive_until(notify, "READY=1")
        os.kill(server.pid, signal.SIGHUP)
        assert "MONOTONIC_USEC=" in _receive_until(notify, "RELOADING=1")[-1]
        _receive_until(notify, "READY=1")
        os.kill(server.pid, signal.SIGTERM)
        _receive_until(notify, "STOPPING=1")


def test_systemd_socket_activation(app_dir: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    # systemd passes the socket as fd 3 and LISTEN_PID as the server's own pid: a tiny
    # launcher arranges both, then execs the server.
    launcher = (
        "import os, sys; fd = int(sys.argv[1]); os.dup2(fd, 3); os.close(fd); "
        "os.environ['LISTEN_PID'] = str(os.getpid()); "
        "os.execv(sys.executable, [sys.executable, '-m', 'pronghorn', *sys.argv[2:]])"
    )
    fd = listener.fileno()
    proc = subprocess.Popen(
        [sys.executable, "-c", launcher, str(fd), "-w", "1", "-b", "127.0.0.1:1", "svapp:app"],
        cwd=app_dir, env={**os.environ, **ENV, "LISTEN_FDS": "1"}, pass_fds=(fd,),
        stderr=subprocess.PIPE,
    )  # fmt: skip
    listener.close()
    try:

        def answers() -> bool:
            try:
                return get("127.0.0.1", port, timeout=1)[0] == 200
            except OSError:
                return False

        assert wait_until(answers, 10)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert b"Using 1 inherited listening socket" in err


def test_reuse_port_spreads_over_workers(serve: Serve, app_dir: Path) -> None:
    server = serve(*BIND, "-w", "2", "--reuse-port", "svapp:app", cwd=app_dir, env=ENV)
    pids: set[str] = set()

    def both_seen() -> bool:
        try:  # each worker listens on its own socket once it has booted
            pids.add(get(server.host, server.port)[1].split()[1])
        except ConnectionRefusedError:
            return False
        return len(pids) == 2

    assert wait_until(both_seen, 10)


def test_preload_imports_in_the_master(serve: Serve, app_dir: Path) -> None:
    (app_dir / "preloaded.py").write_text(
        "import os\nMASTER = os.getpid()\n"
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [str(MASTER).encode()]\n"
    )
    server = serve(*BIND, "-w", "2", "--preload", "preloaded:app", cwd=app_dir, env=ENV)
    assert get(server.host, server.port)[1] == str(server.pid)


def test_reload_restarts_workers_on_source_change(serve: Serve, app_dir: Path) -> None:
    server = serve(*BIND, "-w", "1", "--reload", "svapp:app", cwd=app_dir, env=ENV)
    server.wait_for_log("Ready", 5)
    write_app(app_dir, "v2-reloaded")
    assert wait_until(lambda: get(server.host, server.port)[1].startswith("v2-reloaded"), 10)


def test_usr1_reopens_log_files(app_dir: Path) -> None:
    log = app_dir / "error.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pronghorn", "-w", "1", "-b", "127.0.0.1:0", "svapp:app",
         "--error-logfile", str(log)],
        cwd=app_dir, env={**os.environ, **ENV},
    )  # fmt: skip
    try:
        assert wait_until(lambda: log.exists() and "Ready" in log.read_text(), 5)
        log.rename(app_dir / "error.log.1")
        proc.send_signal(signal.SIGUSR1)
        assert wait_until(lambda: log.exists() and "Reopened log files" in log.read_text(), 5)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    assert proc.returncode == 0


def test_single_process_has_no_master(serve: Serve, app_dir: Path) -> None:
    server = serve(*BIND, "--single-process", "svapp:app", cwd=app_dir, env=ENV)
    assert get(server.host, server.port)[1].split()[1] == str(server.pid)
    assert children(server.pid) == set()
