"""Certificates for the TLS tests, made with the real `openssl` command.

`make_pki(directory)` writes a test certificate authority, a server certificate for
`localhost` and 127.0.0.1 signed by it, a second one (a renewal: same names, another
serial), a client certificate (CN=alice, O=Example Org, C=FR) and a few broken files for
the start-up errors: a key that belongs to no certificate, the server key encrypted with a
password, a self-signed client certificate, and a file that is not PEM. Keys are EC P-256:
fast to make.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

KEY_PASSWORD = "correct horse"
CLIENT_SUBJECT = "/C=FR/O=Example Org/CN=alice"
CLIENT_DN = "CN=alice,O=Example Org,C=FR"  # as RFC 2253 writes it: most specific first
CA_DN = "CN=pronghorn test CA"


@dataclass(frozen=True)
class Pki:
    directory: Path
    ca: Path
    server_cert: Path
    server_key: Path
    renewed_cert: Path
    renewed_key: Path
    client_cert: Path
    client_key: Path
    stray_key: Path
    rogue_cert: Path
    rogue_key: Path
    encrypted_key: Path
    not_pem: Path


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _new_key(name: str, cwd: Path) -> None:
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-out", f"{name}.key", cwd=cwd)  # fmt: skip


def _issue(name: str, subject: str, extensions: str, serial: int, cwd: Path) -> None:
    _new_key(name, cwd)
    openssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr",
            cwd=cwd)  # fmt: skip
    (cwd / f"{name}.ext").write_text(extensions)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-set_serial", str(serial), "-days", "2", "-extfile", f"{name}.ext",
            "-out", f"{name}.pem", cwd=cwd)  # fmt: skip


def make_pki(directory: Path) -> Pki:
    _new_key("ca", directory)
    openssl("req", "-x509", "-new", "-key", "ca.key", "-subj", "/" + CA_DN, "-days", "2",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "ca.pem",
            cwd=directory)  # fmt: skip
    server_ext = "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
    _issue("server", "/CN=localhost", server_ext, 1001, directory)
    _issue("renewed", "/CN=localhost", server_ext, 1002, directory)
    _issue("client", CLIENT_SUBJECT, "extendedKeyUsage=clientAuth\n", 2001, directory)
    _new_key("stray", directory)
    _new_key("rogue", directory)  # a client certificate no CA of ours signed
    openssl("req", "-x509", "-new", "-key", "rogue.key", "-subj", CLIENT_SUBJECT, "-days", "2",
            "-out", "rogue.pem", cwd=directory)  # fmt: skip
    openssl("pkey", "-in", "server.key", "-aes256", "-passout", f"pass:{KEY_PASSWORD}",
            "-out", "encrypted.key", cwd=directory)  # fmt: skip
    (directory / "not-pem.pem").write_text("this is not a certificate\n")
    return Pki(
        directory=directory,
        ca=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        renewed_cert=directory / "renewed.pem",
        renewed_key=directory / "renewed.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
        stray_key=directory / "stray.key",
        rogue_cert=directory / "rogue.pem",
        rogue_key=directory / "rogue.key",
        encrypted_key=directory / "encrypted.key",
        not_pem=directory / "not-pem.pem",
    )
