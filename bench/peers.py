"""Installing what the benchmark needs: apt tools (wrk, nginx, libev-dev) and bench/.venv-peers.

`ensure_tools()` apt-installs wrk and nginx-light when missing; `ensure_peers()` creates the peers
venv and pip-installs bench/requirements-peers.txt into it, each source-built package on its own so
one failed build (uwsgi, bjoern) only makes that row unavailable. Both log what they do to stderr.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from servers import PEERS_BIN, PEERS_VENV

REQUIREMENTS = Path(__file__).resolve().parent / "requirements-peers.txt"
SOURCE_BUILT = ("bjoern", "uwsgi")  # installed one by one; failures are tolerated


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _apt_install(packages: list[str]) -> bool:
    log(f"apt-get install -y {' '.join(packages)}")
    cmd = ["apt-get", "install", "-y", "-q", *packages]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    if subprocess.run(cmd, check=False, **quiet).returncode == 0:
        return True
    subprocess.run(["apt-get", "update", "-q"], check=False, **quiet)
    return subprocess.run(cmd, check=False, **quiet).returncode == 0


def _dpkg_installed(package: str) -> bool:
    done = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
    )
    return "install ok installed" in done.stdout


def ensure_tools() -> list[str]:
    """Install wrk and nginx from apt if missing; returns problems that remain."""
    missing = [pkg for tool, pkg in (("wrk", "wrk"), ("nginx", "nginx-light")) if not _which(tool)]
    if missing:
        _apt_install(missing)
    return [f"{tool} not installed" for tool in ("wrk", "nginx", "taskset") if not _which(tool)]


def _which(tool: str) -> str | None:
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.lower()] = version
    return pins


def installed_versions() -> dict[str, str]:
    """Distributions installed in the peers venv, lower-cased name -> version."""
    python = PEERS_BIN / "python"
    if not python.exists():
        return {}
    code = (
        "import importlib.metadata as m, json;"
        "print(json.dumps({d.metadata['Name'].lower(): d.version for d in m.distributions()}))"
    )
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    return json.loads(done.stdout) if done.returncode == 0 else {}


def _pip_install(specs: list[str]) -> bool:
    log(f"pip install {' '.join(specs)} (into {PEERS_VENV.name})")
    cmd = [str(PEERS_BIN / "python"), "-m", "pip", "install", "-q", *specs]
    return subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL).returncode == 0


def ensure_peers() -> dict[str, str]:
    """Create bench/.venv-peers and install the pinned peers; returns installed versions."""
    if not (PEERS_BIN / "python").exists():
        log(f"creating {PEERS_VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
    pins = _pins()
    have = installed_versions()
    todo = [name for name, version in pins.items() if have.get(name) != version]
    batch = [f"{name}=={pins[name]}" for name in todo if name not in SOURCE_BUILT]
    if batch and not _pip_install(batch):
        for spec in batch:
            _pip_install([spec])
    for name in (name for name in todo if name in SOURCE_BUILT):
        if name == "bjoern" and not _dpkg_installed("libev-dev"):
            _apt_install(["libev-dev"])
        if not _pip_install([f"{name}=={pins[name]}"]):
            log(f"{name} failed to install; its row will say unavailable")
    return installed_versions()
