"""The benchmark scenarios: which app (or static file), how wrk loads it, what a good answer is.

A WSGI scenario names a module in bench/apps/ (each exports `app`); a static scenario names a
file size, and the harness writes that file into a temporary directory served at /static/.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wrk import LoadSpec

BENCH_DIR = Path(__file__).resolve().parent
APPS_DIR = BENCH_DIR / "apps"
POST_SCRIPT = BENCH_DIR / "post_4k.lua"
POST_BODY_SIZE = 4096


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # "wsgi" or "static"
    load: LoadSpec
    expect_len: int  # body length a correct answer has (0: not checked)
    module: str = ""  # WSGI scenarios: module in bench/apps exporting `app`
    method: str = "GET"
    body_size: int = 0  # request body size (POST scenarios)
    file_size: int = 0  # static scenarios: size of the generated file
    note: str = ""
    tls: bool = False  # served over HTTPS (a certificate the harness makes; wrk speaks TLS)

    @property
    def target(self) -> str:
        return f"{self.module}:app"

    @property
    def request_body(self) -> bytes:
        return b"x" * self.body_size


def _static(name: str, size: int, label: str) -> Scenario:
    return Scenario(
        name=name,
        kind="static",
        load=LoadSpec(path=f"/static/file-{label}.bin"),
        expect_len=size,
        file_size=size,
        note=f"GET of a {label} file from disk",
    )


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("hello", "wsgi", LoadSpec("/"), 13, "hello", note="13-byte body, keep-alive"),
    Scenario(
        "hello-tls",
        "wsgi",
        LoadSpec("/"),
        13,
        "hello",
        note="13-byte body, keep-alive, over TLS 1.3 (servers that speak TLS)",
        tls=True,
    ),
    Scenario(
        "hello-close",
        "wsgi",
        LoadSpec("/", headers=("Connection: close",)),
        13,
        "hello",
        note="13-byte body, a new connection per request",
    ),
    Scenario("body-64k", "wsgi", LoadSpec("/"), 65536, "body_64k", note="64 KiB body"),
    Scenario("body-1m", "wsgi", LoadSpec("/"), 1 << 20, "body_1m", note="1 MiB body"),
    Scenario(
        "post-echo",
        "wsgi",
        LoadSpec("/", script=POST_SCRIPT),
        POST_BODY_SIZE,
        "post_echo",
        method="POST",
        body_size=POST_BODY_SIZE,
        note="POST 4 KiB, app reads wsgi.input and echoes it",
    ),
    Scenario("flask-json", "wsgi", LoadSpec("/"), 0, "flask_json", note="Flask jsonify()"),
    Scenario("django-json", "wsgi", LoadSpec("/"), 0, "django_json", note="Django JsonResponse"),
    _static("static-1k", 1024, "1k"),
    _static("static-1m", 1 << 20, "1m"),
)

# --quick runs these unless --scenarios says otherwise (keeps a quick run under two minutes).
QUICK_DEFAULT = ("hello", "hello-close", "post-echo", "flask-json", "static-1k")


def by_name(names: list[str]) -> list[Scenario]:
    """Scenarios in the order given; raises KeyError naming the unknown ones."""
    known = {scenario.name: scenario for scenario in SCENARIOS}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise KeyError(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[name] for name in names]
