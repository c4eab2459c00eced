"""examples/docker/, run without Docker: the image's CMD and HEALTHCHECK as Docker would
run them in the container, and STOPSIGNAL within `docker stop`'s default 10 s.

This machine has no Docker daemon (and no registry to pull python:3.12-slim from), so the
image itself is not built here; what the container does once built is: its CMD runs in its
WORKDIR with app.py beside it, the health check is a command run inside it, the stop is a
signal to CMD's process. The listening port is the test's own instead of 8000.
"""

from __future__ import annotations

import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from recipefiles import (
    EXAMPLES,
    dockerfile_instructions,
    exec_form,
    free_port,
    substitute,
    wait_until,
)

DOCKERFILE = EXAMPLES / "docker" / "Dockerfile"
DOCKER_STOP_DEFAULT_TIMEOUT = 10.0


def _healthcheck(instructions: dict[str, str]) -> list[str]:
    """HEALTHCHECK's command; its options (--interval=...) are Docker's."""
    options, _, command = instructions["HEALTHCHECK"].partition("CMD ")
    assert "--timeout=" in options and command
    return exec_form(command)


def _in_container(words: list[str], address: str, port: int) -> list[str]:
    """A command of the image, as this machine runs it, with `address` (which it must
    name) on the test's port."""
    words = substitute(words, address, f"127.0.0.1:{port}")
    if words[0] == "python":
        return [sys.executable, *words[1:]]
    assert words[0] == "pronghorn"
    return [str(Path(sys.executable).with_name("pronghorn")), *words[1:]]


def _healthy(command: list[str]) -> bool:
    return subprocess.run(command, capture_output=True, timeout=10).returncode == 0


def test_image_commands_serve_check_health_and_stop(tmp_path: Path) -> None:
    instructions = dockerfile_instructions(DOCKERFILE)
    assert instructions["USER"] == "app"  # not root in the container
    copied = shlex.split(instructions["COPY"])  # the last COPY: the application
    for name in copied[:-1]:
        shutil.copy(DOCKERFILE.parent / name, tmp_path / name)
    cmd = exec_form(instructions["CMD"])
    assert instructions["EXPOSE"] == "8000"
    port = free_port()
    server_cmd = _in_container(cmd, "0.0.0.0:8000", port)
    health_cmd = _in_container(_healthcheck(instructions), "127.0.0.1:8000", port)
    assert any(str(port) in word for word in health_cmd)

    assert not _healthy(health_cmd)  # nothing listens yet: the check must fail
    server = subprocess.Popen(
        server_cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert wait_until(lambda: _healthy(health_cmd), 15), "health check never passed"
        stop_signal = getattr(signal, instructions["STOPSIGNAL"])
        graceful = float(cmd[cmd.index("--graceful-timeout") + 1])
        assert graceful < DOCKER_STOP_DEFAULT_TIMEOUT  # docker stop's SIGKILL comes after
        server.send_signal(stop_signal)
        out, err = server.communicate(timeout=DOCKER_STOP_DEFAULT_TIMEOUT)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(5)
    assert server.returncode == 0, err.decode(errors="replace")[-3000:]
    # --access-logfile -: the health checks are in the container's stdout.
    assert b'"GET /livez HTTP/1.1" 200' in out
    assert not _healthy(health_cmd)  # stopped: the check fails again
