"""The environ's TLS variables, as Apache's mod_ssl names them, from what a handshake gives."""

from __future__ import annotations

from pronghorn.http.events import BodyKind, RequestHead
from pronghorn.wsgi.environ import EnvironBuilder, ServerFacts
from pronghorn.wsgi.tls_variables import distinguished_name, tls_variables

SUBJECT = (
    (("countryName", "FR"),),
    (("organizationName", "Example, Inc."),),
    (("organizationalUnitName", "Ops"), ("commonName", "alice")),
)


def test_distinguished_names_are_rfc_2253_most_specific_first() -> None:
    assert distinguished_name(SUBJECT) == r"OU=Ops+CN=alice,O=Example\, Inc.,C=FR"


def test_special_characters_are_escaped() -> None:
    rdns = ((("commonName", ' #lead "q" <a>;b+c\\ '),),)
    assert distinguished_name(rdns) == r"CN=\ #lead \"q\" \<a\>\;b\+c\\\ "
    assert distinguished_name(((("commonName", "#x"),),)) == r"CN=\#x"
    assert distinguished_name(((("1.2.3.4", "v"),),)) == "1.2.3.4=v"


def test_without_a_client_certificate() -> None:
    assert tls_variables("TLSv1.3", "TLS_AES_128_GCM_SHA256", None, None) == {
        "SSL_PROTOCOL": "TLSv1.3",
        "SSL_CIPHER": "TLS_AES_128_GCM_SHA256",
        "SSL_CLIENT_VERIFY": "NONE",
    }


def test_with_a_client_certificate() -> None:
    info = {
        "subject": SUBJECT,
        "issuer": ((("commonName", "Test CA"),),),
        "serialNumber": "07D1",
        "notBefore": "Dec  4 18:49:02 2026 GMT",
        "notAfter": "Dec  6 18:49:02 2026 GMT",
    }
    variables = tls_variables("TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256", b"\x30\x03", info)
    assert variables["SSL_CLIENT_VERIFY"] == "SUCCESS"
    assert variables["SSL_CLIENT_S_DN"] == r"OU=Ops+CN=alice,O=Example\, Inc.,C=FR"
    assert variables["SSL_CLIENT_I_DN"] == "CN=Test CA"
    assert variables["SSL_CLIENT_M_SERIAL"] == "07D1"
    assert variables["SSL_CLIENT_V_END"] == "Dec  6 18:49:02 2026 GMT"
    assert variables["SSL_CLIENT_CERT"].startswith("-----BEGIN CERTIFICATE-----\n")


def test_a_builder_extended_for_one_connection_leaves_the_listeners_alone() -> None:
    listener = EnvironBuilder(ServerFacts("127.0.0.1", "8443", url_scheme="https"))
    connection = listener.extended({"SSL_CLIENT_VERIFY": "NONE"})
    head = RequestHead(
        method="GET", target=b"/", path=b"/", query=b"", version="1.1", headers=[],
        keep_alive=True, expect_continue=False, body_kind=BodyKind.NONE, content_length=None,
    )  # fmt: skip
    seen = connection.build(head, ("127.0.0.1", 5000), None, None)
    assert (seen["wsgi.url_scheme"], seen["HTTPS"], seen["SSL_CLIENT_VERIFY"]) == (
        "https", "on", "NONE",
    )  # fmt: skip
    assert "SSL_CLIENT_VERIFY" not in listener.build(head, ("127.0.0.1", 5000), None, None)
