"""The command line, derived from the settings registry.

Owns: the argparse parser built from `SETTINGS` and `parse_command_line`, which turns argv
into the settings given explicitly plus the command switches (`--help`, `--version`,
`--check-config`, `--print-config`). Gunicorn's flags are answered from
`pronghorn.config.gunicorn`: one that means the same as a pronghorn option is accepted for
it (hidden from --help), any other is an error that says what to use instead or why there
is nothing. It never prints and never exits: argparse's own exits become `ConfigError`.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NoReturn

from pronghorn.config.gunicorn import BY_GUNICORN_FLAG, GUNICORN_SETTINGS, Answer
from pronghorn.config.registry import BY_NAME, SECTIONS, SETTINGS, Setting, did_you_mean
from pronghorn.errors import ConfigError

PROG = "pronghorn"
DESCRIPTION = "Serve a WSGI application (and static files) over HTTP/1.1."
EPILOG = (
    "Every option can also be set in the environment (PRONGHORN_<NAME>, as PRONGHORN_BIND) "
    "or in a TOML config file (-c FILE, default ./pronghorn.toml) under its long name. "
    "The command line wins over the environment, which wins over the file. "
    "`pronghorn top` (see `pronghorn top --help`) shows a running server's metrics live."
)


@dataclass(frozen=True, slots=True)
class CommandLine:
    """What argv asked for: the explicitly given settings and the command switches."""

    values: dict[str, object] = field(default_factory=dict)
    show_help: bool = False
    show_version: bool = False
    check_config: bool = False
    print_config: bool = False

    @property
    def command(self) -> str:
        """The command switches given, as they were spelt ('' when none)."""
        switches = (
            (self.show_help, "--help"),
            (self.show_version, "--version"),
            (self.check_config, "--check-config"),
            (self.print_config, "--print-config"),
        )
        return " ".join(flag for given, flag in switches if given)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise instead of printing and exiting."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser for every registered setting, grouped by section."""
    parser = _Parser(
        prog=PROG,
        description=DESCRIPTION,
        epilog=EPILOG,
        add_help=False,
        allow_abbrev=False,
    )
    groups = {section: parser.add_argument_group(section) for section in SECTIONS}
    for setting in SETTINGS:
        _add_argument(groups[setting.section], setting)
    for setting, flags in _gunicorn_aliases():
        # In a group, as every option is: an option added to the parser itself has argparse
        # build a help formatter at once (importing shutil), even when no help is shown.
        _add_argument(groups[setting.section], setting, flags, hidden=True)
    switches = parser.add_argument_group("Other")
    switches.add_argument("-h", "--help", action="store_true", help="Show this help and exit.")
    switches.add_argument("-v", "--version", action="store_true", help="Show the version and exit.")
    switches.add_argument(
        "--check-config",
        action="store_true",
        help="Read the configuration, set --env, switch nothing, import the application "
        "and exit: 0 when all is well, else the error and status 2 (configuration) or "
        "3 (application). Nothing is bound and no worker is started.",
    )
    switches.add_argument(
        "--print-config",
        action="store_true",
        help="Print every setting's effective value, as a config file would give it, and "
        "exit 0 (with --check-config, check as well).",
    )
    return parser


def _gunicorn_aliases() -> list[tuple[Setting, tuple[str, ...]]]:
    """Gunicorn's flags of the same meaning that pronghorn spells otherwise."""
    aliases = []
    for entry in GUNICORN_SETTINGS:
        setting = BY_NAME.get(entry.target) if entry.answer is Answer.SAME else None
        extra = tuple(flag for flag in entry.flags if setting and flag not in setting.flags)
        if setting is not None and extra:
            aliases.append((setting, extra))
    return aliases


def _add_argument(
    group: argparse._ActionsContainer,
    setting: Setting,
    flags: tuple[str, ...] = (),
    *,
    hidden: bool = False,
) -> None:
    flags = flags or setting.flags
    help_text = setting.help.replace("%", "%%") + f" [env {setting.env_var}]"
    if hidden:
        help_text = argparse.SUPPRESS
    if not setting.flags:
        group.add_argument(setting.name, nargs="?", metavar=setting.metavar, help=help_text)
    elif setting.bare is not None:
        group.add_argument(
            *flags,
            dest=setting.name,
            metavar=setting.metavar,
            nargs="?",
            const=setting.bare,
            action="append",
            default=None,
            help=help_text,
        )
    elif setting.is_switch:
        group.add_argument(
            *flags,
            dest=setting.name,
            action=argparse.BooleanOptionalAction,
            default=None,
            help=help_text,
        )
    else:
        group.add_argument(
            *flags,
            dest=setting.name,
            metavar=setting.metavar,
            action="append",
            default=None,
            help=help_text,
        )


def _bare_flags_explicit(argv: Sequence[str]) -> list[str]:
    """`argv` with each flag that may stand alone (`--proxy-protocol`) given its bare value
    when the next word is not one of its values, so that `--proxy-protocol app:app` reads
    the app as the app (argparse's optional value would swallow it)."""
    bare = {flag: s for s in SETTINGS if s.bare is not None for flag in s.flags}
    words = list(argv)
    out: list[str] = []
    for index, word in enumerate(words):
        setting = bare.get(word)
        if setting is not None:
            following = words[index + 1] if index + 1 < len(words) else None
            # A value, or a mistaken one (v3), is the flag's; anything else is not.
            wanted = following is not None and (
                _parses(setting, following) or re.fullmatch(r"v\d+", following) is not None
            )
            if not wanted:
                word = f"{word}={setting.bare}"
        out.append(word)
    return out


def _parses(setting: Setting, word: str) -> bool:
    try:
        setting.kind.parse(word)
    except ValueError:
        return False
    return True


def parse_command_line(argv: Sequence[str]) -> CommandLine:
    """Parse argv (without the program name); raise ConfigError on any mistake."""
    parser = build_parser()
    namespace, unknown = parser.parse_known_args(_bare_flags_explicit(argv))
    if unknown:
        raise ConfigError(_unknown_message(unknown[0]))
    values: dict[str, object] = {}
    for setting in SETTINGS:
        raw = getattr(namespace, setting.name)
        if raw is None:
            continue
        where = f"option {setting.long_option}" if setting.flags else f"argument {setting.metavar}"
        if setting.is_switch:
            values[setting.name] = bool(raw)
        else:
            values[setting.name] = setting.from_text(raw if isinstance(raw, list) else [raw], where)
    return CommandLine(
        values,
        show_help=bool(namespace.help),
        show_version=bool(namespace.version),
        check_config=bool(namespace.check_config),
        print_config=bool(namespace.print_config),
    )


def _unknown_message(argument: str) -> str:
    if not argument.startswith("-") or argument == "-":
        return f"unexpected extra argument {argument!r} (only one APP may be given)"
    option = argument.partition("=")[0]
    entry = BY_GUNICORN_FLAG.get(option)
    if entry is not None:
        return f"gunicorn's {option} ({entry.name}): {entry.why_not()}"
    return f"unknown option {option}" + did_you_mean(option, all_options())


def all_options() -> list[str]:
    """Every option string the command line accepts (gunicorn's aliases aside)."""
    options = ["-h", "--help", "-v", "--version", "--check-config", "--print-config"]
    for setting in SETTINGS:
        options.extend(setting.flags)
        if setting.is_switch:
            options.append("--no-" + setting.long_option.removeprefix("--"))
    return options


def help_text() -> str:
    """The text `pronghorn --help` prints."""
    return build_parser().format_help()
