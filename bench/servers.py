"""The servers under test: one command line per (server, scenario), and whether it can run here.

Every server runs ONE worker process (the harness pins it to CPU 0). Peers come from
bench/.venv-peers; pronghorn from the project venv (.venv/bin/pronghorn, the pure build) and
pronghorn-compiled from .venv-compiled (`make compiled`); nginx from the system.
Rows whose `peer` is False (pronghorn) are left out when the "best peer" is chosen.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scenarios import APPS_DIR, BENCH_DIR, Scenario

REPO_DIR = BENCH_DIR.parent
PEERS_VENV = BENCH_DIR / ".venv-peers"
PEERS_BIN = PEERS_VENV / "bin"
PRONGHORN = REPO_DIR / ".venv" / "bin" / "pronghorn"
# The compiled build, installed from a wheel by `make compiled` (Makefile, docs/design.md).
PRONGHORN_COMPILED = REPO_DIR / ".venv-compiled" / "bin" / "pronghorn"
RUNNERS_DIR = BENCH_DIR / "runners"


@dataclass(frozen=True)
class Context:
    """Where things are for one benchmark run."""

    host: str
    static_dir: Path  # generated files, served at /static/
    work_dir: Path  # scratch: logs, nginx.conf, nginx temp paths

    @property
    def cert(self) -> Path:
        """The certificate of TLS scenarios (made by the harness, see run.make_certificate)."""
        return self.work_dir / "cert.pem"

    @property
    def key(self) -> Path:
        return self.work_dir / "key.pem"


ArgvFn = Callable[[Context, Scenario, int], list[str]]


@dataclass(frozen=True)
class ServerSpec:
    name: str
    kinds: frozenset[str]  # scenario kinds served: "wsgi", "static"
    peer: bool
    requires: tuple[Path, ...]  # files that must exist for the row to be available
    argv: ArgvFn
    package: str = ""  # distribution that must be installed in bench/.venv-peers
    stop_signal: signal.Signals = signal.SIGTERM  # first signal sent to stop it
    tls: bool = False  # its argv serves TLS scenarios (with the harness's certificate)
    default: bool = True  # run when --servers is not given

    def serves(self, scenario: Scenario) -> bool:
        return scenario.kind in self.kinds and (self.tls or not scenario.tls)

    def missing(self, installed: frozenset[str]) -> str:
        """Why this server cannot run here, or "" if it can (installed: peer distributions)."""
        if self.package and self.package not in installed:
            return f"{self.package} is not installed in {PEERS_VENV.name}"
        for path in self.requires:
            if not path.exists():
                return f"{path} not found"
        return ""


def _bind(ctx: Context, port: int) -> str:
    return f"{ctx.host}:{port}"


def _gunicorn(extra: list[str]) -> ArgvFn:
    def argv(ctx: Context, scenario: Scenario, port: int) -> list[str]:
        tls = ["--certfile", str(ctx.cert), "--keyfile", str(ctx.key)] if scenario.tls else []
        return [
            str(PEERS_BIN / "gunicorn"),
            *("-w", "1", "-b", _bind(ctx, port), "--chdir", str(APPS_DIR)),
            *("--graceful-timeout", "2", *tls, *extra, scenario.target),
        ]

    return argv


def _waitress(ctx: Context, scenario: Scenario, port: int) -> list[str]:
    listen = f"--listen={_bind(ctx, port)}"
    return [str(PEERS_BIN / "waitress-serve"), listen, "--threads=4", scenario.target]


def _granian(ctx: Context, scenario: Scenario, port: int) -> list[str]:
    return [
        str(PEERS_BIN / "granian"),
        *("--interface", "wsgi", "--workers", "1", "--no-access-log"),
        *("--host", ctx.host, "--port", str(port), "--working-dir", str(APPS_DIR)),
        *(["--ssl-certificate", str(ctx.cert), "--ssl-keyfile", str(ctx.key)] if scenario.tls
          else []),
        scenario.target,
    ]  # fmt: skip


def _runner(script: str) -> ArgvFn:
    def argv(ctx: Context, scenario: Scenario, port: int) -> list[str]:
        runner = str(RUNNERS_DIR / script)
        return [str(PEERS_BIN / "python"), runner, scenario.target, ctx.host, str(port)]

    return argv


def _uwsgi(ctx: Context, scenario: Scenario, port: int) -> list[str]:
    return [
        str(PEERS_BIN / "uwsgi"),
        *("--http-socket", _bind(ctx, port)),
        *("--wsgi-file", str(APPS_DIR / f"{scenario.module}.py")),
        *("--callable", "app", "--processes", "1", "--disable-logging"),
        *("--die-on-term", "--need-app", "--chdir", str(APPS_DIR)),
    ]


def _pronghorn(extra: list[str], command: Path = PRONGHORN) -> ArgvFn:
    def argv(ctx: Context, scenario: Scenario, port: int) -> list[str]:
        base = [str(command), "--bind", _bind(ctx, port), *extra]
        if scenario.tls:
            base += ["--certfile", str(ctx.cert), "--keyfile", str(ctx.key)]
        if scenario.kind == "static":
            return [*base, "--static", f"/static={ctx.static_dir}"]
        return [*base, scenario.target]

    return argv


NGINX_CONF = """\
worker_processes 1;
pid {work}/nginx-{port}.pid;
error_log {work}/nginx-{port}-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    client_body_temp_path {work}/nginx-body;
    proxy_temp_path {work}/nginx-proxy;
    fastcgi_temp_path {work}/nginx-fastcgi;
    uwsgi_temp_path {work}/nginx-uwsgi;
    scgi_temp_path {work}/nginx-scgi;
    server {{
        listen {host}:{port};
        location /static/ {{ alias {static}/; }}
    }}
}}
"""


def _nginx(ctx: Context, scenario: Scenario, port: int) -> list[str]:
    conf = ctx.work_dir / f"nginx-{port}.conf"
    conf.write_text(
        NGINX_CONF.format(work=ctx.work_dir, port=port, host=ctx.host, static=ctx.static_dir)
    )
    error_log = str(ctx.work_dir / f"nginx-{port}-error.log")
    return ["nginx", "-e", error_log, "-c", str(conf), "-g", "daemon off;"]


WSGI = frozenset({"wsgi"})
STATIC = frozenset({"static"})


def _nginx_path() -> Path:
    for directory in [*os.environ.get("PATH", "").split(os.pathsep), "/usr/sbin"]:
        candidate = Path(directory) / "nginx"
        if candidate.exists():
            return candidate
    return Path("/usr/sbin/nginx")


SERVERS: tuple[ServerSpec, ...] = (
    ServerSpec("pronghorn", WSGI | STATIC, False, (PRONGHORN,), _pronghorn([]), tls=True),
    ServerSpec(
        "pronghorn-compiled",
        WSGI | STATIC,
        False,
        (PRONGHORN_COMPILED,),
        _pronghorn([], PRONGHORN_COMPILED),
        tls=True,
    ),
    ServerSpec("pronghorn-t1", WSGI, False, (PRONGHORN,), _pronghorn(["--threads", "1"]), tls=True),
    # Metrics on (their listener on a loopback port of its own): what they cost, beside
    # "pronghorn" (and "pronghorn-compiled"). Only when named (--servers
    # pronghorn,pronghorn-metrics).
    ServerSpec(
        "pronghorn-metrics",
        WSGI | STATIC,
        False,
        (PRONGHORN,),
        _pronghorn(["--metrics-bind", "127.0.0.1:0"]),
        tls=True,
        default=False,
    ),
    ServerSpec(
        "pronghorn-compiled-metrics",
        WSGI | STATIC,
        False,
        (PRONGHORN_COMPILED,),
        _pronghorn(["--metrics-bind", "127.0.0.1:0"], PRONGHORN_COMPILED),
        tls=True,
        default=False,
    ),
    ServerSpec("gunicorn-sync", WSGI, True, (PEERS_BIN / "gunicorn",), _gunicorn([]), tls=True),
    ServerSpec(
        "gunicorn-gthread",
        WSGI,
        True,
        (PEERS_BIN / "gunicorn",),
        _gunicorn(["-k", "gthread", "--threads", "4"]),
        tls=True,
    ),
    ServerSpec("waitress", WSGI, True, (PEERS_BIN / "waitress-serve",), _waitress),
    ServerSpec("granian", WSGI, True, (PEERS_BIN / "granian",), _granian, tls=True),
    ServerSpec("bjoern", WSGI, True, (), _runner("run_bjoern.py"), package="bjoern"),
    # uWSGI takes ~1.6 s to exit on SIGTERM; SIGINT stops it at once.
    ServerSpec("uwsgi", WSGI, True, (PEERS_BIN / "uwsgi",), _uwsgi, stop_signal=signal.SIGINT),
    ServerSpec("cheroot", WSGI, True, (), _runner("run_cheroot.py"), package="cheroot"),
    ServerSpec("nginx", STATIC, True, (_nginx_path(),), _nginx),
)


def by_name(names: list[str]) -> list[ServerSpec]:
    """Servers in the order given; raises KeyError naming the unknown ones."""
    known = {server.name: server for server in SERVERS}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise KeyError(f"unknown server(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[name] for name in names]
