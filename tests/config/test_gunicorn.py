"""Every gunicorn setting, flag and signal has an answer, checked against gunicorn itself.

Table-driven over `pronghorn.config.gunicorn` and gunicorn's own `KNOWN_SETTINGS` (the
gunicorn of the test extra): the table is complete and agrees with gunicorn's names,
sections and flags; each flag on the command line is either accepted for its equivalent or
refused with the equivalent or the reason (never a "did you mean" pointing elsewhere); each
name in a Python config file is read, kept as a hook, or ignored with a warning or refused
as its entry says; each name in a TOML file is answered the same way.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from pathlib import Path

import gunicorn
import gunicorn.config
import pytest

from pronghorn.config import load_config, parse_command_line
from pronghorn.config.arguments import all_options
from pronghorn.config.gunicorn import (
    GUNICORN_SETTINGS,
    GUNICORN_SIGNALS,
    GUNICORN_VERSION,
    Answer,
    GunicornSetting,
)
from pronghorn.config.gunicorn_docs import GUNICORN_DOC_PATH, describe_gunicorn_markdown
from pronghorn.config.model import HOOK_NAMES
from pronghorn.config.registry import BY_NAME
from pronghorn.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
KNOWN = {setting.name: setting for setting in gunicorn.config.KNOWN_SETTINGS}
ENTRIES = {entry.name: entry for entry in GUNICORN_SETTINGS}
FLAGS = [(entry, flag) for entry in GUNICORN_SETTINGS for flag in entry.flags]

# A valid value for each pronghorn setting a gunicorn flag stands for, where the default
# is no sample (None or a tuple).
SAMPLES = {
    "config": "some.toml",
    "bind": "127.0.0.1:9001",
    "chdir": "/tmp",
    "pid": "x.pid",
    "user": "nobody",
    "group": "nogroup",
    "umask": "022",
    "pythonpath": "lib",
    "access_logfile": "-",
    "raw_env": "A=1",
    "log_level": "debug",
    "log_config": "logging.json",
    "proc_name": "shop",
    "root_path": "/shop",
    "proxy_allow_from": "10.0.0.0/8",
    "uwsgi_allow_ips": "10.0.0.0/8",
    "statsd_host": "127.0.0.1:8125",
    "forwarded_allow_ips": "10.0.0.0/8",
}


def _takes_value(flag_owner: str) -> bool:
    return KNOWN[flag_owner].action not in ("store_true", "store_const", "store_false")


def _id(item: object) -> str:
    if isinstance(item, tuple):
        return f"{item[0].name}:{item[1]}"
    return item.name if isinstance(item, GunicornSetting) else str(item)


# --- the table against gunicorn ---------------------------------------------------------------


def test_the_pinned_gunicorn_is_the_one_installed() -> None:
    assert gunicorn.__version__ == GUNICORN_VERSION


def test_every_gunicorn_setting_is_answered_once() -> None:
    names = [entry.name for entry in GUNICORN_SETTINGS]
    assert len(names) == len(set(names))
    assert set(names) == set(KNOWN)


@pytest.mark.parametrize("entry", GUNICORN_SETTINGS, ids=_id)
def test_sections_and_flags_are_gunicorns(entry: GunicornSetting) -> None:
    known = KNOWN[entry.name]
    assert (entry.section, entry.flags) == (known.section, tuple(known.cli or ()))


@pytest.mark.parametrize("entry", GUNICORN_SETTINGS, ids=_id)
def test_every_equivalent_named_is_real(entry: GunicornSetting) -> None:
    if entry.answer is Answer.SAME or entry.answer is Answer.INSTEAD:
        assert entry.target in BY_NAME
    elif entry.answer is Answer.COMMAND:
        assert entry.target in all_options()
    elif entry.answer is Answer.HOOK:
        assert entry.target in HOOK_NAMES
    elif entry.answer is Answer.LATER:
        assert entry.target in ("11", "12") and entry.note
    else:
        assert entry.answer is Answer.NONE and entry.note and not entry.target


def test_every_hook_pronghorn_calls_is_a_gunicorn_hook() -> None:
    hooks = {entry.name for entry in GUNICORN_SETTINGS if entry.answer is Answer.HOOK}
    assert hooks == set(HOOK_NAMES)


def test_every_gunicorn_signal_is_answered() -> None:
    from gunicorn.arbiter import Arbiter

    wanted = [signal.name.removeprefix("SIG") for signal in Arbiter.SIGNALS]
    assert sorted(signal.name for signal in GUNICORN_SIGNALS) == sorted(wanted)


# --- the command line -------------------------------------------------------------------------


@pytest.mark.parametrize(("entry", "flag"), FLAGS, ids=_id)
def test_every_gunicorn_flag_is_accepted_or_answered(entry: GunicornSetting, flag: str) -> None:
    setting = BY_NAME.get(entry.target) if entry.answer is Answer.SAME else None
    value = []
    if _takes_value(entry.name):
        sample = SAMPLES.get(entry.target) if setting else "x"
        value = [str(setting.default if sample is None and setting else sample)]
    argv = [flag, *value, "m:app"]
    if setting is not None:
        given = parse_command_line(argv).values
        assert setting.name in given
        return
    if entry.answer is Answer.COMMAND:
        command = parse_command_line(argv)
        assert command.command == flag
        return
    with pytest.raises(ConfigError) as info:
        parse_command_line(argv)
    message = str(info.value)
    assert message.startswith(f"gunicorn's {flag} ({entry.name}): ")
    assert "did you mean" not in message
    if entry.answer is Answer.INSTEAD:
        assert f"use {BY_NAME[entry.target].long_option} instead" in message
    assert entry.note in message


@pytest.mark.parametrize(
    ("argv", "name", "value"),
    [
        (["--limit-request-field_size", "100"], "limit_request_field_size", 100),
        (["--log-file", "err.log"], "error_logfile", "err.log"),
        (["-n", "shop"], "proc_name", "shop"),
        (["--name", "shop"], "proc_name", "shop"),
        (["-e", "A=1", "--env", "B=x=y", "-e", "C="], "raw_env", ("A=1", "B=x=y", "C=")),
        (["--capture-output"], "capture_output", True),
        (["--keep-alive", "2"], "keep_alive", 2.0),
    ],
)
def test_gunicorn_spellings_reach_the_setting(argv: list[str], name: str, value: object) -> None:
    assert getattr(load_config([*argv, "m:app"], {}), name) == value


def test_v_is_version_as_in_gunicorn() -> None:
    assert parse_command_line(["-v"]).show_version


def test_the_alias_is_not_in_the_help() -> None:
    from pronghorn.config import help_text

    assert "--limit-request-field-size" in help_text()
    assert "field_size" not in help_text()


@pytest.mark.parametrize("bad", ["=1", "A", " A=1", "A\0=1"])
def test_env_assignments_are_checked(bad: str) -> None:
    with pytest.raises(ConfigError, match="option --env: expected KEY=VALUE"):
        load_config(["-e", bad, "m:app"], {})


# --- Python config files ----------------------------------------------------------------------


def _asking(default: object) -> object:
    """A value that asks gunicorn for something other than its default."""
    if isinstance(default, bool):
        return not default
    if isinstance(default, enum.Enum | int):
        return int(default) + 7  # type: ignore[call-overload]
    if isinstance(default, dict):
        return {"X-SCHEME": "https"}
    if isinstance(default, list):
        return ["x"]
    if callable(default):
        return lambda *args: None
    return "something"


def _read_file(tmp_path: Path, name: str, value: object) -> tuple[object, list[str]]:
    """Load a gunicorn.conf.py setting `name` to `value`: (the Config, its warnings), or
    (the ConfigError, [])."""
    conf = tmp_path / "gunicorn.conf.py"
    if callable(value):
        conf.write_text(f"def {name}(*args):\n    pass\n")
    else:
        conf.write_text(f"import ssl, enum\n{name} = {value!r}\n".replace("<", "").replace(">", ""))
    try:
        config = load_config(["-c", str(conf), "m:app"], {})
    except ConfigError as exc:
        return exc, []
    return config, [w for w in config.extras.warnings if repr(name) in w]


def _literal(value: object) -> object:
    """gunicorn's default as a value a file can write (enums as their integers)."""
    return int(value) if isinstance(value, enum.Enum) else value  # type: ignore[call-overload]


