"""How the server tests start the real `pronghorn` command serving `server_apps:app`.

The shared server has short timeouts (header 1 s, idle keep-alive 1 s, I/O 1 s) and a
64 KiB body limit, so timeout tests stay fast.
"""

from __future__ import annotations

from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
BODY_LIMIT = 65536
SHARED_OPTIONS = (
    "--header-timeout",
    "1",
    "--keep-alive",
    "1",
    "--io-timeout",
    "1",
    "--limit-request-body",
    str(BODY_LIMIT),
    "--threads",
    "4",
)


def app_args(*options: str) -> list[str]:
    """Command-line arguments that serve the test app on an ephemeral port."""
    return ["--pythonpath", HERE, "-b", "127.0.0.1:0", *options, "server_apps:app"]
