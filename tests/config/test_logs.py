"""Access-log atoms and formats, escaping of hostile input, and the configured handlers."""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from pronghorn.config.model import Config
from pronghorn.errors import ConfigError
from pronghorn.logs import (
    PRESET_FORMATS,
    AccessLog,
    AccessRecord,
    Logs,
    compile_format,
    configure,
)

# 2023-11-14 22:13:20 UTC
WHEN = 1_700_000_000.25


@pytest.fixture
def utc() -> Iterator[None]:
    set_timezone("UTC0")
    yield
    set_timezone(None)


def set_timezone(tz: str | None) -> None:
    if tz is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = tz
    time.tzset()


def record(**changes: object) -> AccessRecord:
    base = AccessRecord(
        remote_addr="192.0.2.7",
        remote_port=51000,
        request_time=WHEN,
        method="GET",
        target="/path/x?q=1&b=2",
        version="HTTP/1.1",
        status=200,
        response_bytes=1234,
        duration=1.2345678,
        request_headers=[
            (b"Host", b"example.com"),
            (b"User-Agent", b"curl/8.4"),
            (b"Referer", b"http://ref.example/"),
            (b"Authorization", b"Basic " + base64.b64encode(b"alice:secret")),
            (b"Accept", b"text/html"),
            (b"accept", b"*/*"),
        ],
        response_headers=[("Content-Type", "text/plain"), ("X-Request-Id", "r-7")],
        pid=4242,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def render(spec: str, rec: AccessRecord | None = None) -> str:
    return compile_format(spec)(rec or record())


@pytest.mark.parametrize(
    ("atom", "expected"),
    [
        ("h", "192.0.2.7"),
        ("l", "-"),
        ("u", "alice"),
        ("t", "[14/Nov/2023:22:13:20 +0000]"),
        ("r", "GET /path/x?q=1&b=2 HTTP/1.1"),
        ("m", "GET"),
        ("U", "/path/x"),
        ("q", "q=1&b=2"),
        ("H", "HTTP/1.1"),
        ("s", "200"),
        ("B", "1234"),
        ("b", "1234"),
        ("f", "http://ref.example/"),
        ("a", "curl/8.4"),
        ("T", "1"),
        ("M", "1234"),
        ("D", "1234567"),
        ("L", "1.234568"),
        ("p", "<4242>"),
        ("X", "+"),
        ("{host}i", "example.com"),
        ("{HOST}i", "example.com"),
        ("{accept}i", "text/html, */*"),
        ("{x-missing}i", "-"),
        ("{x-request-id}o", "r-7"),
        ("{Content-Type}o", "text/plain"),
        ("{x-missing}o", "-"),
    ],
)
def test_each_atom(utc: None, atom: str, expected: str) -> None:
    assert render(f"%({atom})s") == expected


@pytest.mark.parametrize(
    ("changes", "atom", "expected"),
    [
        ({"response_bytes": 0}, "b", "-"),
        ({"response_bytes": 0}, "B", "0"),
        ({"request_headers": []}, "u", "-"),
        ({"request_headers": []}, "f", "-"),
        ({"request_headers": []}, "a", "-"),
        ({"request_headers": [(b"Authorization", b"Bearer abc")]}, "u", "-"),
        ({"request_headers": [(b"Authorization", b"Basic !!!")]}, "u", "-"),
        ({"request_headers": [(b"authorization", b"basic Ym9iOng=")]}, "u", "bob"),
        ({"target": "/no-query"}, "q", ""),
        ({"target": "/no-query"}, "U", "/no-query"),
        ({"remote_addr": ""}, "h", "-"),
        ({"duration": 0.0004}, "L", "0.000400"),
        ({"duration": 0.0004}, "D", "400"),
        ({"environ": {"REMOTE_USER": "carol"}}, "{REMOTE_USER}e", "carol"),
        ({"environ": {}}, "{REMOTE_USER}e", "-"),
        ({"keep_alive": False}, "X", "-"),
        ({"completed": False}, "X", "X"),
        ({"completed": False, "keep_alive": False}, "X", "X"),
    ],
)
def test_atom_edge_cases(changes: dict[str, object], atom: str, expected: str) -> None:
    assert render(f"%({atom})s", record(**changes)) == expected


def test_environment_atom_without_environ_reads_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PRONGHORN_LOG_TEST_VALUE", "from-env")
    assert render("%({PRONGHORN_LOG_TEST_VALUE}e)s") == "from-env"


def test_time_atom_uses_the_local_offset() -> None:
    try:
        set_timezone("IST-05:30")
        assert render("%(t)s") == "[15/Nov/2023:03:43:20 +0530]"
        set_timezone("XST+03")
        assert render("%(t)s") == "[14/Nov/2023:19:13:20 -0300]"
    finally:
        set_timezone(None)


def test_combined_is_the_default_and_matches_gunicorn(utc: None) -> None:
    assert Config().access_logformat == "combined"
    assert render("combined") == (
        '192.0.2.7 - alice [14/Nov/2023:22:13:20 +0000] "GET /path/x?q=1&b=2 HTTP/1.1" 200 1234 '
        '"http://ref.example/" "curl/8.4"'
    )
    assert render("combined") == render(
        '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'
    )


def test_common(utc: None) -> None:
    assert render("common") == (
        '192.0.2.7 - alice [14/Nov/2023:22:13:20 +0000] "GET /path/x?q=1&b=2 HTTP/1.1" 200 1234'
    )


def test_literal_text_and_percent_signs() -> None:
    assert render("100%% %(s)s in %(L)ss (%(m)s)") == "100% 200 in 1.234568s (GET)"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("%(x)s", "unknown atom %(x)s"),
        ("%(hh)s", "unknown atom %(hh)s (did you mean %(h)s?)"),
        ("%({host}x)s", "unknown atom %({host}x)s"),
        ("%({}i)s", "unknown atom %({}i)s"),
        ("%(h)d", "bad placeholder '%(h)d' at offset 0"),
        ("%(h)", "bad placeholder '%(h)' at offset 0"),
        ("50% done", "bad placeholder '%' at offset 2"),
        ("%h %s", "bad placeholder"),
    ],
)
def test_bad_formats_name_the_option(spec: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        compile_format(spec)
    assert str(info.value).startswith("option --access-logformat: ")
    assert expected in str(info.value)


HOSTILE = record(
    target='/a\nb"c\x1b[31m\\d\x00caf\u00e9\u2028',
    request_headers=[
        (b"User-Agent", b'evil\r\n127.0.0.1 - - "GET / HTTP/1.1" 200\xff\xfe'),
        (b"Referer", b"\x7f\x80"),
    ],
    response_headers=[("X-Echo", "line1\nline2\t\u202e")],
)


def test_text_formats_escape_hostile_bytes() -> None:
    line = render(PRESET_FORMATS["combined"] + " %({x-echo}o)s", HOSTILE)
    assert line.isascii() and line.isprintable()
    assert '"GET /a\\x0ab\\"c\\x1b[31m\\\\d\\x00caf\\xe9\\u2028 HTTP/1.1"' in line
    assert '"evil\\x0d\\x0a127.0.0.1 - - \\"GET / HTTP/1.1\\" 200\\xff\\xfe"' in line
    assert '"\\x7f\\x80"' in line
    assert line.endswith("line1\\x0aline2\\x09\\u202e")
    # Exactly the six quotes the combined format writes remain unescaped.
    assert len(re.findall(r'(?<!\\)"', line)) == 6


def test_json_is_one_escaped_object_per_line(utc: None) -> None:
    line = render("json", HOSTILE)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert line.isascii()
    data = json.loads(line)
    assert data["target"] == HOSTILE.target
    assert data["user_agent"] == 'evil\r\n127.0.0.1 - - "GET / HTTP/1.1" 200\\xff\\xfe'
    assert data["referer"] == "\x7f\\x80"
    assert data["time"] == "2023-11-14T22:13:20.250+00:00"
    assert {k: data[k] for k in ("remote_addr", "remote_port", "status", "bytes", "pid")} == {
        "remote_addr": "192.0.2.7",
        "remote_port": 51000,
        "status": 200,
        "bytes": 1234,
        "pid": 4242,
    }
    assert data["duration"] == 1.234568


def test_json_without_optional_headers() -> None:
    data = json.loads(render("json", record(request_headers=[])))
    assert data["referer"] is None and data["user_agent"] is None


def test_json_says_whether_the_response_was_completed() -> None:
    assert json.loads(render("json"))["completed"] is True
    assert json.loads(render("json", record(completed=False)))["completed"] is False


def test_access_lines_are_log_records_with_every_field() -> None:
    """AccessLog builds its LogRecords from a pattern (the cost of a line): each must have
    the fields, and values, that logging.LogRecord gives, its own time and thread."""
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    logger = logging.getLogger("pronghorn.test-access-fields")
    logger.propagate = False
    keep = Keep()
    logger.addHandler(keep)
    try:
        access = AccessLog(logger, "%(s)s", enabled=True)
        before = time.time()
        access.log(record())
        after = time.time()
        other = threading.Thread(target=access.log, args=(record(status=404),), name="other")
        other.start()
        other.join(10)
    finally:
        logger.removeHandler(keep)
    real = logging.LogRecord(logger.name, logging.INFO, "", 0, "200", None, None)
    first, second = seen
    assert vars(first).keys() == vars(real).keys()
    timed = {"created", "msecs", "relativeCreated"}
    assert {k: v for k, v in vars(first).items() if k not in timed} == {
        k: v for k, v in vars(real).items() if k not in timed
    }
    assert before <= first.created <= after
    assert first.msecs == int((first.created % 1) * 1000)
    assert 0 <= real.relativeCreated - first.relativeCreated < 1000 * (time.time() - before) + 1
    assert (first.getMessage(), second.getMessage()) == ("200", "404")
    assert (second.threadName, second.thread) == ("other", other.ident)


# --- configure ---------------------------------------------------------------------------------


def ours(name: str) -> list[logging.Handler]:
    """The handlers `configure` installed (pytest adds its own capture handlers too)."""
    return [h for h in logging.getLogger(name).handlers if h.get_name() == name]


@pytest.fixture
def configured() -> Iterator[list[Logs]]:
    made: list[Logs] = []
    yield made
    for logs in made:
        logs.close()


def test_access_log_to_file_and_reopen(tmp_path: Path, configured: list[Logs]) -> None:
    path = tmp_path / "access.log"
    logs = configure(Config(access_logfile=str(path), access_logformat="%(s)s %(U)s"))
    configured.append(logs)
    assert logs.access.enabled
    logs.access.log(record())
    path.rename(tmp_path / "access.log.1")
    logs.reopen()
    logs.access.log(record(status=404))
    assert (tmp_path / "access.log.1").read_text() == "200 /path/x\n"
    assert path.read_text() == "404 /path/x\n"


def test_access_log_off_writes_nothing(
    capsys: pytest.CaptureFixture[str], configured: list[Logs]
) -> None:
    logs = configure(Config(access_logfile=None))
    configured.append(logs)
    assert not logs.access.enabled
    logs.access.log(record())
    assert ours("pronghorn.access") == []
    assert capsys.readouterr() == ("", "")


def test_access_log_dash_is_stdout(
    capsys: pytest.CaptureFixture[str], configured: list[Logs]
) -> None:
    logs = configure(Config(access_logfile="-", access_logformat="%(m)s %(s)s"))
    configured.append(logs)
    logs.access.log(record())
    assert capsys.readouterr().out == "GET 200\n"


def test_error_log_format_and_level(
    capsys: pytest.CaptureFixture[str], configured: list[Logs]
) -> None:
    logs = configure(Config(log_level=("warning",)))
    configured.append(logs)
    logs.error.info("not shown")
    logs.error.warning("shown %s", 1)
    err = capsys.readouterr().err
    pattern = (
        rf"\[\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{{4}}\] \[{os.getpid()}\] \[WARNING\] shown 1\n"
    )
    assert re.fullmatch(pattern, err), err


def test_configure_twice_replaces_handlers(tmp_path: Path, configured: list[Logs]) -> None:
    path = tmp_path / "error.log"
    configured.append(configure(Config(error_logfile=str(path))))
    logs = configure(Config(error_logfile=str(path)))
    configured.append(logs)
    logs.error.info("once")
    assert path.read_text().count("once") == 1
    assert len(ours("pronghorn.error")) == 1


@pytest.mark.parametrize("option", ["error_logfile", "access_logfile"])
def test_unopenable_log_file(tmp_path: Path, option: str) -> None:
    target = str(tmp_path / "no" / "such" / "dir.log")
    with pytest.raises(ConfigError) as info:
        configure(Config(**{option: target}))  # type: ignore[arg-type]
    assert str(info.value) == (
        f"option --{option.replace('_', '-')}: cannot open {target}: No such file or directory"
    )


def test_bad_format_fails_before_touching_handlers() -> None:
    before = ours("pronghorn.error")
    with pytest.raises(ConfigError):
        configure(Config(access_logfile="-", access_logformat="%(nope)s"))
    assert ours("pronghorn.error") == before
