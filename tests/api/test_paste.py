"""PasteDeploy: `pserve examples/pserve/development.ini` (as committed, only the port changed)
serves its Pyramid app through `use = egg:pronghorn`; ini values go through the registry."""

from __future__ import annotations

import http.client
import os
import signal
import sys
from pathlib import Path

import pytest

from pronghorn.config.sources import read_keywords
from pronghorn.errors import ConfigError
from pronghorn.paste import serve_paste
from serverproc import ServerProcess

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pserve"
PSERVE = Path(sys.executable).with_name("pserve")


def test_pserve_runs_the_example_ini(tmp_path: Path) -> None:
    text = (EXAMPLE / "development.ini").read_text()
    assert "\nport = 6543\n" in text
    ini = tmp_path / "development.ini"
    ini.write_text(text.replace("\nport = 6543\n", "\nport = 0\n"))
    environment = {"PYTHONPATH": os.pathsep.join([str(EXAMPLE), os.environ.get("PYTHONPATH", "")])}
    with ServerProcess([str(ini)], command=[str(PSERVE)], cwd=tmp_path, env=environment) as server:
        server.wait_for_log("Ready: 2 worker(s) serving")
        connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
        try:
            connection.request("GET", "/")
            response = connection.getresponse()
            assert (response.status, response.read()) == (
                200,
                b"Hello from Pyramid on pronghorn\n",
            )
        finally:
            connection.close()
        server.wait_for_stdout('"GET / HTTP/1.1" 200')  # access_logfile = -
        assert server.stop(signal.SIGTERM) == 0
        assert "Master" in server.log_text() and "exiting with status 0" in server.log_text()


def test_ini_strings_are_read_as_the_environment_reads_them() -> None:
    given = read_keywords(
        {
            "workers": "2",
            "keep-alive": "0",
            "static_dotfiles": "yes",
            "bind": "127.0.0.1:1\n127.0.0.1:2, 127.0.0.1:3",
            "access_logfile": "",
        },
        "ini file x.ini",
        as_text=True,
    )
    assert given == {
        "workers": 2,
        "keep_alive": 0.0,
        "static_dotfiles": True,
        "bind": ("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"),
    }


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"worker": "2"}, "ini file dev.ini: unknown setting 'worker' (did you mean workers?)"),
        ({"threads": "many"}, "ini file dev.ini: threads: expected an integer >= 1, got 'many'"),
        ({"port": "http"}, "ini file dev.ini: bind: the port 'http' is not a number"),
        ({"reload": "true"}, "reload cannot work with an application object"),
    ],
)
def test_bad_ini_keys_raise_before_serving(keys: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        serve_paste(lambda environ, start_response: [], {"__file__": "dev.ini"}, **keys)
    assert message in str(caught.value)
