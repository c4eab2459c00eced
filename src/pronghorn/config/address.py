"""Listening addresses: the `--bind` forms and their parsed value.

Owns: the grammar of a bind string (`HOST:PORT`, `[IPV6]:PORT`, `unix:PATH`, `fd://N` for an
already-listening inherited socket, as gunicorn) and the typed
address it denotes. `Config.bind` keeps the validated strings; the I/O layer calls
`parse_bind` on each to learn what to listen on. Parsing binds nothing.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

ALLOWED_BIND = "HOST:PORT, [IPV6]:PORT, unix:PATH or fd://N, with PORT from 0 to 65535"

_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\Z")


@dataclass(frozen=True, slots=True)
class TcpAddress:
    """A TCP listener. `host` is an IPv4/IPv6 literal (no brackets) or a host name."""

    host: str
    port: int

    @property
    def is_ipv6(self) -> bool:
        """True when `host` is an IPv6 literal."""
        return ":" in self.host

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if self.is_ipv6 else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class UnixAddress:
    """A Unix domain socket listener at `path`."""

    path: str

    def __str__(self) -> str:
        return f"unix:{self.path}"


@dataclass(frozen=True, slots=True)
class FdAddress:
    """An inherited socket that is already bound and listening, by file descriptor."""

    fd: int

    def __str__(self) -> str:
        return f"fd://{self.fd}"


BindAddress = TcpAddress | UnixAddress | FdAddress


def parse_bind(text: str) -> BindAddress:
    """Parse one bind string; raise ValueError saying what is wrong with it."""
    if text.startswith("fd://"):
        number = text[len("fd://") :]
        if not number.isdecimal() or not number.isascii():
            raise ValueError("fd:// needs a file descriptor number, as in fd://3")
        return FdAddress(int(number))
    if text.startswith("unix:"):
        path = text[len("unix:") :]
        if not path:
            raise ValueError("unix: needs a socket path, as in unix:/run/pronghorn.sock")
        if "\0" in path:
            raise ValueError("a socket path cannot contain NUL")
        return UnixAddress(path)
    host, port_text = _split_host_port(text)
    return TcpAddress(_check_host(host), _parse_port(port_text))


def _split_host_port(text: str) -> tuple[str, str]:
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1 : end + 2] != ":":
            raise ValueError(f"expected [IPV6]:PORT, as in [::1]:8000, in {text!r}")
        host = text[1:end]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv6 address") from None
        return host, text[end + 2 :]
    host, sep, port_text = text.rpartition(":")
    if not sep:
        raise ValueError(f"expected {ALLOWED_BIND}; {text!r} has no port")
    if ":" in host:
        raise ValueError(f"IPv6 addresses go in brackets, as in [{host}]:{port_text}")
    if not host:
        raise ValueError(f"the host is empty; to listen on every interface use 0.0.0.0{text}")
    return host, port_text


def _check_host(host: str) -> str:
    if ":" in host:
        return host  # IPv6, already checked
    if not _HOSTNAME.match(host):
        raise ValueError(f"{host!r} is not a host name or IP address")
    return host


def _parse_port(text: str) -> int:
    if not text.isdecimal() or not text.isascii():
        raise ValueError(f"the port {text!r} is not a number from 0 to 65535")
    port = int(text)
    if port > 65535:
        raise ValueError(f"the port {port} is out of range 0 to 65535")
    return port
