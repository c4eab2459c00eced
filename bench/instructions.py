"""Instructions per request: a noise-free measure of pronghorn's own cost, by callgrind.

    python bench/instructions.py [APP] [--post BYTES] [--close] [--header 'NAME: VALUE']
                                 [--browser] [--src DIR | --python PY] [--metrics]
                                 [--access-log] [--static BYTES]

Runs pronghorn in-process (single process, default threads) under `valgrind
--tool=callgrind --separate-threads=yes`, drives it from the same process over real
loopback sockets (8 keep-alive connections, one request each in flight; or a new
connection per request with `--close`), and reports the user-mode instructions of the
server's threads per request: the difference between a run of 2,400 and one of 800
requests, divided by 1,600, so start-up and import costs cancel out. Kernel time is not
counted. The figure repeats to about 2 % whatever else the machine is doing, which
wall-clock benchmarks on a shared 2-core VM cannot; compare trees with `--src`
(e.g. a `git worktree` of the previous commit), or measure an installed pronghorn with
`--python` (e.g. `--python .venv-compiled/bin/python` for the compiled build; the figure says
which build ran).

APP is a module:callable from bench/apps (default hello:app). `--header` (repeatable) adds a
request header, e.g. `--header 'X-Forwarded-For: 203.0.113.9'` for what a request from nginx
costs; `--browser` adds the twelve fields Firefox sends with a page (`BROWSER_FIELDS`).
`--metrics` runs the server with `--metrics-bind 127.0.0.1:0` (its counters on, and the
metrics listener's thread counted with the others), for what metrics cost a request.
`--access-log` writes the access log (the default format, to /dev/null through a file
handler), for what a line costs a request. Needs valgrind (apt).
`--static BYTES` measures the `static-1k` scenario's path instead of an app: a file of that
many bytes, written to a temporary directory and left to settle (the open-file cache keeps
a file only once its ctime is two seconds old), served with `--static /static=DIR` and no
app, and GET `/static/file.bin` (`--static 1024` is `static-1k`). Needs valgrind (apt).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
APPS = HERE / "apps"
REPO = HERE.parent
SMALL, LARGE, CONNECTIONS = 800, 2400, 8
# `--browser`: the fields Firefox 128 sends with a page request (besides Host), so that a
# head of the size real clients send is measured, not only wrk's one field.
BROWSER_FIELDS = (
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language: en-US,en;q=0.5",
    "Accept-Encoding: gzip, deflate, br",
    "Connection: keep-alive",
    "Referer: http://localhost/index.html",
    "Cookie: session=3f9a1c2e7b; theme=dark",
    "Upgrade-Insecure-Requests: 1",
    "Sec-Fetch-Dest: document",
    "Sec-Fetch-Mode: navigate",
    "Sec-Fetch-Site: same-origin",
    "Priority: u=0, i",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("app", nargs="?", default="hello:app")
    parser.add_argument("--post", type=int, default=0, help="POST a body of this many bytes")
    parser.add_argument("--close", action="store_true", help="a new connection per request")
    parser.add_argument(
        "--header", action="append", default=[], help="add this request header (repeatable)"
    )
    parser.add_argument("--src", help="pronghorn sources to measure (default: this tree's src/)")
    parser.add_argument(
        "--python", help="measure the pronghorn installed for this interpreter (not src/)"
    )
    parser.add_argument("--metrics", action="store_true", help="with --metrics-bind (counters on)")
    parser.add_argument("--access-log", action="store_true", help="write the access log")
    parser.add_argument("--static", type=int, default=0, help="GET a static file of this size")
    parser.add_argument("--static-dir", help=argparse.SUPPRESS)  # inside valgrind
    parser.add_argument(
        "--browser", action="store_true", help="add the twelve fields a browser sends"
    )
    parser.add_argument("--drive", type=int, help=argparse.SUPPRESS)  # inside valgrind
    args = parser.parse_args()
    if args.src is None and args.python is None:
        args.src = str(REPO / "src")
    if args.drive is not None:
        return _drive(args)
    with tempfile.TemporaryDirectory() as static_dir:
        if args.static:
            _write_settled(Path(static_dir) / "file.bin", args.static)
            args.static_dir = static_dir
            args.app = f"static {args.static} B"
        small = _count(args, SMALL)
        large = _count(args, LARGE)
    per_request = (large - small) / (LARGE - SMALL)
    mode = "close" if args.close else "keep-alive"
    body = f", POST {args.post} B" if args.post else ""
    body += ", a browser's fields" if args.browser else ""
    body += "".join(f", {header!r}" for header in args.header)
    body += ", metrics on" if args.metrics else ""
    body += ", access log on" if args.access_log else ""
    where = args.src or f"{args.python}, {_build_of(args.python)} build"
    print(f"{args.app} ({mode}{body}, {where}): {per_request:,.0f} instructions/request")
    return 0


def _count(args: argparse.Namespace, requests: int) -> int:
    """Server-thread instructions of one run of `requests` requests."""
    with tempfile.TemporaryDirectory() as work:
        command = [
            "valgrind",
            "--tool=callgrind",
            "--separate-threads=yes",
            f"--callgrind-out-file={work}/cg.out",
            args.python or sys.executable,
            __file__,
            args.app,
            "--drive",
            str(requests),
            "--post",
            str(args.post),
            *(["--close"] if args.close else []),
            *(["--metrics"] if args.metrics else []),
            *(["--access-log"] if args.access_log else []),
            *(arg for header in args.header for arg in ("--header", header)),
            *(["--browser"] if args.browser else []),
            *(["--static-dir", args.static_dir] if args.static_dir else []),
        ]
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        if args.src:
            env["PYTHONPATH"] = args.src
        subprocess.run(command, env=env, check=True, capture_output=True)
        total = 0
        for out in Path(work).glob("cg.out-*"):
            if out.name.endswith("-01"):
                continue  # the main thread: imports and the client
            total += _summary(out)
        return total


def _build_of(python: str) -> str:
    probe = "from pronghorn.build import running_build; print(running_build())"
    return subprocess.run(
        [python, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()


def _summary(out: Path) -> int:
    for line in out.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {out}")


def _write_settled(path: Path, size: int) -> None:
    """Write the static file, then wait out the open-file cache's settling time, so that
    every measured request is answered from the cache, as in a wrk run."""
    path.write_bytes(bytes(range(256)) * (size // 256) + b"x" * (size % 256))
    settle = 2.1  # seconds: pronghorn.static.cache.SETTLE_NS, and a margin
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        time.sleep(0.05)  # a fixed wait of the file's age, not readiness polling


def _drive(args: argparse.Namespace) -> int:
    """Inside valgrind: start the server on a thread, send `args.drive` requests, exit."""
    from pronghorn import cli

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = ["--single-process", "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    argv += ["--metrics-bind", "127.0.0.1:0"] if args.metrics else []
    argv += ["--access-logfile", os.devnull] if args.access_log else []
    argv += ["--chdir", str(APPS)]
    argv += ["--static", f"/static={args.static_dir}"] if args.static_dir else [args.app]
    threading.Thread(target=cli.main, args=(argv,), daemon=True).start()
    target = "/static/file.bin" if args.static_dir else "/"
    fields = [*BROWSER_FIELDS, *args.header] if args.browser else args.header
    request = _request(target, args.post, args.close, fields)
    size = _response_size(port, _request(target, args.post, False, fields))
    if args.close:
        _close_loop(port, request, args.drive)
    else:
        _keep_alive_loop(port, request, size, args.drive)
    os._exit(0)  # the server thread is a daemon: no graceful stop to count


def _request(target: str, post: int, close: bool, headers: list[str]) -> bytes:
    method = "POST" if post else "GET"
    head = f"{method} {target} HTTP/1.1\r\nHost: localhost\r\n"
    head += "".join(f"{header}\r\n" for header in headers)
    if post:
        head += f"Content-Type: application/octet-stream\r\nContent-Length: {post}\r\n"
    if close:
        head += "Connection: close\r\n"
    return (head + "\r\n").encode() + b"x" * post


def _response_size(port: int, request: bytes) -> int:
    """Wait for the server (polling with a deadline), then measure one response.

    The deadline is generous because under callgrind the server's imports run some 50
    times slower, and on a busy 2-core machine that has taken over a minute."""
    deadline = time.monotonic() + 300.0
    while True:
        try:
            conn = socket.create_connection(("127.0.0.1", port))
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)  # polling interval of a bounded wait
    with conn:
        conn.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = next(
            int(v) for k, _, v in (x.partition(":") for x in lines) if k.lower() == "content-length"
        )
        while len(body) < length:
            body += conn.recv(65536)
        return len(head) + 4 + length


def _keep_alive_loop(port: int, request: bytes, size: int, requests: int) -> None:
    conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(CONNECTIONS)]
    done = 0
    while done < requests:
        for conn in conns:
            conn.sendall(request)
        for conn in conns:
            got = 0
            while got < size:
                piece = conn.recv(1 << 20)
                if not piece:  # the server closed it: fail, rather than spin forever
                    raise ConnectionError(f"connection closed after {done} requests")
                got += len(piece)
        done += len(conns)


def _close_loop(port: int, request: bytes, requests: int) -> None:
    done = 0
    while done < requests:
        batch = [socket.create_connection(("127.0.0.1", port)) for _ in range(CONNECTIONS)]
        for conn in batch:
            conn.sendall(request)
        for conn in batch:
            while conn.recv(65536):
                pass
            conn.close()
        done += len(batch)


if __name__ == "__main__":
    sys.exit(main())
