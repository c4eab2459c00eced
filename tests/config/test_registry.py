"""The settings registry: precedence, did-you-mean, value validation, and the generated docs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pronghorn.config import (
    BindAddress,
    Config,
    FdAddress,
    StaticMount,
    TcpAddress,
    UnixAddress,
    load_config,
    parse_bind,
    parse_command_line,
)
from pronghorn.config.docs import DOC_PATH, describe_markdown
from pronghorn.config.registry import SETTINGS
from pronghorn.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def config_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "pronghorn.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def error_of(argv: list[str], environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(argv, environ or {})
    return str(info.value)


# --- the registry matches the model ----------------------------------------------------------


def test_every_config_field_has_exactly_one_setting() -> None:
    # `extras` (hooks from a Python config file) is the one field that is not a setting.
    fields = [field.name for field in dataclasses.fields(Config) if field.name != "extras"]
    assert sorted(setting.name for setting in SETTINGS) == sorted(fields)


def test_defaults_come_from_config() -> None:
    assert load_config(["app:x"], {}) == Config(app="app:x")
    for setting in SETTINGS:
        assert setting.default == getattr(Config(), setting.name)


def test_names_are_derived_from_the_long_option() -> None:
    by_name = {setting.name: setting for setting in SETTINGS}
    lrl = by_name["limit_request_line"]
    assert (lrl.long_option, lrl.env_var, lrl.file_key) == (
        "--limit-request-line",
        "PRONGHORN_LIMIT_REQUEST_LINE",
        "limit-request-line",
    )


# --- precedence --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("in_file", "in_env", "on_cli", "expected"),
    [
        (False, False, False, 4),
        (True, False, False, 5),
        (True, True, False, 6),
        (True, True, True, 7),
        (False, True, True, 7),
        (True, False, True, 7),
        (False, True, False, 6),
    ],
)
def test_precedence_defaults_file_env_cli(
    tmp_path: Path, in_file: bool, in_env: bool, on_cli: bool, expected: int
) -> None:
    argv = ["-c", config_file(tmp_path, "threads = 5\n" if in_file else ""), "m:app"]
    argv += ["--threads", "7"] if on_cli else []
    environ = {"PRONGHORN_THREADS": "6"} if in_env else {}
    assert load_config(argv, environ).threads == expected


def test_repeatable_setting_later_source_replaces_the_list(tmp_path: Path) -> None:
    path = config_file(tmp_path, 'bind = ["10.0.0.1:1", "10.0.0.2:2"]\n')
    assert load_config(["-c", path, "m"], {}).bind == ("10.0.0.1:1", "10.0.0.2:2")
    env = {"PRONGHORN_BIND": "127.0.0.1:3,unix:/tmp/s"}
    assert load_config(["-c", path, "m"], env).bind == ("127.0.0.1:3", "unix:/tmp/s")
    argv = ["-c", path, "m", "-b", "[::1]:4", "--bind", "localhost:5"]
    assert load_config(argv, env).bind == ("[::1]:4", "localhost:5")


def test_config_file_path_from_env_and_default_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config_file(tmp_path, 'app = "from.file:app"\n')
    config = load_config([], {"PRONGHORN_CONFIG": path})
    assert (config.app, config.config) == ("from.file:app", path)
    monkeypatch.chdir(tmp_path)
    assert load_config([], {}).app == "from.file:app"
    assert load_config([], {}).config == "pronghorn.toml"


def test_file_keys_accept_dashes_and_underscores(tmp_path: Path) -> None:
    path = config_file(
        tmp_path,
        'app = "m"\nlimit-request-line = 100\nlimit_request_fields = 7\n'
        "static-fallthrough = true\nkeep_alive = 2\npythonpath = ['a,b', 'c']\n",
    )
    config = load_config(["-c", path], {})
    assert config.limit_request_line == 100
    assert config.limit_request_fields == 7
    assert config.static_fallthrough is True
    assert config.keep_alive == 2.0
    assert config.pythonpath == ("a", "b", "c")


def test_cli_values_are_parsed() -> None:
    config = load_config(
        [
            "pkg.mod:create_app('x', 2)",
            "--threads=8",
            "-t",
            "2.5",
            "--pythonpath",
            "a,b",
            "--pythonpath",
            "c",
            "--limit-request-body",
            "0",
            "--log-level",
            "DEBUG",
            "--access-logfile",
            "-",
            "--static-fallthrough",
        ],
        {},
    )
    assert config.app == "pkg.mod:create_app('x', 2)"
    assert (config.threads, config.timeout) == (8, 2.5)
    assert config.pythonpath == ("a", "b", "c")
    assert (config.limit_request_body, config.log_level) == (0, ("debug",))
    assert (config.access_logfile, config.static_fallthrough) == ("-", True)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"PRONGHORN_STATIC_FALLTHROUGH": "yes"}, True),
        ({"PRONGHORN_STATIC_FALLTHROUGH": "0"}, False),
        ({"PRONGHORN_STATIC_FALLTHROUGH": ""}, False),
    ],
)
def test_boolean_from_environment(environ: dict[str, str], expected: bool) -> None:
    assert load_config(["m"], environ).static_fallthrough is expected


def test_no_flag_overrides_the_file(tmp_path: Path) -> None:
    path = config_file(tmp_path, 'app = "m"\nstatic-fallthrough = true\n')
    assert load_config(["-c", path, "--no-static-fallthrough"], {}).static_fallthrough is False


def test_help_and_version_are_switches_not_settings() -> None:
    assert parse_command_line(["--help"]).show_help
    assert parse_command_line(["--version"]).show_version
    assert not parse_command_line(["m"]).show_help


# --- did you mean ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        (["--thread", "3", "m"], {}, "unknown option --thread (did you mean --threads?)"),
        (["--bnd=1", "m"], {}, "unknown option --bnd (did you mean --bind?)"),
        (["--keepalive", "3", "m"], {}, "(did you mean --keep-alive?)"),
        (["--static-fallthru", "m"], {}, "(did you mean --static-fallthrough?)"),
        (["m"], {"PRONGHORN_THREAD": "2"}, "PRONGHORN_THREAD (did you mean PRONGHORN_THREADS?)"),
        (["m"], {"PRONGHORN_ACCESS_LOG_FILE": "-"}, "did you mean PRONGHORN_ACCESS_LOGFILE?"),
        (["m", "extra"], {}, "unexpected extra argument 'extra'"),
    ],
)
def test_misspelt_options_and_variables(
    argv: list[str], environ: dict[str, str], expected: str
) -> None:
    assert expected in error_of(argv, environ)


def test_unrelated_prefixed_variables_are_not_errors() -> None:
    # Test harnesses and wrappers use the prefix too (PRONGHORN_TEST_COMMAND in tests/).
    assert load_config(["m"], {"PRONGHORN_TEST_COMMAND": "gunicorn", "HOME": "/"}).app == "m"


@pytest.mark.parametrize(
    "environ",
    [
        {"PRONGHORN_PURE": "1"},  # close to PRONGHORN_USER
        {"PRONGHORN_BUILD": "compiled"},  # close to PRONGHORN_BIND
        {"PRONGHORN_PURE": "1", "PRONGHORN_BUILD": "pure"},
    ],
)
def test_build_variables_are_not_misspelt_settings(environ: dict[str, str]) -> None:
    # They choose a build (pronghorn.build), and a server may well start with them set.
    # and they set nothing either.
    assert load_config(["m"], environ) == load_config(["m"], {})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("thread = 3\n", "unknown key 'thread' (did you mean threads?)"),
        ("acces_logfile = '-'\n", "unknown key 'acces_logfile' (did you mean access-logfile?)"),
        ("config = 'other.toml'\n", "unknown key 'config'"),
        ("threads = 'four'\n", "key 'threads': expected an integer >= 1, got 'four'"),
        ("threads = true\n", "key 'threads': expected an integer >= 1, got True"),
        ("threads = 0\n", "key 'threads': expected an integer >= 1, got 0"),
        ("timeout = 'x'\n", "key 'timeout': expected a number of seconds > 0"),
        ("static-fallthrough = 'yes'\n", "expected true or false"),
        ("bind = 8000\n", "key 'bind': expected a list of strings"),
        ("bind = ['localhost']\n", "key 'bind': expected HOST:PORT"),
        ("keep-alive = 1\nkeep_alive = 2\n", "'keep-alive' is set twice"),
        ("[server]\nthreads = 2\n", "unknown key 'server'"),
        ("threads = [\n", "is not valid TOML"),
    ],
)
def test_config_file_errors(tmp_path: Path, text: str, expected: str) -> None:
    message = error_of(["-c", config_file(tmp_path, text), "m"])
    assert expected in message
    assert "pronghorn.toml" in message


def test_missing_config_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.toml")
    assert error_of(["-c", missing, "m"]) == f"config file {missing}: no such file"


# --- values ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--threads", "x"], "option --threads: expected an integer >= 1, got 'x'"),
        (["--threads", "0"], "option --threads: expected an integer >= 1, got '0'"),
        (["--backlog", "-1"], "option --backlog: expected an integer >= 1"),
        (["--limit-request-line", "0"], "option --limit-request-line: expected an integer >= 1"),
        (["--limit-request-fields", "1.5"], "option --limit-request-fields: expected an integer"),
        (["--limit-request-field-size", ""], "option --limit-request-field-size: expected an int"),
        (["--limit-request-body", "-5"], "option --limit-request-body: expected an integer >= 0"),
        (["--timeout", "0"], "option --timeout: expected a number of seconds > 0, got '0'"),
        (["-t", "nan"], "option --timeout: expected a number of seconds > 0, got 'nan'"),
        (["--graceful-timeout", "-1"], "option --graceful-timeout: expected a number of seconds"),
        (["--keep-alive", "inf"], "option --keep-alive: expected a number of seconds >= 0"),
        (["--header-timeout", "0"], "option --header-timeout: expected a number of seconds > 0"),
        (["--io-timeout", "soon"], "option --io-timeout: expected a number of seconds > 0"),
        (["--log-level", "loud"], "option --log-level: expected one of debug, info, warning"),
        (["--root-path", "/a?b"], "option --root-path: expected a URL path"),
        (["--root-path", "/a/../b"], "option --root-path: a URL prefix cannot contain"),
        (["--static", "public"], "option --static: expected PREFIX=DIR"),
        (["--static", "/s="], "option --static: expected PREFIX=DIR"),
        (["--static", "/s=a", "--static", "/s/=b"], "option --static: prefix /s is given twice"),
        (["--bind", "a:1", "--bind", "a:1"], "option --bind: address a:1 is given twice"),
        (["--access-logfile", ""], "option --access-logfile: expected a file path"),
        (["--threads"], "argument --threads: expected one argument"),
        (["--static-fallthrough=1"], "ignored explicit argument '1'"),
    ],
)
def test_bad_values_name_the_option_and_what_is_allowed(argv: list[str], expected: str) -> None:
    assert expected in error_of(["m", *argv])


@pytest.mark.parametrize(
    ("app", "expected"),
    [
        ("9lives:app", "argument APP: expected MODULE or MODULE:CALLABLE"),
        ("mod:", "argument APP: expected MODULE or MODULE:CALLABLE"),
        ("a..b:app", "argument APP: expected MODULE or MODULE:CALLABLE"),
    ],
)
def test_bad_app_spec(app: str, expected: str) -> None:
    assert expected in error_of([app])


def test_bad_environment_value_names_the_variable() -> None:
    message = error_of(["m"], {"PRONGHORN_KEEP_ALIVE": "-3"})
    assert message == (
        "environment variable PRONGHORN_KEEP_ALIVE: expected a number of seconds >= 0, got '-3'"
    )


def test_app_or_static_is_required() -> None:
    assert "no application given" in error_of([])
    config = load_config(["--static", "/=./public"], {})
    assert config.app is None
    assert config.static == (StaticMount("", "./public"),)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8000", TcpAddress("127.0.0.1", 8000)),
        ("0.0.0.0:0", TcpAddress("0.0.0.0", 0)),
        ("localhost:65535", TcpAddress("localhost", 65535)),
        ("my-host.example.com:80", TcpAddress("my-host.example.com", 80)),
        ("[::1]:8080", TcpAddress("::1", 8080)),
        ("[::]:80", TcpAddress("::", 80)),
        ("[fe80::1%eth0]:80", TcpAddress("fe80::1%eth0", 80)),
        ("unix:/run/p.sock", UnixAddress("/run/p.sock")),
        ("unix:relative.sock", UnixAddress("relative.sock")),
        ("fd://3", FdAddress(3)),
    ],
)
def test_bind_forms(text: str, expected: BindAddress) -> None:
    assert parse_bind(text) == expected
    assert str(parse_bind(text)) == text
    assert load_config(["m", "--bind", text], {}).bind == (text,)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("localhost", "has no port"),
        ("::1:8000", "IPv6 addresses go in brackets, as in [::1]:8000"),
        ("[::1]8000", "expected [IPV6]:PORT"),
        ("[nothost]:80", "'nothost' is not an IPv6 address"),
        (":8000", "use 0.0.0.0:8000"),
        ("host:http", "the port 'http' is not a number"),
        ("host:-1", "the port '-1' is not a number"),
        ("host:65536", "the port 65536 is out of range"),
        ("host:", "the port '' is not a number"),
        ("bad_host!:80", "'bad_host!' is not a host name"),
        ("unix:", "unix: needs a socket path"),
        ("fd://", "fd:// needs a file descriptor number"),
        ("fd://-1", "fd:// needs a file descriptor number"),
    ],
)
def test_bad_bind_forms(text: str, expected: str) -> None:
    message = error_of(["m", "--bind", text])
    assert message.startswith("option --bind: ")
    assert expected in message
    assert message.endswith(f"got {text!r}")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("", ""),
        ("/", ""),
        ("//", ""),
        ("app", "/app"),
        ("/app/", "/app"),
        ("/a//b/", "/a/b"),
        ("/shop/v2", "/shop/v2"),
    ],
)
def test_root_path_normalisation(given: str, expected: str) -> None:
    environ = {"PRONGHORN_ROOT_PATH": given} if given else {}
    assert load_config(["m", "--root-path", given or "/"], {}).root_path == expected
    assert load_config(["m"], environ).root_path == expected


@pytest.mark.parametrize(
    ("mounts", "expected"),
    [
        (["/=./public"], (StaticMount("", "./public"),)),
        (["/static/=static"], (StaticMount("/static", "static"),)),
        (["media=/srv/media"], (StaticMount("/media", "/srv/media"),)),
        (["/a=x", "/b=y=z"], (StaticMount("/a", "x"), StaticMount("/b", "y=z"))),
    ],
)
def test_static_mounts(mounts: list[str], expected: tuple[StaticMount, ...]) -> None:
    argv = [arg for mount in mounts for arg in ("--static", mount)]
    assert load_config(argv, {}).static == expected
    assert load_config([], {"PRONGHORN_STATIC": ",".join(mounts)}).static == expected


# --- docs --------------------------------------------------------------------------------------


def test_committed_docs_equal_the_generated_text() -> None:
    committed = (REPO / DOC_PATH).read_text(encoding="utf-8")
    assert committed == describe_markdown(), "run: python -m pronghorn.config.docs"


def test_docs_mention_every_option_variable_and_key() -> None:
    text = describe_markdown()
    for setting in SETTINGS:
        assert f"`{setting.env_var}`" in text
        assert setting.help in text
        for flag in setting.flags:
            assert f"`{flag}" in text
        if setting.in_file:
            assert f"`{setting.file_key}`" in text
