"""`pronghorn --print-config`: every setting's effective value, as a TOML config file.

Owns: `config_as_toml(config)`. Each setting is a `key = value` line under its config-file
key, in the order of `docs/configuration.md`, so the output can be saved as pronghorn.toml
and read back to the same settings; a setting that is not set, or that a file cannot hold
(the config file's own path), is a comment line, as are the hooks a Python file defined.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from pronghorn.config.model import Config, StaticMount
from pronghorn.config.registry import SECTIONS, SETTINGS, Setting


def config_as_toml(config: Config) -> str:
    """The text --print-config prints for `config`."""
    lines = ["# pronghorn --print-config: every setting, as a config file would give it"]
    if config.config:
        lines.append(f"# read from the config file {config.config}")
    for section in SECTIONS:
        settings = [s for s in SETTINGS if s.section == section and s.in_file]
        if settings:
            lines.append(f"\n# {section}")
            lines.extend(_line(config, setting) for setting in settings)
    hooks = [name for name, _ in config.extras.hooks]
    if hooks:
        lines.append(f"\n# hooks from the config file: {', '.join(hooks)}")
    return "\n".join(lines) + "\n"


def _line(config: Config, setting: Setting) -> str:
    value = getattr(config, setting.name)
    if value is None:
        return f"# {setting.file_key} is not set"
    if setting.name == "umask":  # a mask reads best in octal, as it is written
        return f"{setting.file_key} = 0o{value:03o}"
    return f"{setting.file_key} = {_toml(value)}"


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, Mapping):  # --log-config-dict: an inline table
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, StaticMount):
        return _toml(f"{value.prefix or '/'}={value.directory}")
    # A JSON string is a TOML basic string: both escape ", \ and control characters alike.
    return json.dumps(str(value))
