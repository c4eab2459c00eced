"""Trusted proxies: whose proxy headers are believed, and what they change in the environ.

Owns `TrustedAddresses` (--forwarded-allow-ips, precomputed) and `TrustedProxies` (that
set plus --trusted-proxy-headers), built once per worker, and `server_from_host`, which
points SERVER_NAME/SERVER_PORT at the Host the client asked for.

The rule: only a trusted peer's headers are read, and of a chain of proxies only the part
that trusted proxies vouch for. Each proxy appends its own client to `X-Forwarded-For`
(or one element to `Forwarded`), so the chain is walked from the right: while the address
found is a trusted proxy, step left; the first address that is not one is the client
(REMOTE_ADDR), and that hop's scheme, host, port and prefix are the ones believed. An
entry that names no address (`unknown`, `_hidden`, garbage) ends the walk and leaves
REMOTE_ADDR at the last proxy known. At most `MAX_HOPS` entries are examined.

Headers of an untrusted peer are left in the environ as they came and never acted on;
so are a trusted peer's (HTTP_X_FORWARDED_FOR and the rest stay for the app to read).
"""

from __future__ import annotations

import ipaddress
import operator
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from typing import Any, Final, NamedTuple

from pronghorn.wsgi import forwarded
from pronghorn.wsgi.forwarded import Node

MAX_HOPS: Final = 64
"""Entries of a chain examined from the right; bounds the work a long header costs."""

_MEMO_LIMIT: Final = 1024
_MEMO_VALUE_LIMIT: Final = 256  # characters of header values a remembered answer may be keyed by
_DEFAULT_PORTS: Final = {"http": "80", "https": "443"}

ENVIRON_KEYS: Final = {
    "forwarded": "HTTP_FORWARDED",
    "x-forwarded-for": "HTTP_X_FORWARDED_FOR",
    "x-forwarded-proto": "HTTP_X_FORWARDED_PROTO",
    "x-forwarded-host": "HTTP_X_FORWARDED_HOST",
    "x-forwarded-port": "HTTP_X_FORWARDED_PORT",
    "x-forwarded-prefix": "HTTP_X_FORWARDED_PREFIX",
}
"""The environ key of each header --trusted-proxy-headers may name."""


class TrustedAddresses:
    """--forwarded-allow-ips as a set: `address in trusted` for canonical IP text (what
    the kernel reports for a peer, or `Node.address`). The I/O layer uses one for
    --proxy-allow-from too (which peers must send a PROXY header).

    Single addresses are one set lookup (an IPv4 address also under its IPv4-mapped IPv6
    form, as a dual-stack socket reports it). Networks are matched once per address and
    the answer remembered (at most 1024 answers; the memo starts over when full)."""

    __slots__ = ("_exact", "_memo", "_networks", "everyone")

    def __init__(self, entries: Iterable[str]) -> None:
        self.everyone = False
        self._exact: set[str] = set()
        self._networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self._memo: dict[str, bool] = {}
        for entry in entries:
            if entry == "*":
                self.everyone = True
                continue
            network = ipaddress.ip_network(entry)
            if network.num_addresses == 1:
                address = network.network_address
                self._exact.add(str(address))
                if address.version == 4:
                    self._exact.add(f"::ffff:{address}")
            else:
                self._networks.append(network)

    def __contains__(self, address: object) -> bool:
        if self.everyone or address in self._exact:
            return True
        if not self._networks or not isinstance(address, str):
            return False
        known = self._memo.get(address)
        if known is None:
            known = self._match(address)
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            self._memo[address] = known
        return known

    def _match(self, text: str) -> bool:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self._networks)


class ProxyView(NamedTuple):
    """What trusted proxies say about one request; None where they said nothing usable."""

    client: Node | None = None
    scheme: str | None = None
    host: str | None = None
    port: str | None = None
    prefix: str | None = None


