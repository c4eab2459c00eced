"""The TLS handshake as the real `openssl s_client` sees it: ALPN, the minimum version, and
client certificates (required, optional) with what the application's environ shows."""

from __future__ import annotations

import json
import re

from tlspki import CA_DN, CLIENT_DN
from tlstools import Site, s_client, tls_args

from serverproc import Serve, ServerProcess

REQUEST = b"GET /environ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


def _environ(output: str) -> dict[str, str | None]:
    """The JSON body of the /environ answer in s_client's output (which writes its next
    report right after the body, on the same line: the body is cut by its length)."""
    assert "HTTP/1.1 200 OK" in output, output
    head, _, rest = output.partition("HTTP/1.1 200 OK\n")[2].partition("\n\n")
    length = re.search(r"^Content-Length: (\d+)$", head, re.MULTILINE)
    assert length, output
    return json.loads(rest[: int(length.group(1))])  # type: ignore[no-any-return]


def _handshake_lines(server: ServerProcess) -> list[str]:
    return [line for line in server.log_text().splitlines() if "TLS handshake" in line]


def test_alpn_offers_http_1_1(site: Site, serve: Serve) -> None:
    server = serve(*tls_args(site))
    done = s_client(server.port, "-CAfile", str(site.pki.ca), "-alpn", "h2,http/1.1",
                    request=REQUEST)  # fmt: skip
    assert "ALPN protocol: http/1.1" in done.stdout, done.stdout
    assert "Verify return code: 0 (ok)" in done.stdout
    assert _environ(done.stdout)["wsgi.url_scheme"] == "https"
    # A client that speaks only h2 gets no ALPN answer (and may go on in HTTP/1.1).
    done = s_client(server.port, "-CAfile", str(site.pki.ca), "-alpn", "h2", request=REQUEST)
    assert "No ALPN negotiated" in done.stdout, done.stdout


def test_tls_1_1_is_refused_and_1_2_accepted_by_default(site: Site, serve: Serve) -> None:
    server = serve(*tls_args(site))
    # SECLEVEL=0 so that this OpenSSL offers TLS 1.1 at all: the server must refuse it.
    done = s_client(server.port, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", request=REQUEST)
    assert done.returncode != 0
    assert "alert protocol version" in done.stderr, done.stderr
    assert "HTTP/1.1 200" not in done.stdout
    server.wait_for_log("TLS handshake with 127.0.0.1:")
    assert "unsupported protocol" in _handshake_lines(server)[0]
    done = s_client(server.port, "-tls1_2", "-CAfile", str(site.pki.ca), request=REQUEST)
    assert "Protocol  : TLSv1.2" in done.stdout, done.stdout
    assert _environ(done.stdout)["SSL_PROTOCOL"] == "TLSv1.2"


def test_ssl_min_version_1_3_refuses_1_2(site: Site, serve: Serve) -> None:
    server = serve(*tls_args(site, "--ssl-min-version", "1.3"))
    done = s_client(server.port, "-tls1_2", request=REQUEST)
    assert done.returncode != 0
    assert "alert protocol version" in done.stderr, done.stderr
    done = s_client(server.port, "-tls1_3", "-CAfile", str(site.pki.ca), request=REQUEST)
    assert _environ(done.stdout)["SSL_PROTOCOL"] == "TLSv1.3"


def test_required_client_certificate(site: Site, serve: Serve) -> None:
    pki = site.pki
    server = serve(*tls_args(site, "--ca-certs", str(pki.ca), "--cert-reqs", "required"))
    with_cert = ("-cert", str(pki.client_cert), "-key", str(pki.client_key))
    done = s_client(server.port, "-CAfile", str(pki.ca), *with_cert, request=REQUEST)
    environ = _environ(done.stdout)
    assert environ["SSL_CLIENT_VERIFY"] == "SUCCESS"
    assert environ["SSL_CLIENT_S_DN"] == CLIENT_DN
    assert environ["SSL_CLIENT_I_DN"] == CA_DN
    assert environ["SSL_CLIENT_M_SERIAL"] == "07D1"  # 2001
    assert environ["SSL_CLIENT_V_END"] and environ["SSL_CLIENT_V_END"].endswith(" GMT")
    assert environ["SSL_CLIENT_CERT"] == pki.client_cert.read_text()
    # No certificate: the handshake fails (TLS 1.3 tells the client after its Finished).
    done = s_client(server.port, "-CAfile", str(pki.ca), request=REQUEST)
    assert "HTTP/1.1 200" not in done.stdout
    assert "certificate required" in done.stderr, done.stderr
    # A certificate no trusted CA signed: refused too.
    rogue = ("-cert", str(pki.rogue_cert), "-key", str(pki.rogue_key))
    done = s_client(server.port, "-CAfile", str(pki.ca), *rogue, request=REQUEST)
    assert "HTTP/1.1 200" not in done.stdout
    server.wait_for_log("certificate verify failed")
    lines = _handshake_lines(server)
    assert len(lines) == 2, lines  # one line for each refused client
    assert "PEER_DID_NOT_RETURN_A_CERTIFICATE" in lines[0]


def test_optional_client_certificate_with_gunicorns_number(site: Site, serve: Serve) -> None:
    pki = site.pki
    server = serve(*tls_args(site, "--ca-certs", str(pki.ca), "--cert-reqs", "1"))
    done = s_client(server.port, "-CAfile", str(pki.ca), request=REQUEST)
    environ = _environ(done.stdout)
    assert environ["SSL_CLIENT_VERIFY"] == "NONE"
    assert environ["SSL_CLIENT_CERT"] is None
    with_cert = ("-cert", str(pki.client_cert), "-key", str(pki.client_key))
    done = s_client(server.port, "-CAfile", str(pki.ca), *with_cert, request=REQUEST)
    environ = _environ(done.stdout)
    assert environ["SSL_CLIENT_VERIFY"] == "SUCCESS"
    assert environ["SSL_CLIENT_S_DN"] == CLIENT_DN
