"""What pronghorn does with each of gunicorn's settings and signals.

Owns: `GUNICORN_SETTINGS`, one entry for every setting in gunicorn's own list
(`gunicorn.config.KNOWN_SETTINGS`: its name, section and command-line flags) with pronghorn's
answer, and `GUNICORN_SIGNALS`, the same for the signals gunicorn's master obeys. An answer
is one of: the same setting (pronghorn accepts gunicorn's name in a Python config file and
gunicorn's flags on the command line), a server hook, a command switch, another setting that
does the job in another shape (named in the error), not yet (with the issue that brings it),
or none, with the reason. The command line (`arguments`), Python config files (`pyfile`)
and docs/gunicorn.md (`gunicorn_docs`) all read these tables; a test compares them with
gunicorn's own list, so a gunicorn option can never meet a "did you mean" that points
elsewhere.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from types import MappingProxyType

from pronghorn.config.registry import BY_NAME

GUNICORN_VERSION = "27.0.1"
"""The gunicorn whose settings these tables answer (the test extra pins it)."""


class Answer(enum.Enum):
    """What pronghorn does with one gunicorn setting."""

    SAME = "same"
    """Setting `target` means the same; gunicorn's name and flags are accepted for it."""
    HOOK = "hook"
    """A server hook pronghorn calls with gunicorn's arguments."""
    COMMAND = "command"
    """A command-line switch of pronghorn (`target`), not a setting."""
    INSTEAD = "instead"
    """No alias: setting `target` does the job in another shape; the error names it."""
    LATER = "later"
    """Not yet: the issue `target` (a number) brings it."""
    NONE = "none"
    """No equivalent; `note` says why."""


@dataclass(frozen=True, slots=True)
class GunicornSetting:
    """One gunicorn setting and pronghorn's answer to it."""

    name: str
    section: str
    flags: tuple[str, ...]
    answer: Answer
    target: str = ""
    note: str = ""
    refuse: bool = False
    """In a Python config file, a value that asks for something stops the start (ignoring it
    would serve something other than what the file asks, unsafely); otherwise it is a warning."""
    inert: tuple[object, ...] = ()
    """Values that ask for nothing pronghorn does not do already (besides None, False and
    empty values), so a file giving them is read silently: mostly gunicorn's defaults."""

    def asks_for_something(self, value: object) -> bool:
        """Whether a config-file `value` asks for more than nothing."""
        # True must not pass for an inert 1, nor 1 for an inert True.
        if any(_same_value(value, inert) for inert in self.inert):
            return False
        if any(type(inert) is type(value) for inert in self.inert):
            return True  # another value of the kind of the default: False when it is True
        try:
            return bool(value)  # None, False, 0, "" and empty containers ask for nothing
        except Exception:  # a value without a truth value (an array) asks for something
            return True

    def key_message(self) -> str:
        """What a TOML config file that uses this gunicorn name is told."""
        if self.answer is Answer.SAME:
            key = BY_NAME[self.target].file_key
            return f"gunicorn's name for {key!r}, the key pronghorn reads"
        return f"gunicorn's {self.name}: {self.why_not()}"

    def why_not(self) -> str:
        """Why pronghorn does not take this setting as given (not for SAME)."""
        if self.answer is Answer.INSTEAD:
            return f"use {pronghorn_flag(self.target)} instead: {self.note}"
        if self.answer is Answer.LATER:
            return f"not in pronghorn yet: {self.note}"
        if self.answer is Answer.COMMAND:
            return f"{self.target} is a command-line switch of pronghorn, not a setting"
        return f"pronghorn has no equivalent: {self.note}"


def pronghorn_flag(name: str) -> str:
    """The long option of pronghorn's setting `name`."""
    setting = BY_NAME[name]
    return setting.long_option if setting.flags else setting.metavar


def _same_value(value: object, inert: object) -> bool:
    return isinstance(value, bool) == isinstance(inert, bool) and value == inert


def _section(section: str, *entries: GunicornSetting) -> tuple[GunicornSetting, ...]:
    return tuple(replace(entry, section=section) for entry in entries)


