"""examples/kubernetes/deployment.yaml, played on this machine: the container's args serve
the image's app (examples/docker), the probes pass as the kubelet would run them, and the
termination sequence (preStop, then SIGTERM, then the grace period's SIGKILL) loses no
request.

There is no cluster here (kubectl needs an API server), so the kubelet's part is played
by the test: it runs the probes, the preStop command and the signal in the same order and
with the manifest's numbers. The listening port is the test's own instead of 8000.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml
from recipefiles import EXAMPLES, answers, free_port, get, wait_until

MANIFEST = EXAMPLES / "kubernetes" / "deployment.yaml"
CONTAINER_PORT = 8000


def _deployment() -> dict[str, Any]:
    documents = list(yaml.safe_load_all(MANIFEST.read_text()))
    (deployment,) = [doc for doc in documents if doc["kind"] == "Deployment"]
    (service,) = [doc for doc in documents if doc["kind"] == "Service"]
    assert service["spec"]["ports"][0]["targetPort"] == CONTAINER_PORT
    return deployment["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def _server_command(args: list[str], port: int) -> list[str]:
    assert args[0] == "pronghorn" and f"0.0.0.0:{CONTAINER_PORT}" in args
    args = [arg.replace(f"0.0.0.0:{CONTAINER_PORT}", f"127.0.0.1:{port}") for arg in args]
    return [str(Path(sys.executable).with_name("pronghorn")), *args[1:]]


def _probe_passes(probe: dict[str, Any], port: int) -> bool:
    """One probe as the kubelet runs it, against the test's port."""
    if "httpGet" in probe:
        assert probe["httpGet"]["port"] == CONTAINER_PORT
        return answers(port, probe["httpGet"]["path"])
    assert probe["tcpSocket"]["port"] == CONTAINER_PORT
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


class _Traffic:
    """Clients sending requests (a connection each) while the pod is still an endpoint."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.statuses: list[int | str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(3)]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.statuses.append(get(self.port)[0])
            except OSError as exc:
                self.statuses.append(repr(exc))

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)


def test_probes_and_termination_sequence(tmp_path: Path) -> None:
    pod = _deployment()
    (container,) = pod["containers"]
    args = container["args"]
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    graceful = float(args[args.index("--graceful-timeout") + 1])
    grace_period = float(pod["terminationGracePeriodSeconds"])
    assert grace_period > float(pre_stop[1]) + graceful  # SIGKILL only after the drain
    assert container["ports"][0]["containerPort"] == CONTAINER_PORT

    shutil.copy(EXAMPLES / "docker" / "app.py", tmp_path / "app.py")  # the image's app
    port = free_port()
    started = time.monotonic()
    # The access log goes to stdout: to a file, as the container runtime would take it (a
    # pipe nobody reads would fill and stop the workers).
    stdout = (tmp_path / "stdout.log").open("wb")
    server = subprocess.Popen(
        _server_command(args, port), cwd=tmp_path, stdout=stdout, stderr=subprocess.PIPE
    )
    try:
        startup = container["startupProbe"]
        budget = startup["periodSeconds"] * startup["failureThreshold"]
        assert wait_until(lambda: _probe_passes(startup, port), budget)
        assert _probe_passes(container["readinessProbe"], port)
        assert _probe_passes(container["livenessProbe"], port)

        traffic = _Traffic(port)
        # A request arriving as the pod stops: its head and half its body are in before
        # SIGTERM, the rest after; it must be answered.
        late = socket.create_connection(("127.0.0.1", port), timeout=10)
        late.sendall(b"POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 10\r\n\r\n12345")
        subprocess.run(pre_stop, check=True, timeout=30)  # the pod serves all the while
        traffic.stop()  # the endpoint removal has reached every node: no new connections
        server.send_signal(signal.SIGTERM)
        late.sendall(b"67890")
        answer = late.recv(65536)
        late.close()
        _, err = server.communicate(timeout=grace_period - (time.monotonic() - started))
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(5)
        stdout.close()
    assert server.returncode == 0, err.decode(errors="replace")[-3000:]
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(
        b"\r\n\r\nHello from a container\n"
    )
    assert b'"POST / HTTP/1.1" 200' in (tmp_path / "stdout.log").read_bytes()
    assert traffic.statuses and set(traffic.statuses) == {200}, traffic.statuses[-5:]
