"""The CGI variables of a connection that came over TLS, named as Apache's mod_ssl names them.

Owns `tls_variables`: from what the handshake established (protocol, cipher, and the
client's certificate when --cert-reqs asked for one and it verified), the variables an
application finds in its environ beside `HTTPS=on`: `SSL_PROTOCOL`, `SSL_CIPHER`,
`SSL_CLIENT_VERIFY` (`SUCCESS` or `NONE`: a certificate that fails verification fails the
handshake, so `FAILED` never reaches an application), and with a certificate
`SSL_CLIENT_CERT` (PEM), `SSL_CLIENT_S_DN` and `SSL_CLIENT_I_DN` (RFC 2253 strings, as
Apache 2.4 and nginx's `$ssl_client_s_dn` write them: most specific first,
`CN=alice,O=Example,C=FR`), `SSL_CLIENT_M_SERIAL` (hex), `SSL_CLIENT_V_START` and
`SSL_CLIENT_V_END`. Computed once per connection, not per request.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping
from typing import Any, Final

# OpenSSL's long attribute names (what `getpeercert()` gives) to the short ones RFC 2253
# and OpenSSL's own printing use; others are written as Python names them.
_SHORT_NAMES: Final = {
    "commonName": "CN",
    "countryName": "C",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "streetAddress": "STREET",
    "domainComponent": "DC",
    "userId": "UID",
    "emailAddress": "emailAddress",
    "serialNumber": "serialNumber",
    "surname": "SN",
    "givenName": "GN",
}
_SPECIAL: Final = frozenset(',+"\\<>;')


def tls_variables(
    protocol: str | None,
    cipher: str | None,
    cert_der: bytes | None,
    cert_info: Mapping[str, Any] | None,
) -> dict[str, str]:
    """The variables for a connection; `cert_der` and `cert_info` are the client's
    certificate (`getpeercert(True)` and `getpeercert()`), None when it sent none."""
    variables = {"SSL_PROTOCOL": protocol or "", "SSL_CIPHER": cipher or ""}
    if cert_der is None or not cert_info:
        variables["SSL_CLIENT_VERIFY"] = "NONE"
        return variables
    variables["SSL_CLIENT_VERIFY"] = "SUCCESS"
    variables["SSL_CLIENT_CERT"] = ssl.DER_cert_to_PEM_cert(cert_der)
    variables["SSL_CLIENT_S_DN"] = distinguished_name(cert_info.get("subject", ()))
    variables["SSL_CLIENT_I_DN"] = distinguished_name(cert_info.get("issuer", ()))
    for key, field in (
        ("SSL_CLIENT_M_SERIAL", "serialNumber"),
        ("SSL_CLIENT_V_START", "notBefore"),
        ("SSL_CLIENT_V_END", "notAfter"),
    ):
        value = cert_info.get(field)
        if isinstance(value, str):
            variables[key] = value
    return variables


def distinguished_name(rdns: Iterable[Iterable[tuple[str, str]]]) -> str:
    """An RFC 2253 string from `getpeercert()`'s subject or issuer (a sequence of relative
    names, each a sequence of (attribute, value)): last RDN first, `+` inside one."""
    parts = [
        "+".join(f"{_SHORT_NAMES.get(name, name)}={_escape(value)}" for name, value in rdn)
        for rdn in rdns
    ]
    return ",".join(reversed(parts))


def _escape(value: str) -> str:
    """RFC 2253 section 2.4: a backslash before the special characters, a leading # or
    space and a trailing space."""
    chars = ["\\" + char if char in _SPECIAL else char for char in value]
    if value[:1] in ("#", " "):
        chars[0] = "\\" + value[0]
    if len(value) > 1 and value[-1] == " ":
        chars[-1] = "\\ "
    return "".join(chars)
