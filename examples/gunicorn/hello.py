"""The application of the gunicorn.conf.py example: says what --env (raw_env) set."""

import os


def app(environ, start_response):
    body = os.environ.get("GREETING", "no GREETING").encode() + b"\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
