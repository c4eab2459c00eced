"""What a gunicorn user brings along, run for real: ./gunicorn.conf.py without -c,
GUNICORN_CMD_ARGS, the pre_request/post_request hooks, -e/--env and raw_env, --capture-output
and --proc-name process titles. Real processes, real sockets, real requests."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from svtools import BIND, ENV, children, get, wait_until

from serverproc import Serve

ENV_APP = """\
import os
import sys

print("imported, GREETING=" + os.environ.get("GREETING", "-"), flush=True)


def app(environ, start_response):
    if environ["PATH_INFO"] == "/print":
        print("printed by the app", flush=True)
        sys.stderr.write("written to stderr by the app\\n")
        sys.stderr.flush()
    body = os.environ.get("GREETING", "-").encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-App", "yes")])
    return [body]
"""

HOOKS_CONF = """\
import json
import time

bind = "127.0.0.1:0"
workers = 1


def _note(record):
    with open({events!r}, "a") as file:
        file.write(json.dumps(record) + "\\n")


def pre_request(worker, req):
    req.started = time.monotonic()
    if req.path == "/pre-fails":
        raise RuntimeError("pre_request refuses")
    _note({{"hook": "pre", "pid": worker.pid, "method": req.method, "path": req.path,
           "query": req.query, "uri": req.uri, "version": list(req.version),
           "headers": [h for h in req.headers if h[0] == "X-TRACE"]}})


def post_request(worker, req, environ, resp):
    if req.path == "/post-fails":
        raise RuntimeError("post_request refuses")
    _note({{"hook": "post", "pid": worker.pid, "path": req.path,
           "timed": hasattr(req, "started"), "status": resp.status,
           "code": resp.status_code, "sent": resp.sent,
           "app_header": [v for k, v in resp.headers if k == "X-App"],
           "path_info": environ.get("PATH_INFO")}})
