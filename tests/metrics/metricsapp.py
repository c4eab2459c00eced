"""The app the metrics tests serve: its answer names the worker (pid) that ran it.

/status/NNN answers NNN; /sleep?SECONDS sleeps first; anything else answers 200.
"""

import os
import time


def app(environ, start_response):
    path = environ["PATH_INFO"]
    code = int(path.rsplit("/", 1)[1]) if path.startswith("/status/") else 200
    if path == "/sleep":
        time.sleep(float(environ["QUERY_STRING"] or "1"))
    body = f"{os.getpid()}\n".encode()
    start_response(
        f"{code} X", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
    )
    return [body]
