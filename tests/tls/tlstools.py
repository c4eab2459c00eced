"""What the TLS tests share: certificates made by `openssl`, a directory of static files
(the `site` fixture, registered by conftest.py), how to start the real `pronghorn` command
on a TLS listener serving `tls_app:app`, and the clients (curl, openssl s_client, Python).

Everything lives in one directory every user may read (pytest's tmp_path is root's alone),
so that workers running as another --user can still load the app; the keys in it are
0600, as an operator's would be.
"""

from __future__ import annotations

import http.client
import os
import random
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from tlspki import Pki, make_pki  # noqa: E402

BIG_SIZE = 4 * 1024 * 1024 + 123  # more than the socket buffers take at once


@dataclass(frozen=True)
class Site:
    """The certificates, the app's directory and the static files."""

    pki: Pki
    directory: Path
    static: Path
    big: bytes


@pytest.fixture(scope="session")
def site() -> Iterator[Site]:
    directory = Path(tempfile.mkdtemp(prefix="pronghorn-tls-"))
    try:
        directory.chmod(0o755)
        pki = make_pki(directory)
        for key in directory.glob("*.key"):
            key.chmod(0o600)
        for pem in directory.glob("*.pem"):
            pem.chmod(0o644)
        shutil.copy(HERE / "tls_app.py", directory / "tls_app.py")
        static = directory / "static"
        static.mkdir(mode=0o755)
        big = random.Random(7).randbytes(BIG_SIZE)
        (static / "big.bin").write_bytes(big)
        (static / "small.txt").write_bytes(b"a small static file\n")
        for path in static.iterdir():
            path.chmod(0o644)
        yield Site(pki, directory, static, big)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def tls_args(site: Site, *options: str) -> list[str]:
    """Command-line arguments serving the test app (and /files/) over TLS on an ephemeral
    port, with the server certificate; `options` go before the app."""
    pki = site.pki
    return [
        "--pythonpath", str(site.directory), "-b", "127.0.0.1:0",
        "--certfile", str(pki.server_cert), "--keyfile", str(pki.server_key),
        "--static", f"/files={site.static}", *options, "tls_app:app",
    ]  # fmt: skip


def client_context(site: Site, *, cert: bool = False) -> ssl.SSLContext:
    """A client context trusting the test CA, with the client certificate if `cert`."""
    context = ssl.create_default_context(cafile=str(site.pki.ca))
    if cert:
        context.load_cert_chain(str(site.pki.client_cert), str(site.pki.client_key))
    return context


def https(
    site: Site, port: int, *, cert: bool = False, host: str = "127.0.0.1"
) -> http.client.HTTPSConnection:
    return http.client.HTTPSConnection(
        host, port, timeout=10, context=client_context(site, cert=cert)
    )


def curl(site: Site, *args: str) -> subprocess.CompletedProcess[bytes]:
    """The real curl, trusting the test CA (--cacert), failing on HTTP errors."""
    return subprocess.run(
        ["curl", "-sS", "--fail", "--max-time", "30", "--cacert", str(site.pki.ca), *args],
        capture_output=True,
        timeout=60,
    )


def s_client(
    port: int, *args: str, request: bytes = b"", timeout: float = 20
) -> subprocess.CompletedProcess[str]:
    """The real `openssl s_client` on 127.0.0.1:`port`; `request` is written to it and it
    waits (-ign_eof) until the server closes."""
    return subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-ign_eof", *args],
        input=request.decode("latin-1"),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "LC_ALL": "C"},
    )


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll `predicate` until it holds or `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True
