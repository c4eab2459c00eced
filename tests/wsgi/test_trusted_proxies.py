"""Whose proxy headers are believed and what they say (pronghorn.wsgi.proxies), as tables.

Each case: the trusted addresses, the trusted headers, the peer, the header fields as environ
keys, and the expected `ProxyView` (None: the peer is not trusted, nothing is read).
"""

from __future__ import annotations

from typing import NamedTuple

import pytest

from pronghorn.wsgi.forwarded import Node
from pronghorn.wsgi.proxies import MAX_HOPS, ProxyView, TrustedAddresses, TrustedProxies

LOOPBACK = ("127.0.0.1", "::1")
DEFAULT = ("x-forwarded-for", "x-forwarded-proto")
ALL_X = (*DEFAULT, "x-forwarded-host", "x-forwarded-port", "x-forwarded-prefix")
RFC = ("forwarded", "x-forwarded-prefix")


class Case(NamedTuple):
    peer: str | None
    fields: dict[str, str]
    view: ProxyView | None
    allow: tuple[str, ...] = LOOPBACK
    headers: tuple[str, ...] = DEFAULT


def xff(value: str, **more: str) -> dict[str, str]:
    return {"HTTP_X_FORWARDED_FOR": value, **{f"HTTP_{k.upper()}": v for k, v in more.items()}}


def fwd(value: str, **more: str) -> dict[str, str]:
    return {"HTTP_FORWARDED": value, **{f"HTTP_{k.upper()}": v for k, v in more.items()}}


def client(address: str, client_port: str | None = None, **rest: str) -> ProxyView:
    return ProxyView(client=Node(address, client_port), **rest)