# gunicorn's defaults that are a request pronghorn cannot honour, so a file giving them warns.
WARN_AT_DEFAULT = {"worker_class", "control_socket"}


@pytest.mark.parametrize(
    "entry", [e for e in GUNICORN_SETTINGS if not callable(KNOWN[e.name].default)], ids=_id
)
def test_a_file_of_gunicorns_defaults_loads(tmp_path: Path, entry: GunicornSetting) -> None:
    result, warnings = _read_file(tmp_path, entry.name, _literal(KNOWN[entry.name].default))
    assert not isinstance(result, ConfigError), result
    assert bool(warnings) == (entry.name in WARN_AT_DEFAULT), warnings


@pytest.mark.parametrize("entry", GUNICORN_SETTINGS, ids=_id)
def test_a_file_asking_for_a_setting(tmp_path: Path, entry: GunicornSetting) -> None:
    known = KNOWN[entry.name]
    value = _asking(known.default)
    if entry.answer is Answer.HOOK:
        result, _ = _read_file(tmp_path, entry.name, value)
        assert not isinstance(result, ConfigError)
        assert result.extras.hook(entry.name) is not None  # type: ignore[attr-defined]
        return
    setting = BY_NAME.get(entry.target) if entry.answer is Answer.SAME else None
    if setting is not None:
        return  # read as the setting: covered by test_pyfile and the samples below
    result, warnings = _read_file(tmp_path, entry.name, value)
    if entry.refuse:
        assert isinstance(result, ConfigError)
        assert f"gunicorn setting {entry.name!r}: {entry.why_not()}" in str(result)
    else:
        assert not isinstance(result, ConfigError), result
        assert warnings == [
            f"config file {tmp_path / 'gunicorn.conf.py'}: gunicorn setting "
            f"{entry.name!r}: {entry.why_not()}; ignored"
        ]