"""


@pytest.fixture
def env_app(app_dir: Path) -> Path:
    (app_dir / "envapp.py").write_text(ENV_APP)
    return app_dir


def _records(events: Path) -> list[dict[str, object]]:
    if not events.exists():
        return []
    return [json.loads(line) for line in events.read_text().splitlines()]


# --- which config file, GUNICORN_CMD_ARGS -------------------------------------------------------


def test_gunicorn_conf_py_in_the_working_directory_is_read(serve: Serve, env_app: Path) -> None:
    (env_app / "gunicorn.conf.py").write_text(
        'bind = "127.0.0.1:0"\nworkers = 2\nraw_env = ["GREETING=from-the-conf"]\n'
    )
    server = serve("envapp:app", cwd=env_app, env=ENV)
    assert f"Config file: {env_app / 'gunicorn.conf.py'}" in server.log_text()
    assert wait_until(lambda: len(children(server.pid)) == 2, 5)
    assert get(server.host, server.port)[1] == "from-the-conf"


def test_pronghorn_toml_wins_over_gunicorn_conf_py(serve: Serve, env_app: Path) -> None:
    (env_app / "gunicorn.conf.py").write_text('raw_env = ["GREETING=gunicorn"]\n')
    (env_app / "pronghorn.toml").write_text('env = ["GREETING=pronghorn"]\n')
    server = serve(*BIND, "envapp:app", cwd=env_app, env=ENV)
    log = server.log_text()
    assert f"Config file: {env_app / 'pronghorn.toml'}" in log
    assert "only pronghorn.toml is read" in log
    assert get(server.host, server.port)[1] == "pronghorn"


def test_gunicorn_cmd_args_are_read(serve: Serve, env_app: Path) -> None:
    env = {**ENV, "GUNICORN_CMD_ARGS": "--workers 2 --env GREETING='from the variable'"}
    server = serve(*BIND, "envapp:app", cwd=env_app, env=env)
    assert "Settings from GUNICORN_CMD_ARGS: --workers 2" in server.log_text()
    assert wait_until(lambda: len(children(server.pid)) == 2, 5)
    assert get(server.host, server.port)[1] == "from the variable"


def test_a_gunicorn_option_in_gunicorn_cmd_args_is_answered(env_app: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pronghorn", "envapp:app"],
        cwd=env_app,
        env={**os.environ, **ENV, "GUNICORN_CMD_ARGS": "-k gevent"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "GUNICORN_CMD_ARGS: gunicorn's -k (worker_class): use --threads" in result.stderr


# --- --env ----------------------------------------------------------------------------------------


def test_env_reaches_the_app_and_a_reload_sets_the_new_value(serve: Serve, env_app: Path) -> None:
    conf = env_app / "conf.py"
    conf.write_text('raw_env = ["GREETING=first"]\n')
    server = serve(*BIND, "-c", str(conf), "-w", "2", "envapp:app", cwd=env_app, env=ENV)
    assert server.wait_for_stdout("imported, GREETING=first")  # at import, in the worker
    assert get(server.host, server.port)[1] == "first"
    conf.write_text('raw_env = ["GREETING=second"]\n')
    os.kill(server.pid, signal.SIGHUP)
    assert wait_until(lambda: get(server.host, server.port)[1] == "second", 10)


def test_env_is_set_before_a_preloaded_import(serve: Serve, env_app: Path) -> None:
    server = serve(*BIND, "--preload", "-e", "GREETING=hi", "envapp:app", cwd=env_app, env=ENV)
    # Printed before the start, but read through a pipe and a thread: wait for it.
    assert "imported, GREETING=hi" in server.wait_for_stdout("imported, GREETING=")
    assert get(server.host, server.port)[1] == "hi"


# --- request hooks ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [["-w", "1"], ["--single-process"]])
def test_pre_and_post_request_hooks(serve: Serve, app_dir: Path, mode: list[str]) -> None:
    events = app_dir / "events.jsonl"
    conf = app_dir / "hooks.py"
    conf.write_text(HOOKS_CONF.format(events=str(events)))
    (app_dir / "static").mkdir()
    (app_dir / "static" / "a.txt").write_text("static!")
    server = serve(
        "-c", str(conf), *mode, "--static", "/static=static", "svapp:app", cwd=app_dir, env=ENV
    )
    status, body = get(server.host, server.port, "/x/y?a=1&b=2", headers={"X-Trace": "t-1"})
    assert status == 200
    assert get(server.host, server.port, "/static/a.txt") == (200, "static!")
    assert wait_until(lambda: len(_records(events)) == 4, 5)
    pre, post, _, static_post = _records(events)
    worker = int(body.split()[1])  # svapp answers with its pid
    assert pre == {
        "hook": "pre", "pid": worker, "method": "GET", "path": "/x/y", "query": "a=1&b=2",
        "uri": "/x/y?a=1&b=2", "version": [1, 1], "headers": [["X-TRACE", "t-1"]],
    }  # fmt: skip
    assert post == {
        "hook": "post", "pid": worker, "path": "/x/y", "timed": True, "status": "200 OK",
        "code": 200, "sent": len(body), "app_header": [], "path_info": "/x/y",
    }  # fmt: skip
    assert static_post["path_info"] is None and static_post["sent"] == len("static!")


def test_a_failing_hook_is_logged_and_the_request_is_answered(serve: Serve, app_dir: Path) -> None:
    events = app_dir / "events.jsonl"
    conf = app_dir / "hooks.py"
    conf.write_text(HOOKS_CONF.format(events=str(events)))
    server = serve("-c", str(conf), "svapp:app", cwd=app_dir, env=ENV)
    assert get(server.host, server.port, "/pre-fails")[0] == 200
    assert get(server.host, server.port, "/post-fails")[0] == 200
    log = server.wait_for_log("RuntimeError: post_request refuses")
    assert "the pre_request hook failed" in log and "RuntimeError: pre_request refuses" in log
    assert "the post_request hook failed" in log
    # The request whose pre_request failed still reached post_request.
    assert [r["path"] for r in _records(events) if r["hook"] == "post"] == ["/pre-fails"]


# --- --capture-output, --proc-name --------------------------------------------------------------


@pytest.fixture
def logged_server(env_app: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, list[str]]]:
    """Start `pronghorn` with its error log in a file; the test passes the options."""
    log = env_app / "error.log"
    started: list[subprocess.Popen[bytes]] = []
    argv: list[str] = []

    def start(*options: str) -> subprocess.Popen[bytes]:
        argv[:] = [sys.executable, "-m", "pronghorn", *BIND, "--error-logfile", str(log),
                   *options, "envapp:app"]  # fmt: skip
        proc = subprocess.Popen(argv, cwd=env_app, env={**os.environ, **ENV},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        started.append(proc)
        return proc

    yield start, log, argv  # type: ignore[misc]
    for proc in started:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)


def _port(log: Path) -> int:
    assert wait_until(lambda: log.exists() and "Ready" in log.read_text(), 10), log
    match = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", log.read_text())
    assert match
    return int(match.group(1))


@pytest.mark.parametrize("capture", [True, False])
def test_capture_output_sends_prints_to_the_error_log(
    logged_server: tuple[object, Path, list[str]], capture: bool
) -> None:
    start, log, _ = logged_server
    proc = start(*(["--capture-output"] if capture else []))  # type: ignore[operator]
    port = _port(log)
    assert get("127.0.0.1", port, "/print")[0] == 200
    if not capture:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        assert b"printed by the app" in out and b"written to stderr by the app" in err
        assert "printed by the app" not in log.read_text()
        return
    assert wait_until(lambda: "written to stderr by the app" in log.read_text(), 5)
    assert "printed by the app" in log.read_text()
    # After rotation, USR1 reopens the file, and the captured output follows it.
    log.rename(log.with_suffix(".log.1"))
    proc.send_signal(signal.SIGUSR1)
    assert wait_until(lambda: log.exists() and "Reopened log files" in log.read_text(), 5)
    assert wait_until(lambda: _get_ok("127.0.0.1", port, "/print", log), 5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert b"printed by the app" not in out and b"by the app" not in err


def _get_ok(host: str, port: int, path: str, log: Path) -> bool:
    get(host, port, path)
    return "printed by the app" in log.read_text()


def _title(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()


@pytest.mark.parametrize(("given", "name"), [(["--name", "shop"], "shop"), ([], "envapp:app")])
def test_process_titles(serve: Serve, env_app: Path, given: list[str], name: str) -> None:
    server = serve(*BIND, *given, "envapp:app", cwd=env_app, env=ENV)
    assert wait_until(lambda: len(children(server.pid)) == 1, 5)
    (worker,) = children(server.pid)
    assert wait_until(lambda: _title(worker) == f"pronghorn: worker [{name}]", 5)
    assert _title(server.pid) == f"pronghorn: master [{name}]"
    assert "setproctitle" not in server.log_text()  # installed with the test extra


def test_the_gunicorn_conf_py_example(serve: Serve, tmp_path: Path) -> None:
    # examples/gunicorn as committed, from its directory, without -c; only the port changes
    # (the command line beats the file).
    example = Path(__file__).resolve().parents[2] / "examples" / "gunicorn"
    for name in ("gunicorn.conf.py", "hello.py"):
        (tmp_path / name).write_text((example / name).read_text())
    server = serve(*BIND, "hello:app", cwd=tmp_path, env=ENV)
    assert get(server.host, server.port, "/hi") == (200, "hello from gunicorn.conf.py\n")
    log = server.wait_for_log("GET /hi -> 200 in ")
    assert f"Config file: {tmp_path / 'gunicorn.conf.py'}" in log and "forked" in log
    assert '"GET /hi HTTP/1.1" 200' in server.wait_for_stdout("GET /hi")
