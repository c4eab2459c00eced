"""The typed, frozen `Config` value that every layer reads.

Owns: the fields and their defaults. It does not parse anything: the settings registry
(`pronghorn.config.registry`) declares how each field is read from the command line, the
environment and a config file, and builds a `Config` from them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

HOOK_NAMES = (
    "on_starting",
    "on_reload",
    "when_ready",
    "pre_fork",
    "post_fork",
    "post_worker_init",
    "worker_exit",
    "child_exit",
    "nworkers_changed",
    "pre_exec",
    "on_exit",
    "pre_request",
    "post_request",
)
"""The server hooks a Python config file may define, under gunicorn's names and signatures."""


PROXY_HEADER_NAMES = (
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-prefix",
)
"""The proxy headers `--trusted-proxy-headers` may name (RFC 7239 `Forwarded`, and the
de facto `X-Forwarded-*`); what each changes in the environ is `pronghorn.wsgi.proxies`."""

FORWARDED_EXCLUDES = frozenset(
    {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port"}
)
"""Headers that say what `Forwarded` says: trusting both would give two answers to one
question, so a config naming `forwarded` and any of these is refused."""


@dataclass(frozen=True, slots=True)
class StaticMount:
    """One `--static PREFIX=DIR` mount: URL prefix (no trailing slash, "" for "/") and directory."""

    prefix: str
    directory: str


@dataclass(frozen=True, slots=True)
class FileExtras:
    """What a Python config file gives besides settings: hook functions (by name, from
    `HOOK_NAMES`) and warnings about the names in it that pronghorn ignores."""

    hooks: tuple[tuple[str, Callable[..., object]], ...] = ()
    warnings: tuple[str, ...] = ()

    def hook(self, name: str) -> Callable[..., object] | None:
        """The hook called `name`, or None when the file defines none."""
        return next((function for key, function in self.hooks if key == name), None)


@dataclass(frozen=True, slots=True)
class Config:
    """Every setting pronghorn knows, already validated. Building one has no side effects."""

    app: str | None = None
    bind: tuple[str, ...] = ("127.0.0.1:8000",)
    chdir: str | None = None
    pythonpath: tuple[str, ...] = ()
    threads: int = 4
    worker_connections: int = 1000
    workers: int = 1
    single_process: bool = False
    reuse_port: bool = False
    defer_accept: bool = True
    max_requests: int = 0
    max_requests_jitter: int = 0
    preload: bool = False
    reload: bool = False
    pid: str | None = None
    user: str | None = None
    group: str | None = None
    umask: int | None = None
    initgroups: bool = False
    timeout: float = 30.0
    graceful_timeout: float = 30.0
    keep_alive: float = 5.0
    header_timeout: float = 10.0
    io_timeout: float = 30.0
    backlog: int = 2048
    limit_request_line: int = 8190
    limit_request_fields: int = 100
    limit_request_field_size: int = 8190
    limit_request_body: int = 0
    body_buffer: int = 256 * 1024
    root_path: str = ""
    certfile: str | None = None
    keyfile: str | None = None
    keyfile_password: str | None = None
    ca_certs: str | None = None
    cert_reqs: str = "none"
    ciphers: str | None = None
    ssl_min_version: str = "1.2"
    forwarded_allow_ips: tuple[str, ...] = ("127.0.0.1", "::1")
    trusted_proxy_headers: tuple[str, ...] = ("x-forwarded-for", "x-forwarded-proto")
    proxy_protocol: str = "off"
    proxy_allow_from: tuple[str, ...] = ("127.0.0.1", "::1")
    protocol: str = "http"
    uwsgi_allow_ips: tuple[str, ...] = ("127.0.0.1", "::1")
    access_logfile: str | None = None
    access_logformat: str = "combined"
    error_logfile: str = "-"
    log_level: tuple[str, ...] = ("info",)
    """`level` for pronghorn's error log and `logger=level` items (config.kinds.log_level)."""
    log_config: str | None = None
    log_config_dict: Mapping[str, object] | None = None
    # Metrics and health (pronghorn.metrics)
    metrics_bind: str | None = None
    metrics_allow_from: tuple[str, ...] = ("127.0.0.1", "::1")
    statsd_host: str | None = None
    statsd_prefix: str = ""
    liveness_path: str | None = None
    readiness_path: str | None = None
    shutdown_delay: float = 0.0
    static: tuple[StaticMount, ...] = field(default_factory=tuple)
    static_fallthrough: bool = False
    static_cache_control: str = "public, max-age=0, must-revalidate"
    static_immutable: bool = False
    static_dotfiles: bool = False
    static_follow_symlinks: bool = False
    static_cache_entries: int = 1024
    static_cache_bytes: int = 8 * 1024 * 1024
    # Coming from gunicorn (docs/gunicorn.md).
    raw_env: tuple[str, ...] = ()
    capture_output: bool = False
    proc_name: str | None = None
    config: str | None = None
    """The config file these settings were read from, if any (kept so a reload can re-read it)."""
    extras: FileExtras = field(default_factory=FileExtras)
    """Hooks and warnings from a Python config file; not a setting (no flag, no variable)."""
