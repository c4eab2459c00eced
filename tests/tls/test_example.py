"""examples/tls/pronghorn.toml, run for real: the committed file with only the addresses,
the paths and the pid file replaced (each replacement must find its text, so the recipe
and the test cannot drift apart). Runs as root, as CI does: the file has `user`."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tlstools import Site, curl, wait_until

from serverproc import Serve

RECIPE = Path(__file__).resolve().parents[2] / "examples" / "tls" / "pronghorn.toml"


def _render(site: Site) -> str:
    text = RECIPE.read_text()
    live = "/etc/letsencrypt/live/example.com"
    for old, new in (
        ('bind = ["0.0.0.0:443", "[::]:443"]', 'bind = ["127.0.0.1:0"]'),
        ('pid = "/run/pronghorn.pid"', f'pid = "{site.directory}/pronghorn.pid"'),
        (f"{live}/fullchain.pem", str(site.pki.server_cert)),
        (f"{live}/privkey.pem", str(site.pki.server_key)),
    ):
        assert old in text, f"the recipe no longer holds {old!r}"
        text = text.replace(old, new)
    return text


def test_the_recipe_serves_https_as_www_data(site: Site, serve: Serve) -> None:
    assert os.geteuid() == 0, "the recipe switches user: run pytest as root, as CI does"
    config = site.directory / "recipe.toml"
    config.write_text(_render(site))
    server = serve("-c", str(config), "--pythonpath", str(site.directory), "tls_app:app")
    server.wait_for_log("Ready: 4 worker(s) serving")
    assert "Workers run as uid 33 (www-data)" in server.log_text()
    assert server.scheme == "https"
    done = curl(site, f"https://localhost:{server.port}/environ")
    assert done.returncode == 0, done.stderr
    assert b'"wsgi.url_scheme": "https"' in done.stdout
    # The deploy hook's command, as the recipe writes it.
    pid = int((site.directory / "pronghorn.pid").read_text())
    os.kill(pid, signal.SIGHUP)
    assert wait_until(lambda: "Reload complete" in server.log_text())
    assert curl(site, server.url("/")).stdout == b"hello over https\n"
    assert server.stop() == 0
