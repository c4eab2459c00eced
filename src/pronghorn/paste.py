"""The PasteDeploy server runner: `use = egg:pronghorn` in an ini file's `[server:main]`.

Owns: `serve_paste`, registered as the `paste.server_runner` entry point `main`, so Pyramid's
`pserve development.ini` (and anything else that loads servers through PasteDeploy) runs
pronghorn. The section's keys are the settings of docs/configuration.md (`workers`,
`keep_alive` or `keep-alive`, ...) plus `host` and `port`, as in `pronghorn.serve`. Ini values
are strings, read by the registry as `PRONGHORN_*` variables are: a repeatable setting takes
one item per line or comma-separated, a switch true/false (or 1/0, yes/no, on/off).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from pronghorn.api import serve_settings, with_address
from pronghorn.config.sources import read_keywords

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


def serve_paste(app: WSGIApplication, global_conf: Mapping[str, str], **local_conf: str) -> int:
    """Serve `app` with the `[server:...]` section's keys `local_conf`; raise SystemExit
    with the exit status when the server stopped on a failure, ConfigError on a bad key."""
    source = f"ini file {global_conf.get('__file__', '')}".rstrip()
    host, port = local_conf.pop("host", None), local_conf.pop("port", None)
    given = read_keywords(with_address(host, port, local_conf, source), source, as_text=True)
    code = serve_settings(app, given)
    if code:
        raise SystemExit(code)
    return code
