"""Real nginx and haproxy processes in front of pronghorn, and what they say they forwarded.

`start_proxy(kind, directory, upstream_port)` renders `KIND` template beside this file
(`nginx.conf.in`, `haproxy.cfg.in`: `@NAME@` placeholders; `server_options` are added to
haproxy's `server` line, e.g. `send-proxy-v2`) into `directory`, starts the
proxy in the foreground as a child of the test with every pid, log and temp path inside
`directory`, and returns once it answers its own readiness path with a token made for this
start. The listening port is chosen free just before the start; if another process takes it
first the start is retried on a new one (a bounded number of times).

A `ProxyProcess` reads its logs by offset: `forwarded(since)` turns the access log lines
written after a mark into `Forwarded` records (what the proxy read from its client, whether
it went upstream, and the body it sent), and `describe(since)` shows the logs for a failure
message. It only ever signals the pid it started.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path

HERE = Path(__file__).resolve().parent
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
PORT_ATTEMPTS = 5
# haproxy digests the body it holds in its one buffer (tune.bufsize, 16 KiB by default, less
# the room kept for rewrites); a longer body is forwarded in pieces and its digest is partial.
HAPROXY_WHOLE_BODY_LIMIT = 8192
SYSTEM_DIRS = ("/usr/sbin", "/sbin")


class ProxyMissing(RuntimeError):
    """The proxy's binary is not installed."""


class ProxyStartError(RuntimeError):
    """The proxy exited or did not become ready; the message carries its logs."""


@dataclass(frozen=True)
class Forwarded:
    """One request as the proxy logged it."""

    method: str
    target: str
    status: int | None  # what the client was answered; None when nothing was
    upstream_status: int | None  # what pronghorn answered; None when not forwarded
    body: tuple[int, str] | None  # length and SHA-256 of the body forwarded, when known
    raw: str  # the log line


