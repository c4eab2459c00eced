"""examples/haproxy/proxy-v2.cfg, run for real: haproxy with the committed recipe in front of
a pronghorn started with --proxy-protocol.

`render_recipe` replaces, in the committed text, exactly the deployment-specific values (the
listening ports, the certificate, pronghorn's port, the health check's URL, and the syslog
target, which becomes haproxy's stdout) and fails if one of them is not found, so the recipe
and the test cannot drift apart. `start_haproxy` runs haproxy in the foreground with it and
waits (polling, with a deadline) until it accepts on both ports.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from proxies import PORT_ATTEMPTS, ProxyStartError, find_binary, stop_process
from recipe import make_certificate

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "examples" / "haproxy" / "proxy-v2.cfg"
START_TIMEOUT = 10.0


@dataclass
class Haproxy:
    http_port: int
    https_port: int
    directory: Path
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        """haproxy's request log and warnings (its stdout and stderr)."""
        return (self.directory / "haproxy.out").read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.process)


def _substitute(text: str, old: str, new: str) -> str:
    assert old in text, f"{RECIPE} no longer contains {old!r}: update the test"
    return text.replace(old, new)


def render_recipe(
    upstream_port: int, http_port: int, https_port: int, pem: Path, check_uri: str
) -> str:
    """The committed recipe with this test's ports, certificate, health-check URL and log."""
    text = RECIPE.read_text()
    replacements = [
        ("log /dev/log local0", "log stdout format raw local0"),
        ("bind :80\n", f"bind 127.0.0.1:{http_port}\n"),
        (
            "bind :443 ssl crt /etc/haproxy/certs/example.com.pem",
            f"bind 127.0.0.1:{https_port} ssl crt {pem}",
        ),
        ("server app1 127.0.0.1:8000 ", f"server app1 127.0.0.1:{upstream_port} "),
        ("uri / ver HTTP/1.1", f"uri {check_uri} ver HTTP/1.1"),
    ]
    for old, new in replacements:
        text = _substitute(text, old, new)
    return text


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_haproxy(directory: Path, upstream_port: int, check_uri: str) -> Haproxy:
    """haproxy running the recipe in front of 127.0.0.1:`upstream_port`. The ports are
    chosen free just before the start; taken meanwhile, the start is tried again."""
    binary = find_binary("haproxy")
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = make_certificate(directory)
    pem = directory / "example.com.pem"
    pem.write_bytes(cert.read_bytes() + key.read_bytes())  # haproxy wants both in one file
    failures = []
    for _attempt in range(PORT_ATTEMPTS):
        http_port, https_port = _free_port(), _free_port()
        conf = directory / "haproxy.cfg"
        conf.write_text(render_recipe(upstream_port, http_port, https_port, pem, check_uri))
        with (directory / "haproxy.out").open("wb") as out:
            process = subprocess.Popen(
                [binary, "-f", str(conf), "-db"], stdin=subprocess.DEVNULL, stdout=out, stderr=out
            )
        haproxy = Haproxy(http_port, https_port, directory, process)
        if _wait_accepting(haproxy):
            return haproxy
        haproxy.stop()
        failures.append(haproxy.log())
        if "in use" not in failures[-1]:
            break
    raise ProxyStartError("haproxy did not start:\n" + "\n".join(failures))


def _wait_accepting(haproxy: Haproxy) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and haproxy.process.poll() is None:
        try:
            for port in (haproxy.http_port, haproxy.https_port):
                socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            return True
        except OSError:
            time.sleep(0.02)  # polling interval of a bounded readiness wait
    return False