def same(
    name: str,
    flags: tuple[str, ...],
    target: str = "",
    note: str = "",
    *,
    refuse: bool = False,
    inert: tuple[object, ...] = (),
) -> GunicornSetting:
    """`target` (default: the same name) means the same."""
    return GunicornSetting(name, "", flags, Answer.SAME, target or name, note, refuse, inert)


def hook(name: str, note: str) -> GunicornSetting:
    """A server hook pronghorn calls; `note` gives its arguments."""
    return GunicornSetting(name, "", (), Answer.HOOK, name, note)


def command(name: str, flag: str, note: str) -> GunicornSetting:
    """A command switch of pronghorn's."""
    return GunicornSetting(name, "", (flag,), Answer.COMMAND, flag, note)


def instead(
    name: str,
    flags: tuple[str, ...],
    target: str,
    note: str,
    *,
    refuse: bool = False,
    inert: tuple[object, ...] = (),
) -> GunicornSetting:
    """Setting `target` does the job in another shape."""
    return GunicornSetting(name, "", flags, Answer.INSTEAD, target, note, refuse, inert)


def later(
    name: str, flags: tuple[str, ...], issue: int, note: str, *, refuse: bool = False
) -> GunicornSetting:
    """Not yet: issue `issue` brings it."""
    return GunicornSetting(name, "", flags, Answer.LATER, str(issue), note, refuse)


def none(
    name: str,
    flags: tuple[str, ...],
    note: str,
    *,
    refuse: bool = False,
    inert: tuple[object, ...] = (),
) -> GunicornSetting:
    """No equivalent, because `note`."""
    return GunicornSetting(name, "", flags, Answer.NONE, "", note, refuse, inert)


_TLS = "TLS on the server itself (docs/deploying.md, 'TLS on the server itself')"
_PROXY_PROTOCOL = "the PROXY protocol v1 and v2, from the peers of --proxy-allow-from"
_UWSGI = "the uwsgi protocol of nginx's uwsgi_pass"
_STATSD = "gunicorn's statsd metric names (docs/observability.md)"
_NO_SYSLOG = (
    "pronghorn does not write to syslog itself: it logs to stderr by default, which "
    "systemd-journald or the container runtime collects (and can forward to syslog)"
)
_NO_DIRTY = (
    "gunicorn's dirty arbiters (a separate pool of processes for long blocking work) have "
    "no counterpart; run such work in a task queue, or give it threads (--threads)"
)
_NO_HTTP2 = "pronghorn speaks HTTP/1.1; put a proxy that speaks HTTP/2 (nginx) in front"
_NO_ASGI = "pronghorn serves WSGI applications only"
_NO_CONTROL = "pronghorn has no control socket: it is driven by signals (see the signal table)"

