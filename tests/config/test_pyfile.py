"""Python config files (`-c x.py`), gunicorn.conf.py compatibility and process settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from pronghorn.config import load_config
from pronghorn.errors import ConfigError


def test_gunicorn_names_map_to_ours_and_hooks_are_kept(tmp_path: Path) -> None:
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text(
        "import os\n"
        "bind = ['127.0.0.1:9000', 'unix:/tmp/x.sock']\nworkers = 2 * 2\nkeepalive = 7\n"
        "preload_app = True\npidfile = 'run.pid'\naccesslog = '-'\nloglevel = 'debug'\n"
        "max_requests = 100\nmax_requests_jitter = 10\nerrorlog = None\n"
        "worker_class = 'gevent'\nwokers = 3\n"
        "def post_fork(server, worker):\n    pass\n"
    )
    config = load_config(["-c", str(conf), "app:app"], {})
    assert config.bind == ("127.0.0.1:9000", "unix:/tmp/x.sock")
    assert (config.workers, config.keep_alive, config.preload) == (4, 7.0, True)
    assert (config.pid, config.access_logfile, config.log_level) == ("run.pid", "-", ("debug",))
    assert (config.max_requests, config.max_requests_jitter) == (100, 10)
    assert config.error_logfile == "-"  # None means "not set"
    assert config.extras.hook("post_fork") is not None
    assert config.extras.hook("on_exit") is None
    warnings = "\n".join(config.extras.warnings)
    assert "gunicorn setting 'worker_class': use --threads instead" in warnings
    assert "'wokers' (did you mean workers?)" in warnings


def test_command_line_beats_the_python_file(tmp_path: Path) -> None:
    conf = tmp_path / "conf.py"
    conf.write_text("workers = 3\nthreads = 9\n")
    config = load_config(["-c", str(conf), "-w", "5", "app:app"], {})
    assert (config.workers, config.threads) == (5, 9)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("workers = 0\n", "expected an integer >= 1"),
        ("raise RuntimeError('boom')\n", "RuntimeError: boom"),
        ("post_fork = 3\n", "hook post_fork is not a function"),
    ],
)
def test_python_file_mistakes_are_config_errors(tmp_path: Path, source: str, message: str) -> None:
    conf = tmp_path / "conf.py"
    conf.write_text(source)
    with pytest.raises(ConfigError, match=message):
        load_config(["-c", str(conf), "app:app"], {})


def test_process_settings_from_the_command_line() -> None:
    config = load_config(
        ["-w", "3", "--max-requests", "10", "--max-requests-jitter", "2", "--preload",
         "--reuse-port", "--pid", "x.pid", "app:app"], {}
    )  # fmt: skip
    assert (config.workers, config.max_requests, config.max_requests_jitter) == (3, 10, 2)
    assert config.preload and config.reuse_port and config.pid == "x.pid"
    assert not config.single_process and not config.reload


@pytest.mark.parametrize("extra", [["-w", "2"], ["--reload"]])
def test_single_process_allows_one_worker_only(extra: list[str]) -> None:
    with pytest.raises(ConfigError, match="--single-process"):
        load_config(["--single-process", *extra, "app:app"], {})


def test_gunicorn_uwsgi_settings(tmp_path: Path) -> None:
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text("protocol = 'uwsgi'\nuwsgi_allow_ips = '10.0.0.1,10.0.0.0/24'\n")
    config = load_config(["-c", str(conf), "app:app"], {})
    assert (config.protocol, config.uwsgi_allow_ips) == ("uwsgi", ("10.0.0.1", "10.0.0.0/24"))
    assert not config.extras.warnings
    config = load_config(["--protocol", "UWSGI", "--uwsgi-allow-from", "*", "app:app"], {})
    assert (config.protocol, config.uwsgi_allow_ips) == ("uwsgi", ("*",))
    with pytest.raises(ConfigError, match="one of http, uwsgi"):
        load_config(["--protocol", "fastcgi", "app:app"], {})
    with pytest.raises(ConfigError, match="host bits set"):
        load_config(["--uwsgi-allow-from", "10.0.0.1/24", "app:app"], {})
