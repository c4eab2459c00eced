"""--user, --group, --umask and --initgroups as settings: how they are read and which
combinations are refused before anything starts. (The switch itself:
tests/supervisor/test_privileges.py, which runs as root.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from pronghorn.config import load_config
from pronghorn.errors import ConfigError
from pronghorn.io.listeners import unix_socket_mode


@pytest.mark.parametrize(
    ("text", "mask"),
    [("0o22", 0o22), ("022", 0o22), ("18", 18), ("0", 0), ("007", 0o7), ("0x1f", 0x1F)],
)
def test_umask_is_read_as_gunicorn_reads_it(text: str, mask: int) -> None:
    assert load_config(["--umask", text, "app:app"], {}).umask == mask
    assert load_config(["app:app"], {"PRONGHORN_UMASK": text}).umask == mask


@pytest.mark.parametrize("text", ["0999", "0o1000", "-1", "rwx", ""])
def test_umask_out_of_range_or_malformed_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="--umask: expected a umask"):
        load_config(["--umask", text, "app:app"], {})


def test_user_and_group_take_names_or_ids() -> None:
    config = load_config(["-u", "www-data", "-g", "33", "--initgroups", "app:app"], {})
    assert (config.user, config.group, config.initgroups) == ("www-data", "33", True)
    assert load_config(["app:app"], {}).user is None


def test_a_config_file_may_give_ids_as_integers(tmp_path: Path) -> None:
    toml = tmp_path / "p.toml"
    toml.write_text('app = "app:app"\nuser = 1000\ngroup = "staff"\numask = 0o27\n')
    config = load_config(["-c", str(toml)], {})
    assert (config.user, config.group, config.umask) == ("1000", "staff", 0o27)


def test_gunicorn_conf_py_user_is_honoured_not_warned_about(tmp_path: Path) -> None:
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text('user = "nobody"\ngroup = "nogroup"\numask = 0o7\ninitgroups = True\n')
    config = load_config(["-c", str(conf), "app:app"], {})
    assert (config.user, config.group, config.umask, config.initgroups) == (
        "nobody", "nogroup", 0o7, True,
    )  # fmt: skip
    assert config.extras.warnings == ()


def test_initgroups_needs_a_user() -> None:
    with pytest.raises(ConfigError, match="--initgroups sets the groups of --user"):
        load_config(["--initgroups", "app:app"], {})


@pytest.mark.parametrize("option", ["--user", "--group"])
def test_single_process_cannot_switch_user(option: str) -> None:
    with pytest.raises(ConfigError, match="need the master, not --single-process"):
        load_config(["--single-process", option, "nobody", "app:app"], {})


def test_unix_socket_mode_is_0660_or_follows_the_umask() -> None:
    assert unix_socket_mode(None) == 0o660
    assert unix_socket_mode(0) == 0o777  # gunicorn's default umask, gunicorn's mode
    assert unix_socket_mode(0o7) == 0o770
    assert unix_socket_mode(0o22) == 0o755