GUNICORN_SETTINGS: tuple[GunicornSetting, ...] = (
    *_section(
        "Config File",
        same("config", ("-c", "--config"), note=(
            "a TOML file, or Python when the name ends in .py (a gunicorn.conf.py works). "
            "Without -c, ./pronghorn.toml is read, else ./gunicorn.conf.py, as gunicorn does; "
            "gunicorn's python:MODULE form is not read"
        )),
        same("wsgi_app", (), "app", note="the APP argument (app in a config file)"),
    ),
    *_section(
        "Server Socket",
        same("bind", ("-b", "--bind"), note=(
            "HOST:PORT, [IPV6]:PORT, unix:PATH and fd://N as gunicorn; a unix socket gets "
            "mode 0660 (0777 less --umask when given)"
        )),
        same("backlog", ("--backlog",)),
    ),
    *_section(
        "Worker Processes",
        same("workers", ("-w", "--workers"), note=(
            "gunicorn's default reads WEB_CONCURRENCY; pronghorn's is 1 (PRONGHORN_WORKERS "
            "sets it from the environment)"
        )),
        instead("worker_class", ("-k", "--worker-class"), "threads", (
            "pronghorn has one worker model: each worker process serves requests on "
            "--threads threads (default 4) around one event loop, so slow clients hold no "
            "thread; --threads 1 runs one request at a time, like sync. There is no gevent, "
            "eventlet, tornado or ASGI worker"
        )),
        same("threads", ("--threads",), note=(
            "default 4 (gunicorn: 1): check that the application is thread-safe, or "
            "give --threads 1"
        )),
        same("worker_connections", ("--worker-connections",), note=(
            "the most connections one worker holds open (gunicorn applies it to gthread "
            "and gevent only)"
        )),
        same("max_requests", ("--max-requests",)),
        same("max_requests_jitter", ("--max-requests-jitter",)),
        same("timeout", ("-t", "--timeout"), note=(
            "a worker whose heartbeat stops, or that is inside one request, for longer is "
            "killed; its stacks and request are logged first"
        )),
        same("graceful_timeout", ("--graceful-timeout",)),
        same("keepalive", ("--keep-alive",), "keep_alive", note="default 5 s (gunicorn: 2 s)"),
        none("asgi_loop", ("--asgi-loop",), _NO_ASGI, inert=("auto",)),
        none("asgi_lifespan", ("--asgi-lifespan",), _NO_ASGI, inert=("auto",)),
        none("asgi_disconnect_grace_period", ("--asgi-disconnect-grace-period",), _NO_ASGI,
             inert=(3,)),
        none("websocket_max_message_size", ("--websocket-max-message-size",), (
            "pronghorn serves WSGI, which has no WebSockets"
        ), inert=(16777216,)),
        none("http_parser", ("--http-parser",), (
            "pronghorn has one parser: it frames every message itself and has httptools "
            "(llhttp) tokenise heads (see docs/design.md)"
        ), inert=("auto",)),
    ),
    *_section(
        "Security",
        same("limit_request_line", ("--limit-request-line",), note=(
            "default 8190 (gunicorn: 4094); gunicorn's 0 (unlimited) is not accepted"
        )),
        same("limit_request_fields", ("--limit-request-fields",)),
        same("limit_request_field_size", ("--limit-request-field_size",), note=(
            "pronghorn spells the flag --limit-request-field-size; gunicorn's spelling "
            "is accepted too"
        )),
    ),
    *_section(
        "Debugging",
        same("reload", ("--reload",)),
        none("reload_engine", ("--reload-engine",), (
            "--reload uses watchfiles when it is installed (pronghorn[reload]), else polls "
            "once a second: there is no engine to choose"
        ), inert=("auto",)),
        none("reload_extra_files", ("--reload-extra-file",), (
            "--reload watches the .py files under the working directory, --chdir and "
            "--pythonpath; other files are not watched (send HUP to reload)"
        )),
        none("spew", ("--spew",), (
            "no line tracer is built in; run the application under a debugger or "
            "`python -m trace` instead"
        )),
        command("check_config", "--check-config", (
            "load the configuration, import the application, exit"
        )),
        command("print_config", "--print-config", "print every effective setting, exit"),
    ),
    *_section(
        "Server Mechanics",
        same("preload_app", ("--preload",), "preload"),
        none("sendfile", ("--no-sendfile",), (
            "pronghorn always sends static files and wsgi.file_wrapper bodies with "
            "sendfile where the socket allows it"
        )),
        same("reuse_port", ("--reuse-port",), note=(
            "each worker binds its own SO_REUSEPORT socket and the kernel spreads "
            "connections across them"
        )),
        same("chdir", ("--chdir",)),
        none("daemon", ("-D", "--daemon"), (
            "pronghorn does not detach from its terminal; run it under systemd, a container "
            "runtime or another supervisor (see docs/deploying.md)"
        ), refuse=True),
        same("raw_env", ("-e", "--env")),
        same("pidfile", ("-p", "--pid"), "pid"),
        none("worker_tmp_dir", ("--worker-tmp-dir",), (
            "workers do not beat through a file: the heartbeat is memory shared with the "
            "master, so there is no directory to choose"
        )),
        same("user", ("-u", "--user"), note="an unknown user, or one that cannot be "
             "switched to, stops the start"),
        same("group", ("-g", "--group")),
        same("umask", ("-m", "--umask"), note=(
            "not set: the processes keep the umask they were started with"
        )),
        same("initgroups", ("--initgroups",)),
        instead("tmp_upload_dir", (), "body_buffer", (
            "request bodies are never written to disk: up to --body-buffer they are held "
            "in memory before the application runs, larger ones stream to it"
        )),
        instead("secure_scheme_headers", (), "trusted_proxy_headers", (
            "name the headers to believe (x-forwarded-proto, forwarded, ...) from the "
            "peers of --forwarded-allow-ips; X-Forwarded-Proto is believed by default"
        ), refuse=True, inert=(
            {"X-FORWARDED-PROTOCOL": "ssl", "X-FORWARDED-PROTO": "https", "X-FORWARDED-SSL": "on"},
        )),
        same("forwarded_allow_ips", ("--forwarded-allow-ips",), note=(
            "addresses and networks; * trusts everyone; Unix-socket peers are trusted"
        )),
        same("pythonpath", ("--pythonpath",)),
        none("paste", ("--paste", "--paster"), (
            "run PasteDeploy files with PasteDeploy's own runner: `pserve development.ini` "
            "with `use = egg:pronghorn` in its [server:main] section"
        )),
        same("proxy_protocol", ("--proxy-protocol",), note=_PROXY_PROTOCOL),
        same("proxy_allow_ips", ("--proxy-allow-from",), "proxy_allow_from",
             note=_PROXY_PROTOCOL),
        same("protocol", ("--protocol",), note=_UWSGI),
        same("uwsgi_allow_ips", ("--uwsgi-allow-from",), note=_UWSGI),
        none("raw_paste_global_conf", ("--paste-global",), (
            "PasteDeploy files are run by `pserve`, which takes global values itself"
        )),
        none("permit_obsolete_folding", ("--permit-obsolete-folding",), (
            "a header line folded onto the next (obs-fold) is always refused with 400 "
            "(RFC 9112, section 5.2)"
        )),
        none("strip_header_spaces", ("--strip-header-spaces",), (
            "whitespace between a field name and its colon is always refused with 400 "
            "(RFC 9112, section 5.1): stripping it is a request smuggling risk"
        )),
        none("permit_unconventional_http_method", ("--permit-unconventional-http-method",), (
            "pronghorn already accepts any method that is an HTTP token, as sent, and "
            "leaves the answer (405, 501) to the application"
        )),
        none("permit_unconventional_http_version", ("--permit-unconventional-http-version",), (
            "HTTP/1.x is served as HTTP/1.1 (RFC 9110) and other versions get 505; "
            "malformed versions get 400"
        )),
        none("casefold_http_method", ("--casefold-http-method",), (
            "methods are case-sensitive (RFC 9110, section 9.1): the application gets "
            "the method as sent"
        )),
        instead("forwarder_headers", ("--forwarder-headers",), "trusted_proxy_headers", (
            "a trusted proxy's X-Forwarded-Prefix (in --trusted-proxy-headers) sets "
            "SCRIPT_NAME; other headers never become CGI variables such as REMOTE_USER"
        ), inert=("SCRIPT_NAME,PATH_INFO",)),
        none("header_map", ("--header-map",), (
            "header names with an underscore are always dropped, which is gunicorn's "
            "default (drop)"
        ), inert=("drop",)),
        same("root_path", ("--root-path",), note=(
            "sets SCRIPT_NAME for the WSGI application (gunicorn's applies to ASGI only)"
        )),
    ),
    *_section(
        "Logging",
        same("accesslog", ("--access-logfile",), "access_logfile"),
        none("disable_redirect_access_to_syslog", ("--disable-redirect-access-to-syslog",),
             _NO_SYSLOG),
        same("access_log_format", ("--access-logformat",), "access_logformat", note=(
            "gunicorn's atoms; the default, combined, is gunicorn's default format"
        )),
        same("errorlog", ("--error-logfile", "--log-file"), "error_logfile"),
        same("loglevel", ("--log-level",), "log_level"),
        same("capture_output", ("--capture-output",)),
        none("logger_class", ("--logger-class",), (
            "the error log is the standard logger pronghorn.error and the access log "
            "pronghorn.access: add handlers to them (for example in a post_worker_init "
            "hook) instead of replacing the class"
        ), inert=("gunicorn.glogging.Logger",)),
        same("logconfig", ("--log-config",), "log_config", note=(
            "an ini file for logging.config.fileConfig; a .json or .toml file is read as a "
            "dictConfig dictionary"
        )),
        same("logconfig_dict", (), "log_config_dict", note=(
            "merged over pronghorn's own logging set-up, as gunicorn merges it over its "
            "defaults; JSON on the command line (--log-config-dict)"
        )),
        same("logconfig_json", ("--log-config-json",), "log_config", note=(
            "another name for --log-config, which reads a JSON dictConfig file"
        )),
        none("syslog_addr", ("--log-syslog-to",), _NO_SYSLOG, inert=("udp://localhost:514",)),
        none("syslog", ("--log-syslog",), _NO_SYSLOG),
        none("syslog_prefix", ("--log-syslog-prefix",), _NO_SYSLOG),
        none("syslog_facility", ("--log-syslog-facility",), _NO_SYSLOG, inert=("user",)),
        none("enable_stdio_inheritance", ("-R", "--enable-stdio-inheritance"), (
            "it only matters with --daemon, which pronghorn does not have: stdout and "
            "stderr are always the ones pronghorn was started with"
        )),
        same("statsd_host", ("--statsd-host",), note=_STATSD),
        none("dogstatsd_tags", ("--dogstatsd-tags",), (
            "statsd metrics go out without DogStatsD tags; --metrics-bind serves labelled "
            "Prometheus metrics"
        )),
        same("statsd_prefix", ("--statsd-prefix",), note=_STATSD),
        instead("enable_backlog_metric", ("--enable-backlog-metric",), "metrics_bind", (
            "the listen queue is pronghorn_listen_queue on the metrics listener"
        )),
    ),
    *_section(
        "Process Naming",
        same("proc_name", ("-n", "--name"), note=(
            "needs setproctitle (pip install pronghorn[setproctitle])"
        )),
        none("default_proc_name", (), (
            "without --proc-name the process titles name APP (or 'static')"
        ), inert=("gunicorn",)),
    ),
    *_section(
        "Server Hooks",
        hook("on_starting", "on_starting(server)"),
        hook("on_reload", "on_reload(server)"),
        hook("when_ready", "when_ready(server)"),
        hook("pre_fork", "pre_fork(server, worker); worker.pid is 0"),
        hook("post_fork", "post_fork(server, worker)"),
        hook("post_worker_init", "post_worker_init(worker)"),
        none("worker_int", (), (
            "a worker runs no Python code on INT or QUIT: INT is a graceful stop "
            "(worker_exit is called), QUIT exits at once"
        )),
        none("worker_abort", (), (
            "a worker past --timeout is not sent SIGABRT: the master has it write its "
            "stacks and request to the error log, then kills it"
        )),
        hook("pre_exec", "pre_exec(server), before USR2 starts a new master"),
        hook("pre_request", (
            "pre_request(worker, req), on the request's thread, also for static files; req "
            "has method, uri, path, query, version, headers [(NAME, value)], remote_addr"
        )),
        hook("post_request", (
            "post_request(worker, req, environ, resp) (or its first two or three), with "
            "the same req; environ is {} for a static file; resp has status, status_code, "
            "headers and sent (body bytes)"
        )),
        hook("child_exit", "child_exit(server, worker), in the master"),
        hook("worker_exit", "worker_exit(server, worker), in the worker"),
        hook("nworkers_changed", "nworkers_changed(server, new_value, old_value)"),
        hook("on_exit", "on_exit(server)"),
        none("ssl_context", (), (
            "the context is built from --certfile, --keyfile, --ca-certs, --cert-reqs, "
            "--ciphers and --ssl-min-version, in the master, and again on HUP"
        ), refuse=True),
    ),
    *_section(
        "SSL",
        same("keyfile", ("--keyfile",), note=_TLS),
        same("certfile", ("--certfile",), note=_TLS),
        instead("ssl_version", ("--ssl-version",), "ssl_min_version", (
            "the oldest TLS version accepted, 1.2 (default) or 1.3; older ones are refused"
        ), inert=(2,)),
        same("cert_reqs", ("--cert-reqs",), note=_TLS),
        same("ca_certs", ("--ca-certs",), note=_TLS),
        none("suppress_ragged_eofs", ("--suppress-ragged-eofs",), (
            "a client that closes without a TLS close_notify is treated as closed, always"
        ), inert=(True,)),
        none("do_handshake_on_connect", ("--do-handshake-on-connect",), (
            "handshakes are always non-blocking steps driven by the event loop, within "
            "--header-timeout"
        )),
        same("ciphers", ("--ciphers",), note=_TLS),
    ),
    *_section(
        "HTTP/2",
        none("http_protocols", ("--http-protocols",), _NO_HTTP2, inert=("h1",)),
        none("http2_cleartext", ("--http2-cleartext",), _NO_HTTP2, inert=("off",)),
        none("http2_max_concurrent_streams", ("--http2-max-concurrent-streams",), _NO_HTTP2,
             inert=(100,)),
        none("http2_initial_window_size", ("--http2-initial-window-size",), _NO_HTTP2,
             inert=(65535,)),
        none("http2_max_frame_size", ("--http2-max-frame-size",), _NO_HTTP2, inert=(16384,)),
        none("http2_max_header_list_size", ("--http2-max-header-list-size",), _NO_HTTP2,
             inert=(65536,)),
    ),
    *_section(
        "Dirty Arbiters",
        none("dirty_apps", ("--dirty-app",), _NO_DIRTY),
        none("dirty_workers", ("--dirty-workers",), _NO_DIRTY),
        none("dirty_timeout", ("--dirty-timeout",), _NO_DIRTY, inert=(300,)),
        none("dirty_threads", ("--dirty-threads",), _NO_DIRTY, inert=(1,)),
        none("dirty_graceful_timeout", ("--dirty-graceful-timeout",), _NO_DIRTY, inert=(30,)),
    ),
    *_section(
        "Dirty Arbiter Hooks",
        none("on_dirty_starting", (), _NO_DIRTY),
        none("dirty_post_fork", (), _NO_DIRTY),
        none("dirty_worker_init", (), _NO_DIRTY),
        none("dirty_worker_exit", (), _NO_DIRTY),
    ),
    *_section(
        "Control",
        none("control_socket", ("--control-socket",), _NO_CONTROL),
        none("control_socket_mode", ("--control-socket-mode",), _NO_CONTROL, inert=(0o600,)),
        none("control_socket_disable", ("--no-control-socket",), (
            "there is no control socket to turn off"
        )),
    ),
)  # fmt: skip

