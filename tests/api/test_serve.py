"""`pronghorn.serve(app, ...)`: a script that calls it, run as a subprocess on real sockets
(single process, and a master with two workers that inherit the app object), and its
configuration errors, which are the registry's and raise before anything is bound."""

from __future__ import annotations

import http.client
import json
import os
import signal
import sys
import threading
from pathlib import Path

import pytest

import pronghorn
from pronghorn.api import build
from pronghorn.config import parse_command_line
from pronghorn.config.sources import read_keywords
from pronghorn.errors import ConfigError
from serverproc import ServerProcess

SCRIPT = Path(__file__).with_name("serve_script.py")


def start(**settings: object) -> ServerProcess:
    command = [sys.executable, str(SCRIPT), json.dumps(settings)]
    return ServerProcess([], command=command)


def get(server: ServerProcess, path: str = "/") -> tuple[int, str]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_single_process_serves_and_stops_cleanly() -> None:
    with start(port=0, single_process=True, threads=2) as server:
        assert get(server, "/hello") == (200, f"pid {server.pid} path /hello\n")
        assert server.stop(signal.SIGTERM) == 0


def test_two_workers_inherit_the_app_and_survive_hup_and_usr2() -> None:
    with start(bind=["127.0.0.1:0"], workers=2, keep_alive=0) as server:
        server.wait_for_log("Ready: 2 worker(s) serving")
        status, body = get(server, "/a")
        assert status == 200 and body.startswith("pid ") and f"pid {server.pid} " not in body
        os.kill(server.pid, signal.SIGHUP)  # new workers, the same object
        server.wait_for_log("Reload complete: 2 new worker(s) serving")
        assert get(server, "/b")[0] == 200
        # USR2 would re-run `python -m pronghorn`, which has no name for the object: it is
        # refused with a reason, and this master carries on.
        os.kill(server.pid, signal.SIGUSR2)
        server.wait_for_log("USR2 ignored: this server was started by pronghorn.serve()")
        assert get(server, "/c")[0] == 200
        assert "Upgrade (USR2): started a new master" not in server.log_text()
        assert server.stop(signal.SIGTERM) == 0


def app(environ: object, start_response: object) -> list[bytes]:
    return []


def test_unknown_keyword_says_did_you_mean() -> None:
    with pytest.raises(
        ConfigError, match=r"^serve\(\): unknown setting 'worker' \(did you mean workers\?\)$"
    ):
        pronghorn.serve(app, worker=2)


@pytest.mark.parametrize(
    ("keyword", "value", "argv"),
    [
        ("workers", "0", ["--workers", "0", "m:app"]),
        ("threads", "many", ["--threads", "many", "m:app"]),
        ("log_level", "loud", ["--log-level", "loud", "m:app"]),
        ("bind", "127.0.0.1", ["--bind", "127.0.0.1", "m:app"]),
    ],
)
def test_a_bad_value_gets_the_command_line_message(
    keyword: str, value: str, argv: list[str]
) -> None:
    with pytest.raises(ConfigError) as from_cli:
        parse_command_line(argv)
    with pytest.raises(ConfigError) as from_serve:
        pronghorn.serve(app, **{keyword: value if keyword != "bind" else [value]})
    option = f"option --{keyword.replace('_', '-')}: "
    assert str(from_cli.value).startswith(option)
    assert str(from_serve.value) == f"serve(): {keyword}: " + str(from_cli.value).removeprefix(
        option
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"workers": True}, "serve(): workers: expected an integer >= 1, got True"),
        ({"keep_alive": "5"}, "serve(): keep_alive: expected a number of seconds >= 0, got '5'"),
        ({"reload": True}, "reload cannot work with an application object"),
        (
            {"host": "::1", "bind": ["127.0.0.1:0"]},
            "serve(): give host and port, or bind, not both",
        ),
        ({"port": 70000}, "the port 70000 is out of range 0 to 65535"),
        ({"single_process": True, "workers": 2}, "--single-process runs one process"),
    ],
)
def test_configuration_mistakes_raise(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        pronghorn.serve(app, **settings)  # type: ignore[arg-type]
    assert message in str(caught.value)
    assert str(caught.value).startswith("serve(): ") or not message.startswith("serve(): ")


def test_an_app_that_is_not_callable_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="app must be a WSGI callable, not str"):
        pronghorn.serve("myproject.wsgi:application")  # type: ignore[arg-type]


def test_keywords_become_the_config_the_command_line_would_build(tmp_path: Path) -> None:
    config_file = tmp_path / "pronghorn.toml"
    config_file.write_text('threads = 3\naccess-logfile = "-"\n')
    given = read_keywords(
        {"bind": ("[::1]:0", "unix:" + str(tmp_path / "s")), "keep_alive": 0,
         "static": [f"/s={tmp_path}"], "pid": tmp_path / "p.pid", "config": config_file},
        "serve()",
    )  # fmt: skip
    config = build(app, given)
    expected = parse_command_line(
        ["-b", "[::1]:0", "-b", f"unix:{tmp_path / 's'}", "--keep-alive", "0", "--static",
         f"/s={tmp_path}", "--pid", str(tmp_path / "p.pid"), "--threads", "3",
         "--access-logfile", "-", "-c", str(config_file), "m:app"]
    )  # fmt: skip
    for name, value in expected.values.items():
        if name != "app":
            assert getattr(config, name) == value, name
    assert config.app == f"{__name__}:app"


def test_host_and_port_make_one_address() -> None:
    def bind(**settings: object) -> tuple[str, ...]:
        from pronghorn.api import with_address

        host, port = settings.pop("host", None), settings.pop("port", None)
        return build(app, read_keywords(with_address(host, port, settings, "t"), "t")).bind

    assert bind() == ("127.0.0.1:8000",)
    assert bind(port=0) == ("127.0.0.1:0",)
    assert bind(host="0.0.0.0") == ("0.0.0.0:8000",)
    assert bind(host="::1", port=9) == ("[::1]:9",)
    assert bind(bind=["127.0.0.1:1", "127.0.0.1:2"]) == ("127.0.0.1:1", "127.0.0.1:2")


def test_serve_refuses_to_run_outside_the_main_thread() -> None:
    raised: list[BaseException] = []

    def call() -> None:
        try:
            pronghorn.serve(app, port=0, single_process=True)
        except RuntimeError as exc:
            raised.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    thread.join(10)
    assert [str(exc) for exc in raised] == [
        "pronghorn.serve() runs in the main thread: it handles the signals"
    ]
