"""The access-log format language.

Owns: `AccessRecord` (one finished request, as the I/O layer reports it), the atoms of
`--access-logformat` and their escaping, `compile_format()` and `AccessLog`, which writes one
line per request to the `pronghorn.access` logger. Where the lines go (handlers, files,
rotation) is `pronghorn.logs.setup`'s business. A format is compiled once into a %-template
plus one small function per atom, so `AccessLog.log()` costs one tuple of string conversions
and returns at once when access logging is off.

Access format atoms follow gunicorn's `--access-logformat` (`%(NAME)s`):
h client address (REMOTE_ADDR: the client a trusted proxy names, else the peer), l "-",
u user (HTTP Basic), t [request time], r request line, m method, U path, q query string,
H protocol, s status, B body bytes, b body bytes or "-", f Referer, a User-Agent, T seconds,
M milliseconds, D microseconds, L decimal seconds, p <pid>, X how the connection ended
(Apache's %X: "X" the response was cut short, "+" kept alive, "-" closed), {name}i request header,
{name}o response header, {name}e WSGI environ variable (or process environment variable
when the record carries no environ). Values from the peer or the app
are escaped (control bytes, non-ASCII, `"` and backslash) so a line cannot be forged or split.
"""

from __future__ import annotations

import binascii
import difflib
import functools
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from pronghorn.errors import ConfigError

ACCESS_LOGGER = "pronghorn.access"

PRESET_FORMATS = MappingProxyType(
    {
        "combined": '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"',
        "common": '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s',
    }
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_UNSAFE_TEXT = re.compile(r'[^\x20-\x7e]|["\\]')
_UNSAFE_BYTES = re.compile(rb'[^\x20-\x7e]|["\\]')
_PLACEHOLDER = re.compile(r"%(?:\((?P<name>[^()]*)\)(?P<conversion>[a-zA-Z]?)|(?P<percent>%))?")


@dataclass(slots=True)
class AccessRecord:
    """One finished request, as the I/O layer reports it to the access log.

    `remote_addr` and `remote_port` are the client's: REMOTE_ADDR/REMOTE_PORT as the environ
    has them after a trusted proxy's headers (`pronghorn.wsgi.proxies`), the peer otherwise.
    `request_time` is wall-clock `time.time()` when the line is written, once the last byte
    of the response went to the kernel (nginx's `$time_local`); `duration` is measured with
    the monotonic clock, from the request's start to that moment. `response_bytes` counts
    body bytes sent (no head): for a response cut short, the ones that went out.
    `remote_port` is 0 when not known (Unix sockets, a client named by a proxy). `environ`
    is optional and only read by `{name}e` atoms. `completed` is False when the response
    was cut short (the client went away, or the app failed mid-body); `keep_alive` says
    whether the connection stays open after it.
    """

    remote_addr: str
    remote_port: int
    request_time: float
    method: str
    target: str
    version: str
    status: int
    response_bytes: int
    duration: float
    request_headers: Sequence[tuple[bytes, bytes]]
    response_headers: Sequence[tuple[str, str]]
    pid: int
    environ: Mapping[str, object] | None = None
    keep_alive: bool = True
    completed: bool = True


Atom = Callable[[AccessRecord], str]


# --- escaping ------------------------------------------------------------------------------


def escape_text(value: str) -> str:
    """`value` with control and non-ASCII characters, `"` and backslash escaped."""
    # The str predicates run in C and are several times cheaper than a regex search.
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return value
    return _UNSAFE_TEXT.sub(_escape_char, value)


def escape_bytes(value: bytes) -> str:
    """Raw bytes as ASCII text, escaping as `escape_text` does (`\\xHH` per unsafe byte)."""
    text = value.decode("latin-1")
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return text
    return _UNSAFE_BYTES.sub(_escape_byte, value).decode("ascii")


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    if char in '"\\':
        return "\\" + char
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _escape_byte(match: re.Match[bytes]) -> bytes:
    byte = match.group()
    if byte in (b'"', b"\\"):
        return b"\\" + byte
    return b"\\x%02x" % byte[0]


# --- atoms -----------------------------------------------------------------------------------


def _request_header(record: AccessRecord, name: bytes) -> bytes | None:
    found: list[bytes] = [value for key, value in record.request_headers if key.lower() == name]
    return b", ".join(found) if found else None


def _request_header_atom(name: str) -> Atom:
    wanted = name.lower().encode("latin-1")

    def atom(record: AccessRecord) -> str:
        value = _request_header(record, wanted)
        return "-" if value is None else escape_bytes(value)

    return atom


def _response_header_atom(name: str) -> Atom:
    wanted = name.lower()

    def atom(record: AccessRecord) -> str:
        found = [value for key, value in record.response_headers if key.lower() == wanted]
        return escape_text(", ".join(found)) if found else "-"

    return atom


def _environ_atom(name: str) -> Atom:
    def atom(record: AccessRecord) -> str:
        source: Mapping[str, object] = os.environ if record.environ is None else record.environ
        value = source.get(name)
        return "-" if value is None else escape_text(str(value))

    return atom


def _user(record: AccessRecord) -> str:
    value = _request_header(record, b"authorization")
    if value is None or value[:6].lower() != b"basic ":
        return "-"
    try:
        decoded = binascii.a2b_base64(value[6:].strip(), strict_mode=True)
    except (binascii.Error, ValueError):
        return "-"
    return escape_bytes(decoded.partition(b":")[0]) or "-"


def _timestamp(seconds: int) -> str:
    """Apache/gunicorn `%t`: [10/Oct/2000:13:55:36 -0700], local time."""
    tm = time.localtime(seconds)
    offset = tm.tm_gmtoff // 60
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset), 60)
    return (
        f"[{tm.tm_mday:02d}/{_MONTHS[tm.tm_mon - 1]}/{tm.tm_year}:"
        f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d} {sign}{hours:02d}{minutes:02d}]"
    )


