"""Reading log settings: --log-level items, --log-config-dict values, and a log
configuration that cannot be used stopping the start with one clear line and exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pronghorn.config import parse_command_line
from pronghorn.config.sources import build_config
from pronghorn.errors import ConfigError
from pronghorn.logs.setup import split_levels


def _config(*argv: str, env: dict[str, str] | None = None) -> object:
    return build_config(parse_command_line([*argv, "m:app"]), env or {})


@pytest.mark.parametrize(
    ("argv", "levels"),
    [
        ([], ("info",)),
        (["--log-level", "DEBUG"], ("debug",)),
        (
            ["--log-level", "info", "--log-level", "pronghorn.access=warning"],
            ("info", "pronghorn.access=warning"),
        ),
        (["--log-level", "warning,myapp.db=debug"], ("warning", "myapp.db=debug")),
        (["--log-level", "myapp.db = Error"], ("myapp.db=error",)),
    ],
)
def test_log_level_items(argv: list[str], levels: tuple[str, ...]) -> None:
    assert _config(*argv).log_level == levels


def test_log_level_items_from_the_environment() -> None:
    config = _config(env={"PRONGHORN_LOG_LEVEL": "error,myapp=debug"})
    assert config.log_level == ("error", "myapp=debug")


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("warn", "unknown level 'warn' (did you mean warning?)"),
        ("myapp.db=debgu", "unknown level 'debgu' (did you mean debug?)"),
        ("loud", "option --log-level: expected one of debug, info, warning, error, critical"),
        ("=debug", "a logger name is dotted words"),
        ("my app=debug", "a logger name is dotted words"),
    ],
)
def test_bad_log_levels_are_refused(item: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _config("--log-level", item)
    assert message in str(info.value)


def test_split_levels_last_bare_level_wins() -> None:
    error, named = split_levels(("debug", "a.b=warning", "error", "a.b=info"))
    assert (error, named) == (40, {"a.b": 20})
    assert split_levels(("x=debug",)) == (20, {"x": 10})


def test_log_config_dict_is_json_on_the_command_line() -> None:
    config = _config("--log-config-dict", '{"version": 1, "loggers": {"x": {"level": "DEBUG"}}}')
    assert config.log_config_dict == {
        "version": 1,
        "loggers": {"x": {"level": "DEBUG"}},
    }


@pytest.mark.parametrize("value", ["[1, 2]", "{not json", '"text"'])
def test_log_config_dict_must_be_a_json_object(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        _config("--log-config-dict", value)
    assert "option --log-config-dict: expected a JSON object" in str(info.value)


def test_log_config_dict_is_a_table_in_a_config_file(tmp_path: Path) -> None:
    file = tmp_path / "pronghorn.toml"
    file.write_text('[log-config-dict]\nversion = 1\n[log-config-dict.root]\nlevel = "INFO"\n')
    config = build_config(parse_command_line(["-c", str(file), "m:app"]), {})
    assert config.log_config_dict == {"version": 1, "root": {"level": "INFO"}}


def test_gunicorn_names_in_a_python_config_file(tmp_path: Path) -> None:
    file = tmp_path / "gunicorn.conf.py"
    file.write_text(
        "logconfig_dict = {'version': 1, 'root': {'level': 'INFO'}}\n"
        "logconfig = 'logging.ini'\nloglevel = 'debug'\n"
    )
    config = build_config(parse_command_line(["-c", str(file), "m:app"]), {})
    assert config.log_config_dict == {"version": 1, "root": {"level": "INFO"}}
    assert (config.log_config, config.log_level) == ("logging.ini", ("debug",))


# --- a log configuration that cannot be used: exit 2, one line, no traceback ------------------

BAD_CONFIGS = [
    ("missing.json", None, "option --log-config missing.json: cannot read it: No such file"),
    ("bad.json", '{"version": 1,', "option --log-config bad.json: not valid JSON"),
    ("bad.toml", "version = = 1", "option --log-config bad.toml: not valid TOML"),
    ("list.json", "[1]", "expected a dictConfig dictionary"),
    (
        "bad.ini",
        "[loggers]\nkeys=root\n",
        "option --log-config bad.ini: no section or key 'formatters'",
    ),
    ("notini.conf", "just words", "not a logging ini file"),
    (
        "handler.json",
        '{"version": 1, "handlers": {"h": {"class": "no.such.Handler"}}}',
        "Unable to configure handler 'h'",
    ),
    ("version.json", '{"version": 2}', "Unsupported version: 2"),
]


@pytest.mark.parametrize(
    ("name", "content", "message"), BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS]
)
def test_an_unusable_log_config_stops_the_start(
    tmp_path: Path, name: str, content: str | None, message: str
) -> None:
    if content is not None:
        (tmp_path / name).write_text(content)
    done = subprocess.run(
        [sys.executable, "-m", "pronghorn", "--bind", "127.0.0.1:0", "--log-config", name, "m:app"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unusable_log_config_dict_stops_the_start(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pronghorn", "--bind", "127.0.0.1:0", "--log-config-dict",
         '{"version": 1, "loggers": {"x": {"level": "LOUD"}}}', "m:app"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "option --log-config-dict: Unable to configure logger 'x'" in done.stderr
    assert "Traceback" not in done.stderr


def test_check_config_reads_the_log_config(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("def app(environ, start_response):\n    return []\n")
    (tmp_path / "bad.toml").write_text("version = = 1")
    done = subprocess.run(
        [sys.executable, "-m", "pronghorn", "--check-config", "--log-config", "bad.toml", "m:app"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "option --log-config bad.toml: not valid TOML" in done.stderr


def test_print_config_writes_the_dict_as_a_table_that_reads_back(tmp_path: Path) -> None:
    given = {"version": 1, "loggers": {"a.b": {"level": "DEBUG", "handlers": []}}}
    done = subprocess.run(
        [sys.executable, "-m", "pronghorn", "--print-config", "--log-config-dict",
         json.dumps(given), "--log-level", "info,a.b=debug", "m:app"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (tmp_path / "printed.toml").write_text(done.stdout)
    config = build_config(parse_command_line(["-c", str(tmp_path / "printed.toml")]), {})
    assert config.log_config_dict == given
    assert config.log_level == ("info", "a.b=debug")
