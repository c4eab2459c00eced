"""Graceful stop with requests in flight, and the listener forms: Unix socket and IPv6;
deferred accept (--defer-accept, on by default) through a stop."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from server_setup import app_args

from rawhttp import RawClient, Response, has_ipv6_loopback, request, wait_until
from serverproc import Serve, ServerProcess, server_command

GRACEFUL = 3.0


def _refused(host: str, port: int) -> bool:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(0.3)
    try:
        sock.connect((host, port))
    except ConnectionRefusedError:
        return True
    except TimeoutError:
        # The SYN was dropped: the stop has closed the socket to new connections and waits
        # (for at most a second) for connections still in the kernel's handshake under
        # deferred accept, such as an earlier probe of this loop; refused once it closes.
        return False
    finally:
        sock.close()
    return False


def test_sigterm_lets_in_flight_requests_finish(serve: Serve) -> None:
    server = serve(*app_args("--threads", "4", "--graceful-timeout", str(GRACEFUL)))
    results: dict[int, Response | BaseException] = {}

    def slow_request(i: int) -> None:
        try:
            with RawClient.connect(server.host, server.port) as client:
                client.send(request("GET", f"/slow?s=1.5&tag=flight{i}"))
                results[i] = client.response()
        except BaseException as exc:  # reported by the assertions below
            results[i] = exc

    threads = [threading.Thread(target=slow_request, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for i in range(3):
        server.wait_for_log(f"started flight{i}", 5.0)
    idle = RawClient.connect(server.host, server.port)
    idle.send(request("GET", "/hello"))
    assert idle.response().status == 200

    stop_sent = time.monotonic()
    server._proc.send_signal(signal.SIGTERM)
    assert wait_until(lambda: _refused(server.host, server.port), 1.0), (
        "still accepting after SIGTERM"
    )
    assert idle.closed_within(1.0), "an idle keep-alive connection was kept through the stop"
    idle.close()
    for thread in threads:
        thread.join(GRACEFUL + 2)
    for i in range(3):
        resp = results[i]
        assert isinstance(resp, Response), resp
        assert (resp.status, resp.body) == (200, f"slept flight{i}\n".encode())
    code = server._proc.wait(GRACEFUL + 1)
    assert code == 0
    assert time.monotonic() - stop_sent < GRACEFUL + 1
    assert "Traceback" not in server.log_text()


def _server_side_state(server_port: int, client_port: int) -> bytes | None:
    """The state (/proc/net/tcp's hex code) of the server's end of a loopback connection:
    b"03" while the kernel still holds it as a handshake (accept deferred), b"01" once
    established."""
    with open("/proc/net/tcp", "rb") as table:
        for row in table.read().splitlines()[1:]:
            fields = row.split()
            if fields[1].endswith(b":%04X" % server_port) and fields[2].endswith(
                b":%04X" % client_port
            ):
                return fields[3]
    return None


def _answers(server: ServerProcess) -> bool:
    try:
        with RawClient.connect(server.host, server.port) as client:
            client.send(request("GET", "/hello"))
            return client.response().status == 200
    except ConnectionRefusedError:
        return False


def _cut_off(host: str, port: int) -> bool:
    """True once the listener takes no new connection: the SYN is dropped (the stop closed
    it to new connections) or refused (closed)."""
    try:
        probe = socket.create_connection((host, port), timeout=0.2)
    except (TimeoutError, ConnectionRefusedError):
        return True
    probe.close()
    return False


@pytest.mark.parametrize("option", ["--defer-accept", "--no-defer-accept"])
def test_defer_accept_decides_whether_a_silent_connection_waits_in_the_kernel(
    serve: Serve, option: str
) -> None:
    server = serve(*app_args(option))
    with RawClient.connect(server.host, server.port) as client:
        client_port = client.sock.getsockname()[1]
        if option == "--defer-accept":
            assert wait_until(lambda: _server_side_state(server.port, client_port), 2.0)
            assert not wait_until(
                lambda: _server_side_state(server.port, client_port) != b"03", 0.3
            ), "a connection that has sent nothing was accepted"
        else:
            assert wait_until(lambda: _server_side_state(server.port, client_port) == b"01", 2.0)
        client.send(request("GET", "/hello?tag=deferred"))
        assert client.response().body == b"hello GET deferred\n"


@pytest.mark.parametrize(
    "mode", [("--single-process",), ("-w", "1"), ("-w", "1", "--reuse-port")], ids=" ".join
)
def test_a_connection_silent_when_the_stop_begins_is_answered_when_it_speaks(
    serve: Serve, mode: tuple[str, ...]
) -> None:
    # Under deferred accept the kernel holds such a connection outside the accept queue: a
    # stop that closed the listener as soon as the queue was empty would reset it, and the
    # request it sends a moment later would be lost.
    server = serve(*app_args(*mode, "--graceful-timeout", "5"))
    # A worker that has not booted yet dies of the TERM (and with --reuse-port, does not
    # listen yet): first one request answered.
    assert wait_until(lambda: _answers(server), 10.0)
    with RawClient.connect(server.host, server.port) as silent:
        client_port = silent.sock.getsockname()[1]
        assert wait_until(lambda: _server_side_state(server.port, client_port) == b"03", 2.0)
        server._proc.send_signal(signal.SIGTERM)
        assert wait_until(lambda: _cut_off(server.host, server.port), 3.0)
        silent.send(request("GET", "/hello?tag=late"))
        resp = silent.response()
        assert (resp.status, resp.body) == (200, b"hello GET late\n")
    assert server._proc.wait(5.0) == 0
    assert "Traceback" not in server.log_text()


def test_a_connection_that_never_speaks_does_not_hold_the_stop(serve: Serve) -> None:
    server = serve(*app_args("--single-process", "--graceful-timeout", "20"))
    assert wait_until(lambda: _answers(server), 10.0)
    with RawClient.connect(server.host, server.port) as silent:
        client_port = silent.sock.getsockname()[1]
        assert wait_until(lambda: _server_side_state(server.port, client_port) == b"03", 2.0)
        stop_sent = time.monotonic()
        server._proc.send_signal(signal.SIGTERM)
        assert server._proc.wait(5.0) == 0
        assert time.monotonic() - stop_sent < 10.0  # not the --graceful-timeout of 20 s


def test_graceful_timeout_cuts_off_a_request_that_runs_too_long(serve: Serve) -> None:
    server = serve(*app_args("--threads", "4", "--graceful-timeout", "1"))
    with RawClient.connect(server.host, server.port) as client:
        client.send(request("GET", "/slow?s=30&tag=forever"))
        server.wait_for_log("started forever", 5.0)
        stop_sent = time.monotonic()
        server._proc.send_signal(signal.SIGTERM)
        assert client.closed_within(3.0)
        assert server._proc.wait(3.0) == 0
        assert time.monotonic() - stop_sent < 1 + 1


def test_unix_socket_bind(serve: Serve, tmp_path: Path) -> None:
    path = str(tmp_path / "pronghorn.sock")
    args = app_args()
    args[args.index("127.0.0.1:0")] = f"unix:{path}"
    # The listening line names a Unix socket, so wait for the file, not the log line.
    server = serve(*args, "-b", "127.0.0.1:0")
    assert wait_until(lambda: Path(path).is_socket(), 5.0)
    with RawClient.connect_unix(path) as client:
        client.send(request("GET", "/environ"))
        resp = client.response()
        assert resp.status == 200
        environ = json.loads(resp.body)
        assert environ["REMOTE_ADDR"] == ""
        # No address to name the server by: the Host header's, as gunicorn does.
        assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("test", "80")
        client.send(request("GET", "/hello?tag=unix"))
        assert client.response().body == b"hello GET unix\n"
    assert server.returncode() is None


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no ::1 on this machine")
def test_ipv6_bind(serve: Serve) -> None:
    args = app_args()
    args[args.index("127.0.0.1:0")] = "[::1]:0"
    server = serve(*args)
    assert server.host == "::1"
    with RawClient.connect("::1", server.port) as client:
        client.send(request("GET", "/environ"))
        body = client.response().body
        assert b'"REMOTE_ADDR": "::1"' in body
        assert b'"SERVER_NAME": "::1"' in body


@pytest.mark.parametrize("taken", ["-b", "--metrics-bind"])
def test_a_single_process_on_a_taken_port_says_so_in_one_line(taken: str) -> None:
    # Both listeners open before any thread accepts (a metrics listener opened after could
    # find every descriptor taken by a flood of connections), and a port in use is one
    # line and exit status 1, as under the master, not a traceback.
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        args = app_args("--single-process", "--metrics-bind", "127.0.0.1:0")
        args[args.index(taken) + 1] = f"127.0.0.1:{port}"
        done = subprocess.run(
            [*server_command(), *args], capture_output=True, text=True, timeout=30
        )
    finally:
        holder.close()
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Cannot listen: [Errno 98] Address already in use" in lines[0]