def _time_atom() -> Atom:
    # Most log lines in a second share their timestamp: format it once per second.
    cached = functools.lru_cache(maxsize=4)(_timestamp)
    return lambda record: cached(int(record.request_time))


SIMPLE_ATOMS: Mapping[str, Atom] = MappingProxyType(
    {
        "h": lambda r: escape_text(r.remote_addr) or "-",
        "l": lambda r: "-",
        "u": _user,
        "r": lambda r: escape_text(f"{r.method} {r.target} {r.version}"),
        "m": lambda r: escape_text(r.method),
        "U": lambda r: escape_text(r.target.partition("?")[0]),
        "q": lambda r: escape_text(r.target.partition("?")[2]),
        "H": lambda r: escape_text(r.version),
        "s": lambda r: str(r.status),
        "B": lambda r: str(r.response_bytes),
        "b": lambda r: str(r.response_bytes) if r.response_bytes else "-",
        "f": _request_header_atom("Referer"),
        "a": _request_header_atom("User-Agent"),
        "T": lambda r: str(int(r.duration)),
        "M": lambda r: str(int(r.duration * 1_000)),
        "D": lambda r: str(int(r.duration * 1_000_000)),
        "L": lambda r: f"{r.duration:.6f}",
        "p": lambda r: f"<{r.pid}>",
        "X": lambda r: ("+" if r.keep_alive else "-") if r.completed else "X",
    }
)
_HEADER_ATOMS: Mapping[str, Callable[[str], Atom]] = MappingProxyType(
    {"i": _request_header_atom, "o": _response_header_atom, "e": _environ_atom}
)


def _atom(name: str) -> Atom:
    if name == "t":
        return _time_atom()
    simple = SIMPLE_ATOMS.get(name)
    if simple is not None:
        return simple
    if name.startswith("{") and name[-1:] in _HEADER_ATOMS and name[-2:-1] == "}":
        inner = name[1:-2]
        if inner and inner.isprintable():
            return _HEADER_ATOMS[name[-1]](inner)
    known = [*SIMPLE_ATOMS, "t", "{header}i", "{header}o", "{variable}e"]
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean %({close[0]})s?)" if close else ""
    raise ConfigError(f"option --access-logformat: unknown atom %({name})s{hint}")


# --- formats ---------------------------------------------------------------------------------


def compile_format(spec: str) -> Callable[[AccessRecord], str]:
    """Compile `combined`, `common`, `json` or a `%(NAME)s` format into a line formatter."""
    if spec == "json":
        return _json_formatter()
    template, atoms = _parse_format(PRESET_FORMATS.get(spec, spec))
    atom_tuple = tuple(atoms)

    def format_line(record: AccessRecord) -> str:
        return template % tuple([atom(record) for atom in atom_tuple])

    return format_line