class TrustedProxies:
    """Which peers are trusted and which of their headers are believed; rewrites environ."""

    __slots__ = (
        "_for", "_forwarded", "_host", "_key_names", "_memo", "_port", "_prefix", "_proto",
        "_values", "addresses", "environ_keys", "headers",
    )  # fmt: skip

    def __init__(self, allow: Iterable[str], headers: Iterable[str]) -> None:
        self.addresses = TrustedAddresses(allow)
        self.headers = frozenset(headers)
        self.environ_keys = tuple(key for name, key in ENVIRON_KEYS.items() if name in self.headers)
        """The environ keys to look for; empty when no header is trusted."""
        self._forwarded = "forwarded" in self.headers
        self._for = "x-forwarded-for" in self.headers
        self._proto = "x-forwarded-proto" in self.headers
        self._host = "x-forwarded-host" in self.headers
        self._port = "x-forwarded-port" in self.headers
        self._prefix = "x-forwarded-prefix" in self.headers
        self._memo: dict[tuple[str | None, ...], ProxyView] = {}
        # The memo's key: the trusted headers' values, read in one C call when all are
        # present (behind nginx, X-Forwarded-For and -Proto always are). One name is given
        # twice so that itemgetter returns a tuple for one header too.
        names = self.environ_keys * 2 if len(self.environ_keys) == 1 else self.environ_keys
        self._key_names = names
        self._values = operator.itemgetter(*names) if names else _no_values

    def resolve(self, fields: Mapping[str, Any], peer: str | None) -> ProxyView | None:
        """What the trusted headers among `fields` (environ keys) say; None when `peer`
        (an IP, or None for a Unix socket) is not trusted.

        The answer depends only on the values of the trusted headers once the peer is
        trusted, and behind a proxy the same values come again and again (one client's
        requests): short ones are remembered, so a repeat costs a dict lookup instead of
        parsing addresses (at most 1024 answers; the memo starts over when full)."""
        if peer is not None and peer not in self.addresses:
            return None
        try:
            key: tuple[str | None, ...] = self._values(fields)
        except KeyError:
            key = tuple(map(fields.get, self._key_names))
        view = self._memo.get(key)
        if view is None:
            view = self._read(fields)
            if sum(len(value) for value in key if value) <= _MEMO_VALUE_LIMIT:
                if len(self._memo) >= _MEMO_LIMIT:
                    self._memo.clear()
                self._memo[key] = view
        return view

    def _read(self, fields: Mapping[str, Any]) -> ProxyView:
        client: Node | None = None
        index: int | None = None
        count = 0
        scheme = host = port = prefix = None
        if self._forwarded:
            value = fields.get("HTTP_FORWARDED")
            if value:
                elements = forwarded.forwarded_elements(value)
                client, index = self._walk(elements, _hop_node)
                count = len(elements)
                if index is not None:
                    _, scheme, host = forwarded.parse_hop(elements[index])
        elif self._for:
            value = fields.get("HTTP_X_FORWARDED_FOR")
            if value:
                entries = forwarded.list_items(value)
                client, index = self._walk(entries, forwarded.parse_node)
                count = len(entries)
        if self._proto and scheme is None:
            value = fields.get("HTTP_X_FORWARDED_PROTO")
            if value and (item := _aligned(value, index, count)):
                scheme = forwarded.scheme(item)
        if self._host and host is None:
            value = fields.get("HTTP_X_FORWARDED_HOST")
            if value and (item := _aligned(value, index, count)):
                host = forwarded.host(item)
        if self._port:
            value = fields.get("HTTP_X_FORWARDED_PORT")
            if value and (item := _aligned(value, index, count)):
                port = forwarded.parse_port(item)
        if self._prefix:
            value = fields.get("HTTP_X_FORWARDED_PREFIX")
            if value and (item := _aligned(value, index, count)):
                prefix = forwarded.prefix(item)
        return ProxyView(client, scheme, host, port, prefix)

    def _walk(
        self, items: Sequence[str], read: Callable[[str], Node | None]
    ) -> tuple[Node | None, int | None]:
        """From the right: the client `read` finds in `items`, and its index (None, None
        when there are no items).

        The client is the first address that is not a trusted proxy; when an item names
        no address, the last trusted address before it (None: the peer itself)."""
        trusted = self.addresses
        client: Node | None = None
        index: int | None = None
        # Not `for index in ...`: compiled, a loop over an empty range still sets its variable
        # (to the start, -1 here), and `index` is read after the loop.
        for position in range(len(items) - 1, max(-1, len(items) - 1 - MAX_HOPS), -1):
            index = position
            node = read(items[position])
            if node is None:
                break
            client = node
            if node.address not in trusted:
                break
        return client, index

    def apply(self, environ: MutableMapping[str, Any], remote: tuple[str, int] | None) -> bool:
        """Rewrite `environ` as the trusted headers say. True when the scheme, host or port
        changed, and with them SERVER_NAME and SERVER_PORT (see `server_from_host`)."""
        view = self.resolve(environ, None if remote is None else remote[0])
        if view is None:
            return False
        client = view.client
        if client is not None:
            environ["REMOTE_ADDR"] = client.address
            if client.port is not None:
                environ["REMOTE_PORT"] = client.port
            else:
                # The peer's port belongs to the proxy's connection, not to the client.
                environ.pop("REMOTE_PORT", None)
        if view.prefix:
            # The proxy serves the app under this prefix and has stripped it from the path,
            # so PATH_INFO stays as received.
            environ["SCRIPT_NAME"] = view.prefix + environ["SCRIPT_NAME"]
        if view.scheme is None and view.host is None and view.port is None:
            return False
        if view.scheme is not None:
            environ["wsgi.url_scheme"] = view.scheme
        if view.host is not None:
            environ["HTTP_HOST"] = view.host
        if view.port is not None and "HTTP_HOST" in environ:
            name, _ = forwarded.split_host(environ["HTTP_HOST"])
            default = _DEFAULT_PORTS.get(environ["wsgi.url_scheme"])
            environ["HTTP_HOST"] = name if view.port == default else f"{name}:{view.port}"
        server_from_host(environ, view.port)
        return True


def _no_values(fields: object) -> tuple[str | None, ...]:
    return ()


def _hop_node(element: str) -> Node | None:
    return forwarded.parse_hop(element).node


def _aligned(value: str, index: int | None, count: int) -> str | None:
    """The item of a comma-separated X-Forwarded-* value that belongs to the client's hop.

    One item is the answer whatever the chain. Several, as many as the chain has hops (each
    proxy appended one), are read at the client's index. Otherwise the right-most, the one
    the nearest (trusted) proxy added: never an item a client could have put in front."""
    if "," not in value:
        return value  # one item: the common case (the checks strip OWS)
    items = forwarded.list_items(value)
    if len(items) <= 1:
        return items[0] if items else None
    if index is not None and len(items) == count:
        return items[index]
    return items[-1]


def server_from_host(environ: MutableMapping[str, Any], port: str | None = None) -> None:
    """SERVER_NAME and SERVER_PORT from HTTP_HOST: its name (IPv6 without brackets) and its
    port, else `port`, else the scheme's default. Without a Host only SERVER_PORT changes."""
    scheme_port = port or _DEFAULT_PORTS.get(environ["wsgi.url_scheme"], "80")
    value = environ.get("HTTP_HOST")
    if not value:
        environ["SERVER_PORT"] = scheme_port
        return
    name, host_port = forwarded.split_host(value)
    environ["SERVER_NAME"] = name[1:-1] if name.startswith("[") else name
    environ["SERVER_PORT"] = host_port or scheme_port
