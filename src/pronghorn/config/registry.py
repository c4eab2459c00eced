"""The settings registry: one declaration per setting.

Owns: `SETTINGS`, the single list from which the command line (`arguments`), the environment
and config-file readers (`sources`) and `docs/configuration.md` (`docs`) are derived. Each
`Setting` names its `Config` field; the default is read from `Config` itself, so it is written
down exactly once. Adding a setting = one field in `model.Config` + one entry here.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeVar

from pronghorn.config import kinds
from pronghorn.config.kinds import Kind
from pronghorn.config.model import PROXY_HEADER_NAMES, Config
from pronghorn.errors import ConfigError

_T = TypeVar("_T")

ENV_PREFIX = "PRONGHORN_"


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting. `flags` is empty for the positional APP argument."""

    name: str
    kind: Kind
    flags: tuple[str, ...]
    metavar: str
    section: str
    help: str
    multiple: bool = False
    """Repeatable: each occurrence adds items; a later source replaces the whole list."""
    comma_list: bool = False
    """Each occurrence may itself hold several comma-separated items (as --pythonpath)."""
    in_file: bool = True
    """False for settings that make no sense inside a config file (the file's own path)."""
    bare: str | None = None
    """The value of the flag given without one (gunicorn's `--proxy-protocol`)."""

    @property
    def is_switch(self) -> bool:
        """A boolean on/off setting (`--x` / `--no-x` on the command line)."""
        return self.kind.toml_types == (bool,) and self.bare is None

    @property
    def long_option(self) -> str:
        """`--bind`; for the positional setting, its name."""
        return next((flag for flag in self.flags if flag.startswith("--")), self.name)

    @property
    def env_var(self) -> str:
        """`PRONGHORN_BIND`."""
        return ENV_PREFIX + self.name.upper()

    @property
    def file_key(self) -> str:
        """`bind`, `limit-request-line` (underscores are accepted too)."""
        return self.long_option.removeprefix("--")

    @property
    def default(self) -> object:
        """The default, as declared on `Config`."""
        return getattr(DEFAULTS, self.name)

    def from_text(self, items: Sequence[str], where: str) -> object:
        """The value given by textual `items` (one per occurrence); `where` names the source."""
        values = [self._parse(self.kind.parse, item, where) for item in self._split(items)]
        if self.multiple:
            return tuple(values)
        if not values:
            raise ConfigError(f"{where}: expected {self.kind.allowed}, got nothing")
        return values[-1]

    def from_toml(self, raw: object, where: str) -> object:
        """The value given by a config-file entry: a TOML scalar, or a list if repeatable."""
        if self.multiple and isinstance(raw, list):
            items: list[object] = list(raw)
        elif self.multiple and isinstance(raw, str):
            items = [raw]
        elif self.multiple:
            raise ConfigError(f"{where}: expected a list of strings, each {self.kind.allowed}")
        else:
            items = [raw]
        if self.comma_list:
            if not all(isinstance(item, str) for item in items):
                raise ConfigError(f"{where}: expected strings, each {self.kind.allowed}")
            items = list(self._split([str(item) for item in items]))
        values = [self._parse(self.kind.from_toml, item, where) for item in items]
        return tuple(values) if self.multiple else values[0]

    def _split(self, items: Sequence[str]) -> Iterator[str]:
        for item in items:
            if self.comma_list:
                yield from (part for part in item.split(",") if part.strip())
            else:
                yield item

    @staticmethod
    def _parse(parse: Callable[[_T], object], item: _T, where: str) -> object:
        try:
            return parse(item)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}, got {item!r}") from None


DEFAULTS = Config()

_APP, _SOCKET, _PROXY, _PROCESSES, _PRIVILEGES, _WORKER, _TIMEOUTS, _LIMITS, _LOGGING = (
    "Application",
    "Server socket",
    "Behind a proxy",
    "Processes",
    "Privileges",
    "Worker",
    "Timeouts",
    "Request limits",
    "Logging",
)
_STATIC, _CONFIG = "Static files", "Config file"
_TLS = "TLS"
_OBSERVE = "Metrics and health"