@pytest.mark.parametrize(
    ("source", "check"),
    [
        ("raw_env = ['A=1', 'B=2']\n", lambda c: c.raw_env == ("A=1", "B=2")),
        ("proc_name = 'shop'\n", lambda c: c.proc_name == "shop"),
        ("capture_output = True\n", lambda c: c.capture_output),
        ("errorlog = 'e.log'\n", lambda c: c.error_logfile == "e.log"),
        ("wsgi_app = 'shop.wsgi'\n", lambda c: c.app == "shop.wsgi"),
        ("limit_request_field_size = 99\n", lambda c: c.limit_request_field_size == 99),
        ("config = 'other.py'\n", lambda c: c.config.endswith("gunicorn.conf.py")),
    ],
)
def test_gunicorn_names_in_a_python_file(
    tmp_path: Path, source: str, check: Callable[[object], bool]
) -> None:
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text("wsgi_app = 'm:app'\n" + source)
    config = load_config(["-c", str(conf)], {})
    assert check(config)
    assert not config.extras.warnings


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def pre_request(worker):\n    pass\n", "pre_request must take (worker, req)"),
        ("def post_request(worker):\n    pass\n", "post_request must take (worker, req, "),
        ("ssl_context = lambda config, default: default()\n", "the context is built from"),
        ("daemon = True\n", "pronghorn does not detach"),
        ("secure_scheme_headers = {'X-SCHEME': 'https'}\n", "use --trusted-proxy-headers"),
    ],
)
def test_python_file_refusals(tmp_path: Path, source: str, message: str) -> None:
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text(source)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(["-c", str(conf), "m:app"], {})


@pytest.mark.parametrize("arguments", ["worker, req", "worker, req, environ", "w, r, e, resp"])
def test_post_request_of_two_three_or_four_arguments(tmp_path: Path, arguments: str) -> None:
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text(f"seen = []\ndef post_request({arguments}):\n    seen.append(1)\n")
    hook = load_config(["-c", str(conf), "m:app"], {}).extras.hook("post_request")
    assert hook is not None
    hook("worker", "req", {}, "resp")  # always called with gunicorn's four


# --- TOML files -------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", GUNICORN_SETTINGS, ids=_id)
def test_a_toml_file_with_a_gunicorn_name(tmp_path: Path, entry: GunicornSetting) -> None:
    setting = BY_NAME.get(entry.name.replace("-", "_"))
    if setting is not None and setting.in_file:
        return  # the same key in both
    conf = tmp_path / "pronghorn.toml"
    conf.write_text(f'{entry.name} = "x"\n')
    with pytest.raises(ConfigError) as info:
        load_config(["-c", str(conf), "m:app"], {})
    message = str(info.value)
    assert "did you mean" not in message
    if entry.answer is Answer.SAME and entry.name != "config":
        assert f"gunicorn's name for {BY_NAME[entry.target].file_key!r}" in message
    elif entry.name != "config":
        assert entry.why_not() in message


# --- docs/gunicorn.md ------------------------------------------------------------------------


def test_committed_gunicorn_page_equals_the_generated_text() -> None:
    committed = (REPO / GUNICORN_DOC_PATH).read_text(encoding="utf-8")
    assert committed == describe_gunicorn_markdown(), "run: python -m pronghorn.config.docs"


def test_the_page_answers_every_setting_and_signal() -> None:
    rows = [line for line in describe_gunicorn_markdown().splitlines() if line.startswith("| `")]
    named = {line.split("`")[1] for line in rows}
    assert named == set(KNOWN) | {signal.name for signal in GUNICORN_SIGNALS}
    for entry in GUNICORN_SETTINGS:
        (row,) = [line for line in rows if line.startswith(f"| `{entry.name}`")]
        if entry.answer in (Answer.SAME, Answer.INSTEAD):
            assert f"`{BY_NAME[entry.target].long_option}`" in row or "positional" in row
        assert entry.note in row
