"""Log settings against a real pronghorn: --log-config's handlers and per-logger levels,
HUP re-applying log settings, USR1 reopening every file handler, and the logrotate recipe
run by the real logrotate. Every wait polls with a deadline."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from serverproc import Serve, ServerProcess

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
APP = """\
import logging

log = logging.getLogger("myapp.db")


def app(environ, start_response):
    log.debug("query for %s", environ["PATH_INFO"])
    log.info("served %s", environ["PATH_INFO"])
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
"""


def _get(server: ServerProcess, path: str) -> None:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, b"ok")
    finally:
        connection.close()


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


def _poll(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _until_logged(server: ServerProcess, log: Path, mark: str, timeout: float = 20.0) -> str:
    """Send /MARK-N requests until one of them shows in `log`; the path that did."""
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        count += 1
        path = f"/{mark}-{count}"
        _get(server, path)
        if _poll(lambda p=path: p in _text(log), 0.5):  # type: ignore[misc]
            return path
    raise AssertionError(f"no /{mark}-N request in {log}:\n{_text(log)}\n{server.log_text()}")


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "myapp.py").write_text(APP, encoding="utf-8")
    shutil.copy(EXAMPLES / "logging" / "dictconfig.json", tmp_path / "logging.json")
    return tmp_path


def test_the_example_dict_config_with_a_per_logger_level(serve: Serve, app_dir: Path) -> None:
    server = serve("--bind", "127.0.0.1:0", "--workers", "2", "--log-config", "logging.json",
                   "--log-level", "info", "--log-level", "myapp.db=debug", "myapp:app",
                   cwd=app_dir)  # fmt: skip
    log = app_dir / "app.log"
    _get(server, "/first")
    assert _poll(lambda: '"GET /first HTTP/1.1" 200' in _text(log)), _text(log)
    text = _text(log)
    assert "myapp.db DEBUG query for /first" in text
    assert "myapp.db INFO served /first" in text
    assert " pronghorn.access INFO 127.0.0.1 - - [" in text
    assert "Listening at" in server.log_text()  # the error log keeps pronghorn's handler


def test_without_the_per_logger_level_the_config_file_level_holds(
    serve: Serve, app_dir: Path
) -> None:
    server = serve("--bind", "127.0.0.1:0", "--log-config", "logging.json", "myapp:app",
                   cwd=app_dir)  # fmt: skip
    log = app_dir / "app.log"
    _get(server, "/first")
    assert _poll(lambda: '"GET /first HTTP/1.1" 200' in _text(log)), _text(log)
    assert "myapp.db INFO served /first" in _text(log)
    assert "DEBUG" not in _text(log)


def test_usr1_reopens_a_log_config_handler_in_master_and_workers(
    serve: Serve, app_dir: Path
) -> None:
    server = serve("--bind", "127.0.0.1:0", "--workers", "2", "--log-config", "logging.json",
                   "myapp:app", cwd=app_dir)  # fmt: skip
    log, rotated = app_dir / "app.log", app_dir / "app.log.1"
    sent = [f"/before-{n}" for n in range(10)]
    for path in sent:
        _get(server, path)
    assert _poll(lambda: all(f"GET {p} " in _text(log) for p in sent)), _text(log)
    log.rename(rotated)
    os.kill(server.pid, signal.SIGUSR1)

    # Both workers must reopen: keep asking (each connection may go to either) until the
    # new file has lines written by two processes.
    def pids_in_new_file() -> set[str]:
        return {line.split()[2] for line in _text(log).splitlines() if "served" in line}

    count = 0
    deadline = time.monotonic() + 30
    while len(pids_in_new_file()) < 2 and time.monotonic() < deadline:
        count += 1
        sent.append(f"/after-{count}")
        _get(server, sent[-1])
    assert len(pids_in_new_file()) == 2, _text(log)
    assert _poll(lambda: all(f"GET {p} " in _text(log) + _text(rotated) for p in sent))
    both = _text(log) + _text(rotated)
    assert all(both.count(f"served {p}\n") == 1 for p in sent)


def _write_settings(path: Path, settings: dict[str, object]) -> None:
    lines = [f"{key} = {json.dumps(value)}" for key, value in settings.items()
             if not isinstance(value, dict)]  # fmt: skip
    for key, value in settings.items():
        if isinstance(value, dict):
            lines.append(f"{key} = {_inline_table(value)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _inline_table(value: object) -> str:
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{json.dumps(k)} = {_inline_table(v)}" for k, v in value.items()) + "}"
        )
    if isinstance(value, list):
        return "[" + ", ".join(_inline_table(v) for v in value) + "]"
    return json.dumps(value)


def test_hup_applies_new_log_settings(serve: Serve, app_dir: Path) -> None:
    config = app_dir / "pronghorn.toml"
    _write_settings(config, {
        "bind": "127.0.0.1:0", "workers": 2, "app": "myapp:app",
        "access-logfile": "access1.log", "access-logformat": "one %(U)s", "log-level": ["info"],
    })  # fmt: skip
    server = serve("-c", str(config), cwd=app_dir)
    first = _until_logged(server, app_dir / "access1.log", "one")
    assert f"one {first}\n" in _text(app_dir / "access1.log")
    dict_config = json.loads((app_dir / "logging.json").read_text(encoding="utf-8"))
    del dict_config["loggers"]["pronghorn.access"]
    _write_settings(config, {
        "bind": "127.0.0.1:0", "workers": 2, "app": "myapp:app",
        "access-logfile": "access2.log", "access-logformat": "two %(U)s %(s)s",
        "log-level": ["info", "myapp.db=debug"], "log-config-dict": dict_config,
    })  # fmt: skip
    os.kill(server.pid, signal.SIGHUP)
    second = _until_logged(server, app_dir / "access2.log", "two")
    assert f"two {second} 200\n" in _text(app_dir / "access2.log")
    assert _poll(lambda: f"myapp.db DEBUG query for {second}" in _text(app_dir / "app.log"))
    assert "two " not in _text(app_dir / "access1.log")


def test_hup_with_a_broken_log_config_keeps_the_old_settings(serve: Serve, app_dir: Path) -> None:
    config = app_dir / "pronghorn.toml"
    settings: dict[str, object] = {
        "bind": "127.0.0.1:0", "app": "myapp:app",
        "access-logfile": "access.log", "access-logformat": "one %(U)s",
    }  # fmt: skip
    _write_settings(config, settings)
    server = serve("-c", str(config), cwd=app_dir)
    _until_logged(server, app_dir / "access.log", "one")
    (app_dir / "broken.json").write_text('{"version": 1, "handlers": {"h": {"class": "no.Such"}}}')
    _write_settings(config, {**settings, "log-config": "broken.json"})
    os.kill(server.pid, signal.SIGHUP)
    server.wait_for_log("Reload: logging settings not applied, keeping the old ones")
    assert "Unable to configure handler 'h'" in server.log_text()
    _until_logged(server, app_dir / "access.log", "one")
    assert server.returncode() is None


def test_the_logrotate_recipe_loses_nothing(serve: Serve, app_dir: Path) -> None:
    logrotate = shutil.which("logrotate", path=os.pathsep.join([os.environ["PATH"], "/usr/sbin"]))
    assert logrotate, "logrotate is missing: `make test` installs it (APT_TEST_PACKAGES)"
    pidfile, logs = app_dir / "pronghorn.pid", app_dir / "log"
    logs.mkdir()
    recipe = (EXAMPLES / "logrotate" / "pronghorn").read_text(encoding="utf-8")
    assert "\n    copytruncate" not in recipe
    recipe = recipe.replace("/var/log/pronghorn", str(logs)).replace(
        "/run/pronghorn.pid", str(pidfile)
    )
    (app_dir / "logrotate.conf").write_text(recipe, encoding="utf-8")
    access = logs / "access.log"
    server = serve("--bind", "127.0.0.1:0", "--workers", "2", "--pid", str(pidfile),
                   "--access-logfile", str(access), "myapp:app", cwd=app_dir)  # fmt: skip
    assert _poll(lambda: pidfile.exists() and pidfile.read_text().strip() == str(server.pid))
    sent = [f"/before-{n}" for n in range(20)]
    for path in sent:
        _get(server, path)
    assert _poll(lambda: all(f"GET {p} " in _text(access) for p in sent))
    done = subprocess.run(
        [
            logrotate,
            "-f",
            "-s",
            str(app_dir / "logrotate.state"),
            str(app_dir / "logrotate.conf"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rotated = logs / "access.log.1"
    assert rotated.exists() and "/before-0 " in _text(rotated)
    sent.append(_until_logged(server, access, "after"))
    # That line shows one worker reopened. Each worker gets the master's USR1 on its own and
    # acts on it when its main thread next runs Python (a request another of its threads
    # serves meanwhile may still go to the old file: nothing lost, just there). So send
    # batches of 20 until one lands in the new file whole, within a deadline.
    lines_of = lambda: _text(rotated) + _text(access)  # noqa: E731
    all_logged = lambda: all(f"GET {p} " in lines_of() for p in sent)  # noqa: E731
    deadline = time.monotonic() + 20.0
    for batch in range(1000):
        sent += [f"/more-{batch}-{n}" for n in range(20)]
        for path in sent[-20:]:
            _get(server, path)
        assert _poll(all_logged), lines_of()
        if all(f"GET {p} " in _text(access) for p in sent[-20:]) or time.monotonic() > deadline:
            break
    assert all(lines_of().count(f"GET {p} ") == 1 for p in sent)
    assert all(f"GET {p} " in _text(access) for p in sent[-20:])


INI = """\
[loggers]
keys = root, myapp

[handlers]
keys = app_file

[formatters]
keys = plain

[logger_root]
handlers =

[logger_myapp]
qualname = myapp
level = DEBUG
handlers = app_file
propagate = 0

[handler_app_file]
class = FileHandler
args = ('%(here)s/app.log', 'a')
formatter = plain

[formatter_plain]
format = ini %(name)s %(levelname)s %(message)s
"""


def test_an_ini_log_config_and_pronghorns_own_logs_beside_it(serve: Serve, app_dir: Path) -> None:
    (app_dir / "logging.ini").write_text(INI, encoding="utf-8")
    server = serve("--bind", "127.0.0.1:0", "--log-config", "logging.ini",
                   "--access-logfile", "access.log", "myapp:app", cwd=app_dir)  # fmt: skip
    _get(server, "/ini")
    assert _poll(lambda: "ini myapp.db DEBUG query for /ini\n" in _text(app_dir / "app.log"))
    assert _poll(lambda: '"GET /ini HTTP/1.1" 200' in _text(app_dir / "access.log"))
    assert "[INFO] Listening at: http://" in server.log_text()  # pronghorn.error: still ours