SECTIONS = (
    _APP, _SOCKET, _TLS, _PROXY, _PROCESSES, _PRIVILEGES, _WORKER, _TIMEOUTS, _LIMITS, _LOGGING,
    _OBSERVE, _STATIC, _CONFIG,
)  # fmt: skip

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "app", kinds.app_spec(), (), "APP", _APP,
        "The WSGI application: MODULE:CALLABLE, MODULE:FACTORY() or MODULE:FACTORY(ARGS) with "
        "literal arguments, or a bare MODULE (its `application`, else `app`). "
        "May be omitted when --static is given.",
    ),
    Setting(
        "chdir", kinds.text("a directory"), ("--chdir",), "DIR", _APP,
        "Change to this directory before loading the application.",
    ),
    Setting(
        "pythonpath", kinds.text("a directory"), ("--pythonpath",), "DIRS", _APP,
        "Comma-separated directories to put in front of sys.path before loading the "
        "application. Repeatable.",
        multiple=True, comma_list=True,
    ),
    Setting(
        "bind", kinds.bind(), ("-b", "--bind"), "ADDRESS", _SOCKET,
        "Listen on HOST:PORT, [IPV6]:PORT, unix:PATH or fd://N (an inherited listening "
        "socket). Repeatable to listen on several. A unix:PATH socket file gets mode 0660 "
        "(0777 less --umask when --umask is given, as gunicorn) and the owner --user and "
        "group --group when they are given: whoever may write to it may connect.",
        multiple=True,
    ),
    Setting(
        "backlog", kinds.integer(1), ("--backlog",), "INT", _SOCKET,
        "The most connections waiting to be accepted (the listen() backlog).",
    ),
    Setting(
        "reuse_port", kinds.boolean(), ("--reuse-port",), "", _SOCKET,
        "Each worker binds its own SO_REUSEPORT socket for every TCP address and the kernel "
        "spreads new connections across them. A worker that stops closes its socket to new "
        "connections and answers those still queued on it before closing it, so a reload "
        "loses none (a client whose connection attempt met the closing socket retries it a "
        "second later); off by default.",
    ),
    Setting(
        "defer_accept", kinds.boolean(), ("--defer-accept",), "", _SOCKET,
        "The kernel hands a new TCP connection over only once its first bytes have arrived "
        "(TCP_DEFER_ACCEPT, Linux; as uWSGI does by default and nginx's `listen ... "
        "deferred`), so the server reads the request at once instead of waiting for it. "
        "A connection that stays silent is handed over after a second anyway. On by "
        "default for the sockets pronghorn opens; --no-defer-accept turns it off. An "
        "fd:// or systemd socket keeps the options it came with (systemd: DeferAcceptSec=).",
    ),
    Setting(
        "certfile", kinds.text("a file path"), ("--certfile",), "FILE", _TLS,
        "Serve HTTPS: the server's certificate in PEM, followed by the intermediate "
        "certificates (a full chain, as Let's Encrypt's fullchain.pem). Every --bind "
        "address then speaks TLS only. Read by the master at start, as the user that "
        "started it (root with --user), and again on HUP, so renewed files are used for new "
        "connections without a restart. A file that cannot be read, a key that does not "
        "match or a wrong password stops the start (exit 2). See docs/deploying.md, "
        "'TLS on the server itself'.",
    ),
    Setting(
        "keyfile", kinds.text("a file path"), ("--keyfile",), "FILE", _TLS,
        "The private key of --certfile, in PEM. Not set: the key is read from --certfile. "
        "It may be readable by root only: the master reads it before the workers switch "
        "user.",
    ),
    Setting(
        "keyfile_password", kinds.text("a password"), ("--keyfile-password",), "PASSWORD",
        _TLS,
        "The password of an encrypted --keyfile. Prefer the environment variable or the "
        "config file to the command line, which every local user can read in the process "
        "list. An encrypted key without it stops the start; there is never a prompt.",
    ),
    Setting(
        "ca_certs", kinds.text("a file path"), ("--ca-certs",), "FILE", _TLS,
        "The certificate authorities (PEM) that client certificates must chain to; "
        "needed by --cert-reqs optional or required.",
    ),
    Setting(
        "cert_reqs", kinds.cert_reqs(), ("--cert-reqs",), "WHEN", _TLS,
        "Client certificates: none (not asked for), optional (asked for; a client may send "
        "none, but one it sends must verify against --ca-certs) or required (a client "
        "without a valid one fails the handshake). gunicorn's 0, 1 and 2 mean the same. "
        "The application sees SSL_CLIENT_VERIFY, SSL_CLIENT_S_DN, SSL_CLIENT_CERT and the "
        "other variables listed in docs/deploying.md.",
    ),
    Setting(
        "ciphers", kinds.text("an OpenSSL cipher list"), ("--ciphers",), "CIPHERS", _TLS,
        "The cipher suites offered for TLS 1.2, in OpenSSL's cipher-list syntax (TLS 1.3 "
        "suites are OpenSSL's own and always offered). Not set: Python's default list "
        "(forward-secret AES-GCM and ChaCha20 first, no SHA-1, no RC4, no 3DES).",
    ),
    Setting(
        "ssl_min_version", kinds.tls_version(), ("--ssl-min-version",), "VERSION", _TLS,
        "The oldest TLS version a client may use: 1.2 or 1.3. TLS 1.0 and 1.1 are "
        "never accepted.",
    ),
    Setting(
        "forwarded_allow_ips", kinds.proxy_source(), ("--forwarded-allow-ips",), "ADDRESSES",
        _PROXY,
        "Comma-separated addresses and networks (10.0.0.0/8, fd00::/8) of the proxies whose "
        "--trusted-proxy-headers are believed; * trusts every peer. Only a trusted peer's "
        "headers change the environ (REMOTE_ADDR, wsgi.url_scheme, HTTP_HOST, SERVER_NAME, "
        "SERVER_PORT, SCRIPT_NAME) and the access log's client address; anyone else's are "
        "left in the environ untouched and never acted on. Connections on a Unix socket "
        "are always trusted, as gunicorn does: the socket file's permissions decide who may "
        "connect. An empty value trusts no TCP peer. See docs/deploying.md, 'Behind nginx'.",
        multiple=True, comma_list=True,
    ),
    Setting(
        "trusted_proxy_headers", kinds.choice(*PROXY_HEADER_NAMES),
        ("--trusted-proxy-headers",), "HEADERS", _PROXY,
        "Comma-separated proxy headers to believe from a trusted peer: forwarded (RFC 7239), "
        "x-forwarded-for, x-forwarded-proto, x-forwarded-host, x-forwarded-port, "
        "x-forwarded-prefix. forwarded cannot be combined with the X-Forwarded headers it "
        "replaces (all but x-forwarded-prefix). The client address is the right-most in "
        "the chain that is not a trusted proxy; only http and https are accepted as a "
        "scheme; a malformed value is ignored. An empty value believes none.",
        multiple=True, comma_list=True,
    ),
    Setting(
        "proxy_protocol", kinds.proxy_versions(), ("--proxy-protocol",), "VERSION", _PROXY,
        "off, v1, v2 or auto (the flag alone: auto), as gunicorn. Connections from "
        "--proxy-allow-from must begin with a PROXY protocol header of that version (auto: "
        "either; haproxy's send-proxy is v1, send-proxy-v2 is v2), read within "
        "--header-timeout; its client address becomes REMOTE_ADDR, the access log's and "
        "the one --forwarded-allow-ips is checked against. A missing, malformed or "
        "truncated header closes the connection with one log line. A v2 header whose SSL "
        "TLV says the client used TLS makes wsgi.url_scheme https. Off by default. See "
        "docs/deploying.md, 'haproxy with PROXY protocol'.",
        bare="auto",
    ),
    Setting(
        "proxy_allow_from", kinds.proxy_source(), ("--proxy-allow-from",), "ADDRESSES",
        _PROXY,
        "Comma-separated addresses and networks of the proxies that send a PROXY header "
        "(with --proxy-protocol); * for every peer. Other peers' connections are read as "
        "plain HTTP, so a PROXY header from them is a 400. Connections on a Unix socket "
        "are always expected to send one.",
        multiple=True, comma_list=True,
    ),
    Setting(
        "protocol", kinds.choice("http", "uwsgi"), ("--protocol",), "NAME", _PROXY,
        "What the listeners speak: http (HTTP/1.1), or uwsgi, the binary protocol of nginx's "
        "uwsgi_pass with the stock uwsgi_params, for a server coming from uWSGI (one request "
        "per connection; the environ is the variables nginx sends: REMOTE_ADDR is the "
        "client's, HTTPS or REQUEST_SCHEME the scheme; proxy headers are not read). "
        "Applies to every --bind. See docs/deploying.md, 'nginx with uwsgi_pass'.",
    ),
    Setting(
        "uwsgi_allow_ips", kinds.proxy_source(), ("--uwsgi-allow-from",), "ADDRESSES",
        _PROXY,
        "With --protocol uwsgi: comma-separated addresses and networks of the peers that may "
        "connect (a packet says who the client is, so only the front end may send one); * "
        "allows every peer. Anyone else is closed at once, with one log line. Connections on "
        "a Unix socket are always allowed: the socket file's permissions decide.",
        multiple=True, comma_list=True,
    ),
    Setting(
        "workers", kinds.integer(1), ("-w", "--workers"), "INT", _PROCESSES,
        "Worker processes. A master process binds the listeners, starts the workers, "
        "restarts any that die and handles the signals, even with -w 1 (see "
        "--single-process).",
    ),
    Setting(
        "single_process", kinds.boolean(), ("--single-process",), "", _PROCESSES,
        "Run without a master: this one process serves requests itself. Nothing restarts "
        "it, and HUP, TTIN, TTOU and USR2 do nothing. Requires -w 1 and no --reload.",
    ),
    Setting(
        "max_requests", kinds.integer(0), ("--max-requests",), "INT", _PROCESSES,
        "A worker that has answered this many requests stops gracefully and is replaced "
        "(a guard against slow leaks). 0 means never.",
    ),
    Setting(
        "max_requests_jitter", kinds.integer(0), ("--max-requests-jitter",), "INT",
        _PROCESSES,
        "Add a random 0..N to each worker's --max-requests, so workers do not all "
        "restart at once.",
    ),
    Setting(
        "preload", kinds.boolean(), ("--preload",), "", _PROCESSES,
        "Import the application in the master before starting workers (and freeze the "
        "garbage collector's view of it), so the workers share its memory copy-on-write "
        "and an import error stops the start at once. HUP then restarts workers with the "
        "code already loaded; use USR2 to load new code. With --user the import runs in the "
        "master, as root, before the workers switch user (as in gunicorn).",
    ),
    Setting(
        "reload", kinds.boolean(), ("--reload",), "", _PROCESSES,
        "Development: restart the workers when a .py file under the current directory "
        "(or --chdir, --pythonpath) changes. Uses watchfiles when installed "
        "(pip install pronghorn[reload]), else polls once a second.",
    ),
    Setting(
        "pid", kinds.text("a file path"), ("-p", "--pid"), "FILE", _PROCESSES,
        "Write the master's process id to this file, and remove it on exit. A USR2 "
        "upgrade rewrites it with the new master's id. The master writes it with mode 0644, "
        "as gunicorn does, owned by the user that started the server (root with --user).",
    ),
    Setting(
        "user", kinds.account("user"), ("-u", "--user"), "USER", _PRIVILEGES,
        "Workers run as this user (a name or a numeric id): the master, started as root, "
        "binds the listeners (port 80, a Unix socket) and each worker switches user after "
        "the fork, before it imports or serves the application; the master stays root. "
        "Without --group the workers take the user's primary group. Needs root (unless it "
        "is the user already running); an unknown user stops the start. The error and "
        "access log files are given to this user, as gunicorn does, so workers can reopen "
        "them on USR1. With --preload the application is imported by the master, as root.",
    ),
    Setting(
        "group", kinds.account("group"), ("-g", "--group"), "GROUP", _PRIVILEGES,
        "Workers run with this group (a name or a numeric id), which is also the group of "
        "a unix:PATH socket file. Needs root (unless it is the group already running); an "
        "unknown group stops the start.",
    ),
    Setting(
        "umask", kinds.umask(), ("-m", "--umask"), "MASK", _PRIVILEGES,
        "The file mode creation mask of the workers (files the application creates) and of "
        "a unix:PATH socket, which gets 0777 less it (--umask 007: 0770). Read as gunicorn "
        "does: 0o22, 022 (octal) or 18 (decimal). Not set: the processes keep the umask "
        "they were started with and the socket gets 0660.",
    ),
    Setting(
        "initgroups", kinds.boolean(), ("--initgroups",), "", _PRIVILEGES,
        "Give the workers the supplementary groups of --user (from the group database), "
        "as well as --group. Off: the workers have no supplementary groups (not even "
        "root's). Needs --user.",
    ),
    Setting(
        "threads", kinds.integer(1), ("--threads",), "INT", _WORKER,
        "Threads that serve requests: each runs the application for one request at a "
        "time, so this is how many application calls can be in flight (see "
        "docs/design.md, 'Concurrency model').",
    ),
    Setting(
        "worker_connections", kinds.integer(0), ("--worker-connections",), "INT", _WORKER,
        "The most connections one worker holds open at once; at the limit it stops "
        "accepting, and new connections wait in the kernel's backlog (--backlog) until one "
        "closes. 0 means no limit.",
    ),
    Setting(
        "timeout", kinds.seconds(zero_allowed=False), ("-t", "--timeout"), "SECONDS",
        _TIMEOUTS,
        "A worker whose clock stops beating, or whose application call runs, for "
        "longer than this is killed and replaced; first the log gets the request it was "
        "in and the Python stack of each of its threads.",
    ),
    Setting(
        "graceful_timeout", kinds.seconds(zero_allowed=True), ("--graceful-timeout",),
        "SECONDS", _TIMEOUTS,
        "On shutdown, how long the requests already received (running, or still queued "
        "for a free thread or in the listen backlog) may take before they are cut off.",
    ),
    Setting(
        "keep_alive", kinds.seconds(zero_allowed=True), ("--keep-alive",), "SECONDS",
        _TIMEOUTS,
        "How long an idle keep-alive connection is kept open; 0 closes after each response.",
    ),
    Setting(
        "header_timeout", kinds.seconds(zero_allowed=False), ("--header-timeout",), "SECONDS",
        _TIMEOUTS,
        "How long a client may take to send a complete request head. On a TLS listener "
        "it also bounds the handshake, counted from the moment the connection is accepted.",
    ),
    Setting(
        "io_timeout", kinds.seconds(zero_allowed=False), ("--io-timeout",), "SECONDS",
        _TIMEOUTS,
        "How long a read of the request body or a write of the response may stall.",
    ),
    Setting(
        "limit_request_line", kinds.integer(1), ("--limit-request-line",), "BYTES", _LIMITS,
        "The longest request line (method, target and version) accepted; longer gets 414.",
    ),
    Setting(
        "limit_request_fields", kinds.integer(1), ("--limit-request-fields",), "INT", _LIMITS,
        "The most header fields in one request; more gets 431.",
    ),
    Setting(
        "limit_request_field_size", kinds.integer(1), ("--limit-request-field-size",), "BYTES",
        _LIMITS,
        "The longest single header field (name and value) accepted; longer gets 431.",
    ),
    Setting(
        "limit_request_body", kinds.integer(0), ("--limit-request-body",), "BYTES", _LIMITS,
        "The largest request body accepted; larger gets 413. 0 means unlimited.",
    ),
    Setting(
        "body_buffer", kinds.integer(0), ("--body-buffer",), "BYTES", _LIMITS,
        "Request bodies up to this size are read whole by the event loop before the "
        "application runs, so a slow upload holds no thread; larger bodies, and bodies "
        "sent after 100 Continue, stream to the application as it reads. 0 streams all.",
    ),
    Setting(
        "root_path", kinds.url_prefix(), ("--root-path",), "PREFIX", _APP,
        "URL prefix the application is mounted under (SCRIPT_NAME), as when a proxy "
        "forwards /app/... here. Normalised to a leading slash and no trailing slash.",
    ),
    Setting(
        "access_logfile", kinds.text("a file path, or - for stdout"), ("--access-logfile",),
        "FILE", _LOGGING,
        "Write the access log here; - means stdout. Not set: no access log.",
    ),
    Setting(
        "access_logformat", kinds.text("combined, common, json or a format string"),
        ("--access-logformat",), "FORMAT", _LOGGING,
        "Access log line format: combined, common, json, or a string of gunicorn-style "
        "atoms such as '%(h)s \"%(r)s\" %(s)s %(L)s'.",
    ),
    Setting(
        "error_logfile", kinds.text("a file path, or - for stderr"),
        ("--error-logfile", "--log-file"), "FILE", _LOGGING,
        "Write the error log here; - means stderr. --log-file is gunicorn's other name for it.",
    ),
    Setting(
        "log_level", kinds.log_level(), ("--log-level",), "LEVEL", _LOGGING,
        "The least severe messages written. A bare LEVEL is pronghorn's error log "
        "(pronghorn.error), as gunicorn's; LOGGER=LEVEL sets any logger by name "
        "(pronghorn.access, myapp.db), after --log-config, so it wins over the file. "
        "Repeatable and comma-separated: --log-level info,myapp.db=debug. A logger's records "
        "go to its handlers or its parents' (the application's logging set-up, or "
        "--log-config's).",
        multiple=True, comma_list=True,
    ),
    Setting(
        "log_config", kinds.text("a file path"), ("--log-config", "--log-config-json"),
        "FILE", _LOGGING,
        "A Python logging configuration applied after pronghorn's own logging set-up, at "
        "start and on HUP: FILE.json or FILE.toml holds a logging.config.dictConfig "
        "dictionary, any other file is logging.config.fileConfig's ini format. Loggers it "
        "does not name keep pronghorn's handlers (disable_existing_loggers is false unless "
        "the file says otherwise). --log-config-json is gunicorn's name for it. See "
        "docs/observability.md.",
    ),
    Setting(
        "log_config_dict", kinds.json_object(), ("--log-config-dict",), "JSON", _LOGGING,
        "A logging.config.dictConfig dictionary, as --log-config's JSON file (a table in a "
        "config file, JSON on the command line). When both are given, this one is used "
        "and --log-config is not read, as in gunicorn.",
    ),
    Setting(
        "metrics_bind", kinds.tcp_address(), ("--metrics-bind",), "ADDRESS", _OBSERVE,
        "Serve Prometheus metrics at /metrics, and health at /livez and /readyz, on this "
        "HOST:PORT, a listener of their own (the master's: one scrape covers every worker, "
        "and counts survive worker restarts). Not set: no metrics listener. See "
        "docs/observability.md.",
    ),
    Setting(
        "metrics_allow_from", kinds.proxy_source(), ("--metrics-allow-from",), "ADDRESSES",
        _OBSERVE,
        "Comma-separated addresses and networks that may connect to --metrics-bind (as "
        "--forwarded-allow-ips; * allows everyone); anyone else gets 403.",
        multiple=True, comma_list=True,
    ),
    Setting(
        "statsd_host", kinds.tcp_address(), ("--statsd-host",), "ADDRESS", _OBSERVE,
        "Send gunicorn's statsd metrics (gunicorn.requests, gunicorn.request.duration, "
        "gunicorn.request.status.CODE, gunicorn.workers) over UDP to this HOST:PORT, once a "
        "second, never from the request path.",
    ),
    Setting(
        "statsd_prefix", kinds.text("a metric name prefix", empty_ok=True),
        ("--statsd-prefix",), "PREFIX", _OBSERVE,
        "Put this in front of every statsd metric name (a dot is added when it has none).",
    ),
    Setting(
        "liveness_path", kinds.url_path(), ("--liveness-path",), "PATH", _OBSERVE,
        "Answer GET PATH on the main listeners with 200 'live' before static mounts and "
        "the application see it (the query is ignored). Not set: nothing is answered.",
    ),
    Setting(
        "readiness_path", kinds.url_path(), ("--readiness-path",), "PATH", _OBSERVE,
        "Answer GET PATH on the main listeners with 200 'ready', or 503 once the server is "
        "stopping (from TERM on, through --shutdown-delay), before static mounts and the "
        "application see it. Not set: nothing is answered.",
    ),
    Setting(
        "shutdown_delay", kinds.seconds(zero_allowed=True), ("--shutdown-delay",), "SECONDS",
        _OBSERVE,
        "On TERM, first report not ready (503 on /readyz and --readiness-path) and go on "
        "serving for this long, so load balancers that probe readiness stop sending before "
        "the listening sockets close; then stop gracefully. A second TERM stops at once.",
    ),
    Setting(
        "static", kinds.static_mount(), ("--static",), "PREFIX=DIR", _STATIC,
        "Serve the files in DIR under the URL PREFIX (/=./public serves the root). "
        "Repeatable.",
        multiple=True,
    ),
    Setting(
        "static_fallthrough", kinds.boolean(), ("--static-fallthrough",), "", _STATIC,
        "When a static mount has no such file, pass the request to the application "
        "instead of answering 404.",
    ),
    Setting(
        "static_cache_control", kinds.text("a Cache-Control header value"),
        ("--static-cache-control",), "VALUE", _STATIC,
        "Cache-Control header sent with static files.",
    ),
    Setting(
        "static_immutable", kinds.boolean(), ("--static-immutable",), "", _STATIC,
        "Send static files whose name carries a content hash (a . or - then 8-64 hex digits "
        "before the extension, e.g. app.3f2a9c1e.js) with "
        "'public, max-age=31536000, immutable'.",
    ),
    Setting(
        "static_dotfiles", kinds.boolean(), ("--static-dotfiles",), "", _STATIC,
        "Serve names starting with a dot (e.g. /.well-known/) under static mounts.",
    ),
    Setting(
        "static_follow_symlinks", kinds.boolean(), ("--static-follow-symlinks",), "", _STATIC,
        "Follow symlinks that lead outside a static mount's directory.",
    ),
    Setting(
        "static_cache_entries", kinds.integer(0), ("--static-cache-entries",), "INT", _STATIC,
        "How many static files each worker remembers, so that serving one again costs a "
        "single stat instead of open, containment check and fstat (see "
        "docs/static-files.md, 'The open-file cache'). 0 turns the cache off, for file "
        "systems whose stat may be stale, such as NFS.",
    ),
    Setting(
        "static_cache_bytes", kinds.integer(0), ("--static-cache-bytes",), "BYTES", _STATIC,
        "How many bytes of small static files (up to 64 KiB each) each worker keeps in "
        "memory, so they are sent without reading the disk. 0 keeps none.",
    ),
    Setting(
        "config", kinds.text("a file path"), ("-c", "--config"), "FILE", _CONFIG,
        "Read settings from this file: TOML, or Python when the name ends in .py "
        "(gunicorn.conf.py files work; see below). Default: pronghorn.toml in the current "
        "directory, if there is one.",
        in_file=False,
    ),
    # Coming from gunicorn: its settings of the same meaning (docs/gunicorn.md).
    Setting(
        "raw_env", kinds.env_assignment(), ("-e", "--env"), "KEY=VALUE", _APP,
        "Set this environment variable in the master before the application is loaded, so "
        "the application and the workers see it (in a Python config file: raw_env, a list, "
        "as gunicorn). Repeatable. A reload (HUP) sets the values the config gives then.",
        multiple=True,
    ),
    Setting(
        "capture_output", kinds.boolean(), ("--capture-output",), "", _LOGGING,
        "Send the standard output and error of the application (and of every process of "
        "the server: print(), warnings, a crash's traceback) to the --error-logfile file, "
        "as gunicorn does; a USR1 reopen follows the file. Nothing changes when the error "
        "log is - (stderr).",
    ),
    Setting(
        "proc_name", kinds.text("a name"), ("-n", "--proc-name", "--name"), "NAME", _PROCESSES,
        "The name in the process titles ps and top show: 'pronghorn: master [NAME]', "
        "'pronghorn: worker [NAME]'. Not set: APP. Needs setproctitle "
        "(pip install pronghorn[setproctitle]); without it a warning says so.",
    ),
)  # fmt: skip

BY_NAME = MappingProxyType({setting.name: setting for setting in SETTINGS})


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """Return ' (did you mean X?)' for the closest candidate, or '' when none is close."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {matches[0]}?)" if matches else ""