BY_GUNICORN_NAME = MappingProxyType({entry.name: entry for entry in GUNICORN_SETTINGS})
BY_GUNICORN_FLAG = MappingProxyType(
    {flag: entry for entry in GUNICORN_SETTINGS for flag in entry.flags}
)


@dataclass(frozen=True, slots=True)
class GunicornSignal:
    """One signal gunicorn's master obeys, and what pronghorn's master does with it."""

    name: str
    gunicorn: str
    pronghorn: str
    same: bool


GUNICORN_SIGNALS: tuple[GunicornSignal, ...] = (
    GunicornSignal("TERM", "graceful shutdown", (
        "the same: no new connection; requests already received, also those still in the "
        "listen backlog, are answered for up to --graceful-timeout; exit 0"
    ), True),
    GunicornSignal("INT", "quick shutdown", "the same: workers exit at once", True),
    GunicornSignal("QUIT", "quick shutdown", "the same: workers exit at once", True),
    GunicornSignal("HUP", (
        "reload the configuration, start new workers, stop the old ones gracefully"
    ), (
        "the same; the old workers stop only once every new one serves, and with "
        "--preload the code already loaded is reused (use USR2 for new code)"
    ), True),
    GunicornSignal("USR1", "reopen the log files", (
        "the same, in the master and every worker"
    ), True),
    GunicornSignal("USR2", (
        "start a new master (new code) beside the old one; you then stop the old one "
        "(WINCH, then TERM)"
    ), (
        "the same, and the new master stops the old one itself once its workers serve, "
        "taking over the --pid file (and systemd's MAINPID)"
    ), True),
    GunicornSignal("WINCH", "stop the workers gracefully (only when daemonized)", (
        "ignored: pronghorn does not daemonize, and after USR2 the new master retires "
        "the old one itself"
    ), False),
    GunicornSignal("TTIN", "one worker more", "the same", True),
    GunicornSignal("TTOU", "one worker fewer", "the same (never fewer than 1)", True),
)  # fmt: skip
