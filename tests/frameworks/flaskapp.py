"""A Flask app served by pronghorn in tests/frameworks/test_flask.py.

Files served by /file/NAME and the flag files the gated stream waits for live
in the directory named by the FLASKAPP_FILES environment variable.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from flask import Flask, Response, abort, jsonify, request, send_file, url_for
from werkzeug.security import safe_join

GATE_TIMEOUT = 10.0
GATE_POLL = 0.02

app = Flask(__name__)


def files_dir() -> Path:
    return Path(os.environ["FLASKAPP_FILES"])


@app.get("/json")
def json_view() -> Response:
    return jsonify(
        method=request.method,
        path=request.path,
        script_root=request.script_root,
        args=request.args.to_dict(flat=False),
        url=url_for("json_view"),
    )


@app.get("/links")
def links() -> Response:
    return jsonify(
        json=url_for("json_view"),
        file=url_for("download", name="blob.bin"),
        external=url_for("json_view", _external=True),
    )


@app.get("/whoami")
def whoami() -> Response:
    return jsonify(
        remote_addr=request.remote_addr,
        scheme=request.scheme,
        secure=request.is_secure,
        host=request.host,
        external=url_for("json_view", _external=True),
    )


@app.post("/upload")
def upload() -> Response:
    uploaded = request.files.get("file")
    if uploaded is None:
        abort(400)
    data = uploaded.read()
    return jsonify(
        filename=uploaded.filename,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        form=request.form.to_dict(),
    )


def numbered_chunks(count: int) -> Iterator[bytes]:
    for index in range(count):
        yield f"line {index:04d} {'y' * 500}\n".encode()


@app.get("/stream")
def stream() -> Response:
    count = request.args.get("n", 10, type=int)
    return Response(numbered_chunks(count), mimetype="text/plain")


def wait_for_flag(flag: Path) -> bool:
    """Poll for `flag` to exist, with a deadline."""
    deadline = time.monotonic() + GATE_TIMEOUT
    while time.monotonic() < deadline:
        if flag.exists():
            return True
        time.sleep(GATE_POLL)
    return False


@app.get("/gated-stream/<token>")
def gated_stream(token: str) -> Response:
    """Yield one chunk, then wait until the client creates the flag file."""
    if not token.isalnum():
        abort(400)
    flag = files_dir() / f"{token}.flag"

    def body() -> Iterator[bytes]:
        yield b"first\n"
        yield b"second\n" if wait_for_flag(flag) else b"gate timed out\n"

    return Response(body(), mimetype="text/plain")


@app.route("/file/<name>", methods=["GET", "HEAD"])
def download(name: str) -> Response:
    path = safe_join(str(files_dir()), name)
    if path is None or not os.path.isfile(path):
        abort(404)
    return send_file(path, mimetype="application/octet-stream")


@app.post("/echo")
def echo() -> Response:
    data = request.get_data()
    response = Response(data, mimetype="application/octet-stream")
    response.headers["X-Seen-Content-Length"] = request.environ.get("CONTENT_LENGTH") or ""
    return response
