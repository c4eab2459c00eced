"""examples/nginx/proxy_pass.conf, run for real: nginx with the committed recipe in front of
a pronghorn (and `start_site`, for another recipe: examples/nginx/uwsgi_pass.conf).

`render_site` replaces, in the committed text, exactly the deployment-specific values (the
upstream's port, the listening ports, the certificate, the static directory; the IPv6
`listen` lines are dropped, a test machine may have no IPv6) and fails if one of them is
not found, so the recipe and the test cannot drift apart. `start_nginx`
runs nginx in the foreground with that site inside a minimal `http {}` whose paths are all
in the test's directory, and waits (polling, with a deadline) until it accepts. A
self-signed certificate for example.com is made with the openssl command.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from proxies import PORT_ATTEMPTS, ProxyStartError, find_binary, stop_process

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "examples" / "nginx" / "proxy_pass.conf"
SERVER_NAME = "example.com"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0

_MAIN_CONF = """\
{user}worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{
    worker_connections 64;
}}
http {{
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    access_log {dir}/access.log;
    include {dir}/site.conf;
}}
"""


@dataclass
class Nginx:
    http_port: int
    https_port: int
    directory: Path
    process: subprocess.Popen[bytes]

    def logs(self) -> str:
        parts = []
        for name in ("error.log", "access.log"):
            path = self.directory / name
            text = path.read_text(errors="replace") if path.exists() else ""
            parts.append(f"--- nginx {name} ---\n{text[-4000:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        stop_process(self.process)


def substitute(text: str, old: str, new: str, recipe: Path = RECIPE) -> str:
    """`text` with `old` replaced; fails when the recipe no longer contains `old`."""
    assert old in text, f"{recipe} no longer contains {old!r}: update the test"
    return text.replace(old, new)


def render_site(
    upstream_port: int, http_port: int, https_port: int, cert: Path, key: Path, static: Path
) -> str:
    """The committed recipe with this test's ports and paths (loopback IPv4 only)."""
    text = RECIPE.read_text()
    replacements = [
        ("server 127.0.0.1:8000 ", f"server 127.0.0.1:{upstream_port} "),
        ("    listen [::]:80;\n", ""),
        ("    listen [::]:443 ssl http2;\n", ""),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        ("/etc/letsencrypt/live/example.com/fullchain.pem", str(cert)),
        ("/etc/letsencrypt/live/example.com/privkey.pem", str(key)),
        ("/srv/myproject/static/", f"{static}/"),
    ]
    for old, new in replacements:
        text = substitute(text, old, new)
    return text


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for example.com (openssl req -x509)."""
    openssl = find_binary("openssl")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", f"/CN={SERVER_NAME}", "-addext", f"subjectAltName=DNS:{SERVER_NAME}"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_nginx(directory: Path, upstream_port: int, static: Path) -> Nginx:
    """nginx serving the recipe in front of 127.0.0.1:`upstream_port`. The ports are
    chosen free just before the start; taken meanwhile, the start is tried again."""

    def site(http_port: int, https_port: int, cert: Path, key: Path) -> str:
        return render_site(upstream_port, http_port, https_port, cert, key, static)

    return start_site(directory, site)


SiteRenderer = Callable[[int, int, Path, Path], str]
"""(http_port, https_port, certificate, key) -> the text of a site's config."""


def start_site(directory: Path, render: SiteRenderer) -> Nginx:
    """nginx serving the site `render` makes for free ports and a fresh certificate."""
    binary = find_binary("nginx")
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = make_certificate(directory)
    # As root, nginx's workers would otherwise drop to nobody, who cannot read the test's
    # private temporary directory (the static files).
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = directory / "nginx.conf"
    conf.write_text(_MAIN_CONF.format(dir=directory, user=user))
    argv = [binary, "-p", str(directory), "-c", str(conf), "-g", "daemon off;"]
    failures = []
    for _attempt in range(PORT_ATTEMPTS):
        http_port, https_port = _free_port(), _free_port()
        (directory / "site.conf").write_text(render(http_port, https_port, cert, key))
        stderr_path = directory / "stderr.log"
        with stderr_path.open("wb") as err:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        nginx = Nginx(http_port, https_port, directory, process)
        if _wait_accepting(nginx):
            return nginx
        nginx.stop()
        failures.append(f"{argv}\n{stderr_path.read_text(errors='replace')}\n{nginx.logs()}")
        if "in use" not in failures[-1]:
            break
    raise ProxyStartError("nginx did not start:\n" + "\n".join(failures))


def _wait_accepting(nginx: Nginx) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and nginx.process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", nginx.https_port), timeout=1.0).close()
            return True
        except OSError:
            time.sleep(0.02)  # polling interval of a bounded readiness wait
    return False