def _parse_format(spec: str) -> tuple[str, list[Atom]]:
    pieces: list[str] = []
    atoms: list[Atom] = []
    position = 0
    for match in _PLACEHOLDER.finditer(spec):
        pieces.append(spec[position : match.start()].replace("%", "%%"))
        position = match.end()
        if match.group("percent"):
            pieces.append("%%")
        elif match.group("name") is not None and match.group("conversion") == "s":
            pieces.append("%s")
            atoms.append(_atom(match.group("name")))
        else:
            raise ConfigError(
                f"option --access-logformat: bad placeholder {match.group()!r} at offset "
                f"{match.start()}: write atoms as %(NAME)s and a literal percent sign as %%"
            )
    pieces.append(spec[position:].replace("%", "%%"))
    return "".join(pieces), atoms


def _iso_second(seconds: int) -> tuple[str, str]:
    """Local ISO 8601 date-time to the second, and the UTC offset, for `seconds`."""
    moment = datetime.fromtimestamp(seconds).astimezone()
    offset = moment.isoformat()[19:]
    return moment.isoformat(timespec="seconds")[:19], offset


def _json_formatter() -> Callable[[AccessRecord], str]:
    iso_second = functools.lru_cache(maxsize=4)(_iso_second)
    # json.dumps() with options builds a new encoder per call; build one, once.
    encode = json.JSONEncoder(separators=(",", ":")).encode

    def format_json(record: AccessRecord) -> str:
        """One JSON object per line; json.dumps escapes all a line could be forged with."""
        second = int(record.request_time)
        stamp, offset = iso_second(second)
        millis = int((record.request_time - second) * 1000)
        referer = _request_header(record, b"referer")
        agent = _request_header(record, b"user-agent")
        return encode(
            {
                "time": f"{stamp}.{millis:03d}{offset}",
                "remote_addr": record.remote_addr,
                "remote_port": record.remote_port,
                "method": record.method,
                "target": record.target,
                "version": record.version,
                "status": record.status,
                "bytes": record.response_bytes,
                "duration": round(record.duration, 6),
                "referer": None if referer is None else referer.decode("utf-8", "backslashreplace"),
                "user_agent": None if agent is None else agent.decode("utf-8", "backslashreplace"),
                "pid": record.pid,
                "completed": record.completed,
            }
        )

    return format_json


class AccessLog:
    """Writes one line per finished request to the `pronghorn.access` logger."""

    __slots__ = (
        "_format",
        "_logger",
        "_pattern",
        "_pattern_pid",
        "_since_start",
        "_thread_names",
        "enabled",
    )

    def __init__(self, logger: logging.Logger, spec: str, *, enabled: bool) -> None:
        self._logger = logger
        self._format = compile_format(spec)
        self.enabled = enabled
        self._pattern: dict[str, object] = {}  # see _log_record
        self._pattern_pid = 0
        self._since_start = 0.0
        self._thread_names: dict[int, str] = {}

    def format(self, record: AccessRecord) -> str:
        """The line `log(record)` would write, without writing it."""
        return self._format(record)

    def log(self, record: AccessRecord) -> None:
        """Write the line for `record`; does nothing when access logging is off."""
        if not self.enabled:
            return
        # Build the LogRecord directly: Logger.info() would walk the stack to find the caller.
        self._logger.handle(self._log_record(self._format(record)))

    def _log_record(self, message: str) -> logging.LogRecord:
        """What `logging.LogRecord(name, INFO, "", 0, message, None, None)` makes, for
        about half its cost (it was a fifth of what a line costs): the fields that are the
        same for every line of this process (level, names, pid, process name) are copied
        from one record the standard library made, and only the message, the times and the
        thread are set. So handlers and formatters of a --log-config see every field."""
        pid = os.getpid()
        if pid != self._pattern_pid:  # the first line, or the first of a forked worker
            made = logging.LogRecord(self._logger.name, logging.INFO, "", 0, "", None, None)
            self._pattern = vars(made).copy()
            self._pattern_pid = pid
            # relativeCreated is (created - logging's start) * 1000: keep what is constant.
            self._since_start = made.relativeCreated - made.created * 1000
        pattern = self._pattern
        line = _new_object(logging.LogRecord)
        fields = line.__dict__
        fields.update(pattern)
        now = time.time()
        fields["msg"] = message
        fields["created"] = now
        fields["msecs"] = int((now - int(now)) * 1000) + 0.0
        fields["relativeCreated"] = now * 1000 + self._since_start
        if pattern["thread"] is not None:  # None when logging.logThreads is off
            ident = threading.get_ident()
            fields["thread"] = ident
            name = self._thread_names.get(ident)
            if name is None:
                # threading.current_thread() is a Python call: ask once a thread. (A
                # worker's request threads live as long as it does.)
                name = self._thread_names[ident] = threading.current_thread().name
            fields["threadName"] = name
        return line


_new_object = object.__new__