def find_binary(name: str) -> str:
    """The path of `name`, also looking in the sbin directories a non-root PATH lacks."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *SYSTEM_DIRS])
    path = shutil.which(name, path=search)
    if path is None:
        raise ProxyMissing(
            f"{name} is not installed: the interop tests run a real {name} in front of "
            f"pronghorn. `make test` installs it (APT_TEST_PACKAGES, as root), or run "
            f"`apt-get install -y {name}`."
        )
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _render(template: str, values: dict[str, str]) -> str:
    text = (HERE / template).read_text()
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    left = re.findall(r"@[A-Z_]+@", text)
    assert not left, f"unfilled placeholders {left} in {template}"
    return text


def _int_or_none(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else None


def _nginx_record(line: str) -> Forwarded:
    fields = json.loads(line)
    # escape=json writes bytes >= 0x80 as they are and the rest as \\u00XX: latin-1 both ways.
    body = fields["body"].encode("latin-1")
    upstream = _int_or_none(fields["upstream_status"].split(",")[-1])
    return Forwarded(
        method=fields["method"],
        target=fields["target"],
        status=_int_or_none(fields["status"]),
        upstream_status=upstream,
        body=(len(body), sha256(body).hexdigest()),
        raw=line,
    )


def _haproxy_record(line: str) -> Forwarded | None:
    parts = line.split("\t")
    if parts[0] != "interop" or len(parts) != 9:
        return None
    _, method, target, status, server, response_time, _term, length, digest = parts
    forwarded = server not in ("<NOSRV>", "-") and response_time != "-1"
    body_len = _int_or_none(length)
    known = body_len is not None and body_len < HAPROXY_WHOLE_BODY_LIMIT and bool(digest)
    return Forwarded(
        method=method,
        target=target,
        status=_int_or_none(status),
        upstream_status=_int_or_none(status) if forwarded else None,
        body=(body_len, digest.lower()) if known and body_len is not None else None,
        raw=line,
    )


@dataclass
class ProxyProcess:
    kind: str
    port: int
    directory: Path
    access_log: Path
    error_log: Path
    process: subprocess.Popen[bytes]
    token: str  # what the proxy itself answers on /__proxy_ready

    def mark(self) -> tuple[int, int]:
        """Offsets of the access and error logs now, for `forwarded` and `describe`."""
        return (_size(self.access_log), _size(self.error_log))

    def forwarded(self, since: tuple[int, int]) -> list[Forwarded]:
        lines = _read_from(self.access_log, since[0]).decode("latin-1").splitlines()
        if self.kind == "nginx":
            return [_nginx_record(line) for line in lines if line.strip()]
        records = (_haproxy_record(line) for line in lines)
        return [record for record in records if record is not None]

    def error_text(self, since: tuple[int, int]) -> str:
        return _read_from(self.error_log, since[1]).decode("latin-1")

    def describe(self, since: tuple[int, int] = (0, 0)) -> str:
        access = _read_from(self.access_log, since[0]).decode("latin-1")
        return (
            f"--- {self.kind} access log ({self.access_log}) ---\n{_shorten(access)}"
            f"--- {self.kind} error log ({self.error_log}) ---\n"
            f"{_shorten(self.error_text(since))}"
        )

    def stop(self) -> int:
        return stop_process(self.process)


def stop_process(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM a proxy we started, SIGKILL it if it lingers; its exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)
    return process.returncode


def _shorten(text: str, line_limit: int = 400, lines: int = 40) -> str:
    """The last `lines` lines of a log, each cut to `line_limit` (a logged body can be long)."""
    kept = text.splitlines()[-lines:]
    return "".join(
        (line if len(line) <= line_limit else f"{line[:line_limit]}... ({len(line)} chars)") + "\n"
        for line in kept
    )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with path.open("rb") as log:
            log.seek(offset)
            return log.read()
    except FileNotFoundError:
        return b""


def _nginx_launch(directory: Path, values: dict[str, str]) -> tuple[list[str], Path, Path]:
    conf = directory / "nginx.conf"
    conf.write_text(_render("nginx.conf.in", values))
    error_log = directory / "error.log"
    argv = [find_binary("nginx"), "-p", str(directory), "-c", str(conf), "-e", str(error_log)]
    return [*argv, "-g", "daemon off;"], directory / "access.log", error_log


def _haproxy_launch(directory: Path, values: dict[str, str]) -> tuple[list[str], Path, Path]:
    conf = directory / "haproxy.cfg"
    conf.write_text(_render("haproxy.cfg.in", values))
    # -db: foreground, no daemon; the access log is its stdout, warnings its stderr.
    argv = [find_binary("haproxy"), "-f", str(conf), "-db"]
    return argv, directory / "haproxy.stdout", directory / "haproxy.stderr"


LAUNCHERS: dict[str, Callable[[Path, dict[str, str]], tuple[list[str], Path, Path]]] = {
    "nginx": _nginx_launch,
    "haproxy": _haproxy_launch,
}


def start_proxy(
    kind: str, directory: Path, upstream_port: int, server_options: str = ""
) -> ProxyProcess:
    """Start `kind` in front of 127.0.0.1:`upstream_port`; raise ProxyStartError if it can't."""
    find_binary(kind)  # fail with the clear message before anything else
    directory.mkdir(parents=True, exist_ok=True)
    failures = []
    for _attempt in range(PORT_ATTEMPTS):
        token = secrets.token_hex(8)
        values = {
            "DIR": str(directory),
            "PORT": str(_free_port()),
            "UPSTREAM_PORT": str(upstream_port),
            "TOKEN": token,
            "SERVER_OPTIONS": f" {server_options}" if server_options else "",
        }
        argv, access_log, error_log = LAUNCHERS[kind](directory, values)
        with (directory / f"{kind}.stdout").open("ab") as out, error_log.open("ab") as err:
            stdout = out if kind == "haproxy" else subprocess.DEVNULL
            stderr = err
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
        port = int(values["PORT"])
        proxy = ProxyProcess(kind, port, directory, access_log, error_log, process, token)
        if _wait_ready(proxy, token):
            return proxy
        proxy.stop()
        text = proxy.describe()
        failures.append(f"attempt on port {proxy.port}: {argv}\n{text}")
        if "in use" not in text:  # EADDRINUSE is the one failure a new port can fix
            break
    raise ProxyStartError(f"{kind} did not start:\n" + "\n".join(failures))


def _wait_ready(proxy: ProxyProcess, token: str) -> bool:
    """Poll the proxy's readiness path until it answers `token`, it exits, or time is up."""
    deadline = time.monotonic() + START_TIMEOUT
    request = b"GET /__proxy_ready HTTP/1.1\r\nHost: ready\r\nConnection: close\r\n\r\n"
    while time.monotonic() < deadline:
        if proxy.process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", proxy.port), timeout=1.0) as sock:
                sock.sendall(request)
                answer = b""
                while chunk := sock.recv(4096):
                    answer += chunk
            if token.encode() in answer:
                return True
        except OSError:
            pass
        time.sleep(0.02)  # polling interval of a bounded readiness wait
    return False
