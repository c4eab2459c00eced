"""Reading the committed recipe files of examples/ the way their programs read them.

systemd unit files, a Dockerfile's instructions and a Kubernetes manifest are parsed here,
and `substitute` swaps one deployment-specific value (a path, a port) for the test's,
failing when the value is no longer in the recipe, so that recipe and test cannot drift.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def substitute(words: list[str], old: str, new: str) -> list[str]:
    """`words` with each occurrence of `old` inside a word replaced by `new`."""
    assert any(old in word for word in words), f"the recipe no longer has {old!r}: {words}"
    return [word.replace(old, new) for word in words]


def unit_file(path: Path) -> dict[str, dict[str, str]]:
    """A systemd unit as {section: {key: value}}; comments and blank lines skipped."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current[key.strip()] = value.strip()
    return sections


def dockerfile_instructions(path: Path) -> dict[str, str]:
    """A Dockerfile's instructions as {INSTRUCTION: arguments} (the last of each wins, as
    for CMD and HEALTHCHECK), with backslash continuations joined."""
    instructions: dict[str, str] = {}
    pending = ""
    for line in path.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        name, _, rest = line.strip().partition(" ")
        instructions[name.upper()] = rest.strip()
    return instructions


def exec_form(arguments: str) -> list[str]:
    """The JSON array of an exec-form CMD (a shell-form one fails the test)."""
    words = json.loads(arguments)
    assert isinstance(words, list) and all(isinstance(word, str) for word in words)
    return words


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def get(port: int, path: str = "/", timeout: float = 5.0) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def answers(port: int, path: str = "/") -> bool:
    try:
        return get(port, path, timeout=1)[0] == 200
    except OSError:
        return False
