"""Certificates are checked when the server starts: a mistake stops it with exit status 2
and one line naming the file and what is wrong, never a traceback, before it listens."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tlspki import KEY_PASSWORD
from tlstools import Site, https, tls_args

from pronghorn.config import load_config
from pronghorn.errors import ConfigError
from pronghorn.io.tls import server_context
from serverproc import Serve


def _start(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pronghorn", "--pythonpath", str(site.directory), "-b",
         "127.0.0.1:0", *args, "tls_app:app"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


CASES = {
    "missing certificate": (
        lambda p: ["--certfile", str(p.directory / "missing.pem"), "--keyfile", str(p.server_key)],
        "--certfile {d}/missing.pem: cannot read it: No such file or directory",
    ),
    "missing key": (
        lambda p: ["--certfile", str(p.server_cert), "--keyfile", str(p.directory / "no.key")],
        "--keyfile {d}/no.key: cannot read it: No such file or directory",
    ),
    "not a certificate": (
        lambda p: ["--certfile", str(p.not_pem), "--keyfile", str(p.server_key)],
        "--certfile {d}/not-pem.pem: no PEM certificate in it",
    ),
    "a certificate for a key": (
        lambda p: ["--certfile", str(p.server_cert), "--keyfile", str(p.server_cert)],
        "--keyfile {d}/server.pem: no PEM private key in it",
    ),
    "no key and none in the certificate file": (
        lambda p: ["--certfile", str(p.server_cert)],
        "--certfile {d}/server.pem: no PEM private key in it",
    ),
    "key of another certificate": (
        lambda p: ["--certfile", str(p.server_cert), "--keyfile", str(p.stray_key)],
        "--keyfile {d}/stray.key is not the key of the certificate in --certfile "
        "{d}/server.pem",
    ),
    "encrypted key, no password": (
        lambda p: ["--certfile", str(p.server_cert), "--keyfile", str(p.encrypted_key)],
        "--keyfile {d}/encrypted.key is encrypted: give its password with --keyfile-password "
        "(or PRONGHORN_KEYFILE_PASSWORD)",
    ),
    "encrypted key, wrong password": (
        lambda p: ["--certfile", str(p.server_cert), "--keyfile", str(p.encrypted_key),
                   "--keyfile-password", "wrong"],
        "--keyfile {d}/encrypted.key: cannot decrypt it with the --keyfile-password given",
    ),
    "CA file that is not PEM": (
        lambda p: ["--certfile", str(p.server_cert), "--keyfile", str(p.server_key),
                   "--ca-certs", str(p.not_pem), "--cert-reqs", "required"],
        "--ca-certs {d}/not-pem.pem: [X509: NO_CERTIFICATE_OR_CRL_FOUND] no certificate or "
        "crl found",
    ),
    "no cipher": (
        lambda p: ["--certfile", str(p.server_cert), "--keyfile", str(p.server_key),
                   "--ciphers", "NOTHING-LIKE-THIS"],
        "--ciphers 'NOTHING-LIKE-THIS': OpenSSL can select no cipher from it",
    ),
}  # fmt: skip


@pytest.mark.parametrize("mode", [[], ["--single-process"]], ids=["master", "single"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_file_stops_the_start_with_one_line(site: Site, case: str, mode: list[str]) -> None:
    make_args, message = CASES[case]
    done = _start(site, *mode, *make_args(site.pki))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].endswith(message.format(d=site.directory)), lines[0]
    assert "[ERROR]" in lines[0]
    assert "Listening" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--keyfile", "k.pem"], "--keyfile configure TLS: give --certfile too"),
        (["--cert-reqs", "required", "--ciphers", "HIGH"],
         "--ciphers, --cert-reqs configure TLS: give --certfile too"),
        (["--certfile", "c.pem", "--cert-reqs", "optional"],
         "--cert-reqs optional checks client certificates against --ca-certs: "
         "give --ca-certs too"),
        (["--certfile", "c.pem", "--cert-reqs", "3"],
         "option --cert-reqs: expected none, optional or required (or gunicorn's 0, 1, 2)"),
        (["--certfile", "c.pem", "--ssl-min-version", "1.1"],
         "option --ssl-min-version: expected 1.2 or 1.3"),
    ],
)  # fmt: skip
def test_tls_settings_that_would_be_ignored_are_errors(
    site: Site, args: list[str], message: str
) -> None:
    done = _start(site, *args)
    assert done.returncode == 2
    assert done.stderr.startswith(f"pronghorn: error: {message}"), done.stderr


def test_an_encrypted_key_with_its_password_from_the_environment(site: Site, serve: Serve) -> None:
    args = tls_args(site)
    args[args.index("--keyfile") + 1] = str(site.pki.encrypted_key)
    server = serve(*args, env={"PRONGHORN_KEYFILE_PASSWORD": KEY_PASSWORD})
    conn = https(site, server.port)
    conn.request("GET", "/")
    assert conn.getresponse().read() == b"hello over https\n"
    conn.close()


def test_the_key_may_follow_the_certificate_in_one_file(site: Site, serve: Serve) -> None:
    both = site.directory / "both.pem"
    both.write_text(site.pki.server_cert.read_text() + site.pki.server_key.read_text())
    args = tls_args(site)
    index = args.index("--keyfile")
    del args[index : index + 2]
    args[args.index("--certfile") + 1] = str(both)
    server = serve(*args)
    conn = https(site, server.port)
    conn.request("GET", "/")
    assert conn.getresponse().status == 200
    conn.close()
    Path(both).unlink()


def test_single_process_serves_https(site: Site, serve: Serve) -> None:
    server = serve(*tls_args(site, "--single-process"))
    assert server.scheme == "https"
    conn = https(site, server.port, host="localhost")
    conn.request("GET", "/environ")
    assert b'"HTTPS": "on"' in conn.getresponse().read()
    conn.close()


def test_a_wrong_password_is_reported_in_process(site: Site) -> None:
    # OpenSSL's error has no reason code here (`exc.reason` is None though typed str): the
    # compiled build raised TypeError reading it (docs/design.md, "Writing code that
    # compiles correctly").
    argv = [
        "--certfile",
        str(site.pki.server_cert),
        "--keyfile",
        str(site.pki.encrypted_key),
        "--keyfile-password",
        "wrong",
        "m:app",
    ]
    with pytest.raises(ConfigError, match="cannot decrypt it with the --keyfile-password"):
        server_context(load_config(argv, {}))
