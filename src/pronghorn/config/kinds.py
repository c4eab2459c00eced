"""The kinds of value a setting can hold, and how text becomes each of them.

Owns: one `Kind` per value shape (integer with a floor, number, choice, path, bind address,
TCP address, static mount, URL prefix and path, boolean, trusted proxy address, log level
item, JSON object). A kind
parses one textual item (from the command line or the environment) or one TOML scalar (from
the config file), and raises `ValueError` whose message says what is allowed; the settings
reader adds which option was at fault.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from pronghorn.config.address import ALLOWED_BIND, FdAddress, UnixAddress, parse_bind
from pronghorn.config.model import StaticMount


@dataclass(frozen=True, slots=True)
class Kind:
    """How one item of a setting is read. `allowed` is the human description of valid input."""

    allowed: str
    parse: Callable[[str], object]
    toml_types: tuple[type, ...] = (str,)
    toml_parse: Callable[[object], object] | None = None
    """For a kind whose TOML values are not simply its text (a boolean meaning a word)."""

    def from_toml(self, value: object) -> object:
        """Parse one TOML scalar: check its TOML type, then validate as for text."""
        if self.toml_parse is not None:
            if not isinstance(value, self.toml_types):
                raise ValueError(f"expected {self.allowed}")
            return self.toml_parse(value)
        # bool is an int subclass; a TOML `true` is never a valid number.
        if isinstance(value, bool) and bool not in self.toml_types:
            raise ValueError(f"expected {self.allowed}")
        if not isinstance(value, self.toml_types):
            raise ValueError(f"expected {self.allowed}")
        if isinstance(value, bool):
            return value
        return self.parse(str(value))


def integer(minimum: int) -> Kind:
    """A whole number no smaller than `minimum`."""
    allowed = f"an integer >= {minimum}"

    def parse(text: str) -> int:
        try:
            number = int(text.strip())
        except ValueError:
            raise ValueError(f"expected {allowed}") from None
        if number < minimum:
            raise ValueError(f"expected {allowed}")
        return number

    return Kind(allowed, parse, (int,))


def seconds(*, zero_allowed: bool) -> Kind:
    """A finite, non-negative number of seconds; zero only where it has a meaning."""
    allowed = "a number of seconds >= 0" if zero_allowed else "a number of seconds > 0"

    def parse(text: str) -> float:
        try:
            number = float(text.strip())
        except ValueError:
            raise ValueError(f"expected {allowed}") from None
        if not math.isfinite(number) or number < 0 or (number == 0 and not zero_allowed):
            raise ValueError(f"expected {allowed}")
        return number

    return Kind(allowed, parse, (int, float))


def choice(*words: str) -> Kind:
    """One of `words`, case-insensitive, normalised to lower case."""
    allowed = "one of " + ", ".join(words)

    def parse(text: str) -> str:
        word = text.strip().lower()
        if word not in words:
            raise ValueError(f"expected {allowed}")
        return word

    return Kind(allowed, parse)


def proxy_versions() -> Kind:
    """gunicorn's --proxy-protocol values: off, v1, v2 or auto (either); true/false (a TOML
    boolean, or yes/no/on/1/0 from the environment) mean auto and off."""
    words = ("off", "v1", "v2", "auto")
    allowed = "one of off, v1, v2, auto (or true/false)"
    aliases = {"1": "auto", "true": "auto", "yes": "auto", "on": "auto"}
    aliases |= {"0": "off", "false": "off", "no": "off"}

    def parse(text: str) -> str:
        word = text.strip().lower()
        word = aliases.get(word, word)
        if word not in words:
            raise ValueError(f"expected {allowed}")
        return word

    def from_toml(value: object) -> str:
        if isinstance(value, bool):
            return "auto" if value else "off"
        return parse(str(value))

    return Kind(allowed, parse, (str, bool), toml_parse=from_toml)


def boolean() -> Kind:
    """true/false; the environment may also say 1/0, yes/no, on/off."""
    truthy, falsy = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
    allowed = "true or false"

    def parse(text: str) -> bool:
        word = text.strip().lower()
        if word in truthy:
            return True
        if word in falsy:
            return False
        raise ValueError(f"expected {allowed} (or 1/0, yes/no, on/off)")

    return Kind(allowed, parse, (bool,))


def text(what: str = "a non-empty string", *, empty_ok: bool = False) -> Kind:
    """Any string without NUL (paths, file names, format strings), non-empty unless
    `empty_ok` (a prefix whose default is none)."""

    def parse(value: str) -> str:
        if (not value and not empty_ok) or "\0" in value:
            raise ValueError(f"expected {what}")
        return value

    return Kind(what, parse)


def account(what: str) -> Kind:
    """A user or group: a name, or a numeric id (a TOML integer or digits). Kept as text:
    whether the name exists is asked of the system when the server starts, not here."""
    allowed = f"a {what} name or a numeric {what} id"

    def parse(value: str) -> str:
        name = value.strip()
        if not name or "\0" in name or name.startswith("-") or ":" in name:
            raise ValueError(f"expected {allowed}")
        return name

    return Kind(allowed, parse, (str, int))


def umask() -> Kind:
    """A file mode creation mask, 0 to 0o777, read as gunicorn reads it: `0o22`, `022` (a
    leading 0 means octal), `0x12`, or decimal `18`; a TOML integer is taken as it is."""
    allowed = "a umask from 0 to 0o777, as 0o22, 022 or 18"

    def parse(value: str) -> int:
        digits = value.strip().lower()
        if re.fullmatch(r"0\d+", digits):
            digits = "0o" + digits[1:]
        try:
            number = int(digits, 0)
        except ValueError:
            raise ValueError(f"expected {allowed}") from None
        if not 0 <= number <= 0o777:
            raise ValueError(f"expected {allowed}")
        return number

    return Kind(allowed, parse, (str, int))


def app_spec() -> Kind:
    """`module` or `module:expression`; the loader checks the expression itself."""
    allowed = "MODULE or MODULE:CALLABLE, as in myproject.wsgi:application"
    module_name = re.compile(r"[^\W\d]\w*(?:\.[^\W\d]\w*)*\Z")

    def parse(value: str) -> str:
        module, _, expression = value.strip().partition(":")
        if not module_name.match(module) or (":" in value and not expression.strip()):
            raise ValueError(f"expected {allowed}")
        return value.strip()

    return Kind(allowed, parse)


def bind() -> Kind:
    """A listening address; see `pronghorn.config.address`."""

    def parse(value: str) -> str:
        return str(parse_bind(value.strip()))

    return Kind(ALLOWED_BIND, parse)


def tcp_address() -> Kind:
    """HOST:PORT or [IPV6]:PORT (a `--bind` that is neither unix: nor fd://)."""
    allowed = "HOST:PORT or [IPV6]:PORT"

    def parse(value: str) -> str:
        address = parse_bind(value.strip())
        if isinstance(address, UnixAddress | FdAddress):
            raise ValueError(f"expected {allowed}")
        return str(address)

    return Kind(allowed, parse)


def url_path() -> Kind:
    """An absolute URL path such as /healthz, matched exactly (no query, no fragment)."""
    allowed = "a URL path such as /healthz"

    def parse(value: str) -> str:
        path = value.strip()
        if not path.startswith("/") or any(c in path for c in "?#% ") or not path.isprintable():
            raise ValueError(f"expected {allowed}, without ?, #, % or spaces")
        if not path.isascii():
            raise ValueError(f"expected {allowed} in ASCII")
        return path

    return Kind(allowed, parse)


def proxy_source() -> Kind:
    """An address or network whose proxy headers are trusted: `10.0.0.5`, `10.0.0.0/8`,
    `2001:db8::/32`, or `*` for every peer. Normalised (`10.0.0.5/32` -> `10.0.0.5`)."""
    allowed = "an IP address, a network such as 10.0.0.0/8 or fd00::/8, or *"

    def parse(value: str) -> str:
        text = value.strip()
        if text == "*":
            return text
        try:
            network = ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            # A network written with host bits (10.0.0.1/8) is refused rather than widened:
            # it is more often a typo for a single host than a wish to trust 16M addresses.
            if "/" in text and "has host bits set" in str(exc):
                wide = ipaddress.ip_network(text, strict=False)
                hint = f"{text} has host bits set; {wide}?"
                raise ValueError(f"expected {allowed} ({hint})") from None
            raise ValueError(f"expected {allowed}") from None
        if network.num_addresses == 1:
            return str(network.network_address)
        return str(network)

    return Kind(allowed, parse)


def url_prefix() -> Kind:
    """A URL path prefix, normalised to a leading slash and no trailing slash ("/" -> "")."""
    return Kind("a URL path such as /api", normalise_prefix)


def static_mount() -> Kind:
    """`PREFIX=DIR`: serve directory DIR under URL prefix PREFIX."""
    allowed = "PREFIX=DIR, as in /static=./public or /=./site"

    def parse(value: str) -> StaticMount:
        prefix, sep, directory = value.partition("=")
        if not sep or not prefix.strip() or not directory.strip() or "\0" in directory:
            raise ValueError(f"expected {allowed}")
        return StaticMount(normalise_prefix(prefix.strip()), directory.strip())

    return Kind(allowed, parse)


def normalise_prefix(value: str) -> str:
    """Return `value` as "/a/b" (or "" for the root); reject what cannot be a path prefix."""
    if any(char in value for char in "?#%") or not value.isprintable() or " " in value:
        raise ValueError("expected a URL path such as /api, without ?, #, % or spaces")
    segments = [segment for segment in value.split("/") if segment]
    if any(segment in (".", "..") for segment in segments):
        raise ValueError("a URL prefix cannot contain . or .. segments")
    return "".join("/" + segment for segment in segments)


def env_assignment() -> Kind:
    """`KEY=VALUE`, an environment variable to set (`-e`/`--env`, gunicorn's raw_env): a
    non-empty KEY without `=`; the value may be empty. Neither may hold NUL."""
    allowed = "KEY=VALUE, as in DJANGO_SETTINGS_MODULE=mysite.settings"

    def parse(value: str) -> str:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip() or "\0" in value or key != key.strip():
            raise ValueError(f"expected {allowed}")
        return f"{key}={rest}"

    return Kind(allowed, parse)


def cert_reqs() -> Kind:
    """Whether clients must show a certificate: none, optional or required, or gunicorn's
    numbers for them (0, 1, 2: `ssl.CERT_NONE`... in a gunicorn.conf.py)."""
    words = {"0": "none", "1": "optional", "2": "required"}
    allowed = "none, optional or required (or gunicorn's 0, 1, 2)"

    def parse(value: str) -> str:
        word = value.strip().lower().removeprefix("cert_")
        word = words.get(word, word)
        if word not in words.values():
            raise ValueError(f"expected {allowed}")
        return word

    return Kind(allowed, parse, (str, int))


def tls_version() -> Kind:
    """The oldest TLS version accepted: 1.2 or 1.3 (`TLSv1.2`, `TLSv1_3` are read too).
    Older versions are not offered: OpenSSL 3 refuses them at its default security level."""
    allowed = "1.2 or 1.3"

    def parse(value: str) -> str:
        word = value.strip().lower().replace("_", ".").removeprefix("tlsv").removeprefix("tls")
        if word not in ("1.2", "1.3"):
            raise ValueError(f"expected {allowed}")
        return word

    return Kind(allowed, parse, (str, float))


LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def log_level() -> Kind:
    """`LEVEL` (pronghorn's error log) or `LOGGER=LEVEL` (any logger by its dotted name),
    LEVEL one of LOG_LEVELS, case-insensitive; normalised to `level` or `logger=level`."""
    allowed = "LEVEL or LOGGER=LEVEL, LEVEL one of " + ", ".join(LOG_LEVELS)

    def parse(text: str) -> str:
        logger, sep, level = text.strip().rpartition("=")
        logger = logger.strip()
        if sep and (not logger or any(char.isspace() or char == "=" for char in logger)):
            raise ValueError(f"expected {allowed}: a logger name is dotted words, no spaces")
        word = level.strip().lower()
        if word not in LOG_LEVELS:
            close = difflib.get_close_matches(word, LOG_LEVELS, n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ValueError(
                f"expected one of {', '.join(LOG_LEVELS)}, or LOGGER=LEVEL: unknown level "
                f"{level.strip()!r}{hint}"
            )
        return f"{logger}={word}" if sep else word

    return Kind(allowed, parse)


def json_object() -> Kind:
    """A mapping: a JSON object on the command line and in the environment, a table in a
    config file (a dict in a Python one)."""
    allowed = "a JSON object (a table in a config file)"

    def parse(text: str) -> dict[str, object]:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"expected {allowed}: not JSON ({exc})") from None
        return from_toml(value)

    def from_toml(value: object) -> dict[str, object]:
        if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
            raise ValueError(f"expected {allowed}")
        return value

    return Kind(allowed, parse, (dict,), toml_parse=from_toml)
