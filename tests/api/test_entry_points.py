"""The ways in: `python -m pronghorn` (help, and a real app answering), `pronghorn.serve`
as an attribute of the package, and the `paste.server_runner` entry point as installed."""

from __future__ import annotations

import http.client
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pronghorn
from pronghorn.api import serve
from pronghorn.paste import serve_paste
from serverproc import ServerProcess

APP_DIR = Path(__file__).resolve().parent


def test_python_m_pronghorn_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pronghorn", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert result.stdout.startswith("usage: pronghorn") and "--workers" in result.stdout


def test_python_m_pronghorn_serves_an_app() -> None:
    command = [sys.executable, "-m", "pronghorn"]
    args = ["--bind", "127.0.0.1:0", "--chdir", str(APP_DIR), "serve_script:app"]
    with ServerProcess(args, command=command) as server:
        server.wait_for_log("Ready: 1 worker(s) serving")
        connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
        try:
            connection.request("GET", "/x")
            response = connection.getresponse()
            assert response.status == 200
            assert response.read().endswith(b" path /x\n")
        finally:
            connection.close()
        assert server.stop() == 0


def test_pronghorn_serve_is_the_api() -> None:
    assert pronghorn.serve is serve


def test_paste_entry_point_is_installed() -> None:
    # `use = egg:pronghorn` picks the runner of the pronghorn distribution (gunicorn, in
    # the test extra, installs a `main` runner of its own).
    runners = entry_points(group="paste.server_runner", name="main")
    (runner,) = [r for r in runners if r.dist is not None and r.dist.name == "pronghorn"]
    assert runner.load() is serve_paste
