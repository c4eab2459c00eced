"""A HUP reload reads renewed certificate files again: new connections get the new
certificate, a connection opened before finishes its request with the old one. The master
reads the files as root before the workers switch user, so a key only root may read
works with --user (these tests run as root, as CI does)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import uuid
from pathlib import Path

from tlstools import Site, https, tls_args, wait_until

from serverproc import Serve, ServerProcess

OLD_SERIAL, NEW_SERIAL = "03E9", "03EA"  # 1001 and 1002: see tlspki.py


def _live(site: Site) -> Path:
    """A directory holding cert.pem and key.pem as certbot's live/ does, for one test."""
    live = site.directory / f"live-{uuid.uuid4().hex[:8]}"
    live.mkdir(mode=0o755)
    _install(site.pki.server_cert, site.pki.server_key, live)
    return live


def _install(cert: Path, key: Path, live: Path) -> None:
    """Replace the files atomically, as a renewal does."""
    for source, name, mode in ((cert, "cert.pem", 0o644), (key, "key.pem", 0o600)):
        temporary = live / f".{name}.new"
        shutil.copy(source, temporary)
        temporary.chmod(mode)
        os.replace(temporary, live / name)


def _start(serve: Serve, site: Site, live: Path, *options: str) -> ServerProcess:
    args = tls_args(site, "--graceful-timeout", "20", *options)
    args[args.index("--certfile") + 1] = str(live / "cert.pem")
    args[args.index("--keyfile") + 1] = str(live / "key.pem")
    server = serve(*args)
    server.wait_for_log("Ready: 1 worker(s)")
    return server


def _serial(site: Site, server: ServerProcess) -> str:
    conn = https(site, server.port)
    conn.request("GET", "/")
    assert conn.getresponse().read() == b"hello over https\n"
    serial = _peer_serial(conn)
    conn.close()
    return serial


def _peer_serial(conn: object) -> str:
    sock = conn.sock  # type: ignore[attr-defined]
    return str(sock.getpeercert()["serialNumber"])


def _workers(server: ServerProcess) -> list[str]:
    return re.findall(r"Booting worker with pid: (\d+)", server.log_text())


def _hup(server: ServerProcess) -> str:
    """Send HUP and wait until the new worker serves; returns the old worker's pid."""
    old = _workers(server)[-1]
    done = server.log_text().count("Reload complete")
    os.kill(server.pid, signal.SIGHUP)
    assert wait_until(lambda: server.log_text().count("Reload complete") > done), server.log_text()
    assert _workers(server)[-1] != old
    return old


def _gone(server: ServerProcess, worker: str) -> None:
    """Wait until the old worker has exited: from then on no connection can reach it."""
    server.wait_for_log(f"Worker (pid:{worker}) exited", timeout=30)


def test_hup_serves_the_renewed_certificate_and_keeps_open_connections(
    site: Site, serve: Serve
) -> None:
    live = _live(site)
    server = _start(serve, site, live)
    old = https(site, server.port)
    old.request("GET", "/")
    assert old.getresponse().read() == b"hello over https\n"
    assert _peer_serial(old) == OLD_SERIAL
    old.request("GET", "/slow?3")  # in flight through the reload
    _install(site.pki.renewed_cert, site.pki.renewed_key, live)
    old_worker = _hup(server)
    assert f"certificate read again from {live / 'cert.pem'}" in server.log_text()
    response = old.getresponse()  # the old worker finishes it before it exits
    assert (response.status, response.read()) == (200, b"slow done\n")
    assert _peer_serial(old) == OLD_SERIAL
    old.close()
    _gone(server, old_worker)
    assert _serial(site, server) == NEW_SERIAL


def test_a_broken_renewal_keeps_the_certificate_in_use(site: Site, serve: Serve) -> None:
    live = _live(site)
    server = _start(serve, site, live)
    _install(site.pki.renewed_cert, site.pki.stray_key, live)  # the wrong key
    _gone(server, _hup(server))
    assert "the new workers keep the certificate in use" in server.log_text()
    assert "is not the key of the certificate" in server.log_text()
    assert _serial(site, server) == OLD_SERIAL
    _install(site.pki.renewed_cert, site.pki.renewed_key, live)  # fixed: the next HUP
    _gone(server, _hup(server))
    assert "certificate read again" in server.log_text()
    assert _serial(site, server) == NEW_SERIAL


def test_a_key_only_root_may_read_works_with_user(site: Site, serve: Serve) -> None:
    assert os.geteuid() == 0, "this test checks a root-only key: run pytest as root, as CI does"
    live = _live(site)
    os.chmod(live / "key.pem", 0o600)  # root's alone: the workers (nobody) cannot read it
    server = _start(serve, site, live, "--user", "nobody")
    assert "Workers run as uid" in server.log_text()
    assert _serial(site, server) == OLD_SERIAL
    _install(site.pki.renewed_cert, site.pki.renewed_key, live)
    _gone(server, _hup(server))  # the master, still root, reads it again
    assert _serial(site, server) == NEW_SERIAL
    assert server.stop() == 0