CASES = {
    # -- who is trusted --------------------------------------------------------------------
    "untrusted peer: forged headers change nothing": Case(
        "203.0.113.50", xff("1.2.3.4", x_forwarded_proto="https"), None
    ),
    "untrusted peer under a network": Case(
        "11.0.0.1", xff("1.2.3.4"), None, allow=("10.0.0.0/8",)
    ),
    "trusted by network": Case(
        "10.20.30.40", xff("203.0.113.9"), client("203.0.113.9"), allow=("10.0.0.0/8",)
    ),
    "trusted IPv6 peer": Case("::1", xff("203.0.113.9"), client("203.0.113.9")),
    "IPv6 network": Case(
        "fd00::5", xff("2001:db8::7"), client("2001:db8::7"), allow=("fd00::/8",)
    ),
    "IPv4-mapped peer (dual-stack socket)": Case(
        "::ffff:127.0.0.1", xff("203.0.113.9"), client("203.0.113.9")
    ),
    "IPv4-mapped peer under a network": Case(
        "::ffff:10.1.1.1", xff("203.0.113.9"), client("203.0.113.9"), allow=("10.0.0.0/8",)
    ),
    "* trusts any peer": Case(
        "198.51.100.1", xff("203.0.113.9"), client("203.0.113.9"), allow=("*",)
    ),
    "unix socket peer is trusted": Case(
        None, xff("203.0.113.9", x_forwarded_proto="https"),
        client("203.0.113.9", scheme="https"), allow=(),
    ),
    "nobody trusted over TCP": Case("127.0.0.1", xff("203.0.113.9"), None, allow=()),
    # -- the X-Forwarded-For chain ---------------------------------------------------------
    "a client's own X-Forwarded-For is left of the proxy's entry": Case(
        "127.0.0.1", xff("6.6.6.6, 203.0.113.9"), client("203.0.113.9")
    ),
    "trusted proxies in the chain are skipped": Case(
        "127.0.0.1", xff("6.6.6.6, 203.0.113.9, 10.0.0.2, 10.0.0.3"), client("203.0.113.9"),
        allow=("127.0.0.1", "10.0.0.0/8"),
    ),
    "all trusted: the left-most": Case(
        "198.51.100.1", xff("203.0.113.9, 198.51.100.7"), client("203.0.113.9"), allow=("*",)
    ),
    "several fields joined by the environ": Case(
        "127.0.0.1", xff("6.6.6.6, 10.0.0.9, 203.0.113.9"), client("203.0.113.9")
    ),
    "IPv6 entries, bracketed with a port or bare": Case(
        "127.0.0.1", xff("2001:db8::dead, [2001:DB8::1]:4711"), client("2001:db8::1", "4711")
    ),
    "IPv4 entry with a port": Case(
        "127.0.0.1", xff("203.0.113.9:52000"), client("203.0.113.9", "52000")
    ),
    "unknown ends the walk at the last proxy known": Case(
        "127.0.0.1", xff("203.0.113.9, unknown, 10.0.0.2"), client("10.0.0.2"),
        allow=("127.0.0.1", "10.0.0.0/8"),
    ),
    "garbage right-most: the peer stays the client": Case(
        "127.0.0.1", xff("<script>"), ProxyView()
    ),
    "only separators": Case("127.0.0.1", xff(" , ,"), ProxyView()),
    "mixed-case and spaced entries": Case(
        "127.0.0.1", xff("\t2001:DB8::A ,  "), client("2001:db8::a")
    ),
    # -- scheme, host, port, prefix --------------------------------------------------------
    "proto https": Case(
        "127.0.0.1", xff("203.0.113.9", x_forwarded_proto="https"),
        client("203.0.113.9", scheme="https"),
    ),
    "proto without for": Case(
        "127.0.0.1", {"HTTP_X_FORWARDED_PROTO": "HTTPS"}, ProxyView(scheme="https")
    ),
    "proto other than http(s) is ignored": Case(
        "127.0.0.1", {"HTTP_X_FORWARDED_PROTO": "wss"}, ProxyView()
    ),
    "proto list longer than the chain: the right-most": Case(
        "127.0.0.1", xff("203.0.113.9", x_forwarded_proto="https, http"),
        client("203.0.113.9", scheme="http"),
    ),
    "proto list aligned with the chain: the client's hop": Case(
        "127.0.0.1", xff("203.0.113.9, 10.0.0.2", x_forwarded_proto="https, http"),
        client("203.0.113.9", scheme="https"), allow=("127.0.0.1", "10.0.0.0/8"),
    ),
    "aligned, client's hop forged by the client cannot be reached": Case(
        "127.0.0.1", xff("6.6.6.6, 203.0.113.9", x_forwarded_proto="https, http"),
        client("203.0.113.9", scheme="http"),
    ),
    "untrusted header names are not read": Case(
        "127.0.0.1", {"HTTP_X_FORWARDED_HOST": "evil.example", "HTTP_X_FORWARDED_PORT": "1"},
        ProxyView(),
    ),
    "host, port and prefix when trusted": Case(
        "127.0.0.1",
        xff("203.0.113.9", x_forwarded_proto="https", x_forwarded_host="shop.example",
            x_forwarded_port="8443", x_forwarded_prefix="/shop/"),
        client("203.0.113.9", scheme="https", host="shop.example", port="8443", prefix="/shop"),
        headers=ALL_X,
    ),
    "malformed host, port and prefix are ignored": Case(
        "127.0.0.1",
        {"HTTP_X_FORWARDED_HOST": "a b", "HTTP_X_FORWARDED_PORT": "99999",
         "HTTP_X_FORWARDED_PREFIX": "/../x"},
        ProxyView(), headers=ALL_X,
    ),
    # -- Forwarded (RFC 7239) --------------------------------------------------------------
    "forwarded: the RFC's example": Case(
        "127.0.0.1", fwd("for=192.0.2.43, for=198.51.100.17;by=203.0.113.60;proto=http"),
        client("198.51.100.17", scheme="http"), headers=RFC,
    ),
    "forwarded: quoted IPv6 with a port, mixed case": Case(
        "127.0.0.1", fwd('For="[2001:db8:cafe::17]:4711";Proto=HTTPS;Host="shop.example:8443"'),
        client("2001:db8:cafe::17", "4711", scheme="https", host="shop.example:8443"),
        headers=RFC,
    ),
    "forwarded: trusted hops skipped, their parameters not used": Case(
        "127.0.0.1",
        fwd("for=192.0.2.1;proto=https;host=shop.example, for=10.0.0.2;proto=http;host=in"),
        client("192.0.2.1", scheme="https", host="shop.example"),
        allow=("127.0.0.1", "10.0.0.0/8"), headers=RFC,
    ),
    "forwarded: several fields (joined by the environ)": Case(
        "127.0.0.1", fwd("for=6.6.6.6;proto=https, for=192.0.2.1;proto=http"),
        client("192.0.2.1", scheme="http"), headers=RFC,
    ),
    "forwarded: obfuscated client, its proxy's facts kept": Case(
        "127.0.0.1", fwd("for=_hidden;proto=https"), ProxyView(scheme="https"), headers=RFC,
    ),
    "forwarded: unknown behind a trusted proxy": Case(
        "127.0.0.1", fwd("for=unknown;proto=https, for=10.0.0.2"),
        client("10.0.0.2", scheme="https"), allow=("127.0.0.1", "10.0.0.0/8"), headers=RFC,
    ),
    "forwarded: an unreadable element ends the walk": Case(
        "127.0.0.1", fwd("for=192.0.2.1, for=[::1]"), ProxyView(), headers=RFC,
    ),
    "forwarded: unclosed quote from the client, proxy's element intact": Case(
        "127.0.0.1", fwd('for="6.6.6.6, for=192.0.2.9'), ProxyView(), headers=RFC,
    ),
    "forwarded: a client's element left of the proxy's is not reached": Case(
        "127.0.0.1", fwd('for=6.6.6.6;proto=https;host=evil, for="192.0.2.9"'),
        client("192.0.2.9"), headers=RFC,
    ),
    "forwarded: X-Forwarded-For is not read when forwarded is trusted": Case(
        "127.0.0.1", xff("203.0.113.9"), ProxyView(), headers=RFC,
    ),
    "forwarded: X-Forwarded-Prefix goes with it": Case(
        "127.0.0.1", fwd("for=192.0.2.1", x_forwarded_prefix="/app"),
        client("192.0.2.1", prefix="/app"), headers=RFC,
    ),
    "x-forwarded-for not trusted: Forwarded not read either": Case(
        "127.0.0.1", fwd("for=192.0.2.1"), ProxyView()
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_resolve(case: Case) -> None:
    proxies = TrustedProxies(case.allow, case.headers)
    assert proxies.resolve(case.fields, case.peer) == case.view


def test_a_long_chain_is_walked_at_most_max_hops() -> None:
    proxies = TrustedProxies(["*"], DEFAULT)
    chain = [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(MAX_HOPS + 40)]
    view = proxies.resolve(xff(", ".join(chain)), "127.0.0.1")
    assert view == client(chain[-MAX_HOPS])


def test_trusted_addresses() -> None:
    trusted = TrustedAddresses(["127.0.0.1", "::1", "10.0.0.0/8", "2001:db8::/32"])
    for inside in ("127.0.0.1", "::ffff:127.0.0.1", "::1", "10.255.0.1", "::ffff:10.0.0.1",
                   "2001:db8:1::5"):  # fmt: skip
        assert inside in trusted, inside
    for outside in ("127.0.0.2", "11.0.0.1", "2001:db9::1", "fe80::1%eth0", "junk", ""):
        assert outside not in trusted, outside
    assert "anything" in TrustedAddresses(["*"])
    assert "127.0.0.1" not in TrustedAddresses([])


def test_network_answers_are_remembered_within_a_bound() -> None:
    trusted = TrustedAddresses(["10.0.0.0/8"])
    for i in range(3000):
        assert f"11.0.{i // 256}.{i % 256}" not in trusted
        assert len(trusted._memo) <= 1024
    assert "10.1.2.3" in trusted


def test_environ_keys_follow_the_trusted_headers() -> None:
    assert TrustedProxies(LOOPBACK, DEFAULT).environ_keys == (
        "HTTP_X_FORWARDED_FOR",
        "HTTP_X_FORWARDED_PROTO",
    )
    assert TrustedProxies(LOOPBACK, ()).environ_keys == ()
