"""The PEP 3333 `environ` of a request that came over uwsgi (`--protocol uwsgi`).

Owns the mapping from the variables nginx sends to the environ, as uWSGI makes it: every
variable is passed through (DOCUMENT_ROOT, REQUEST_SCHEME, a custom `uwsgi_param`), so
REMOTE_ADDR and REMOTE_PORT are the client's, and SERVER_NAME, SERVER_PORT, HTTP_HOST are
what nginx says. On top of that:

- `wsgi.url_scheme`: UWSGI_SCHEME if it says http or https (uWSGI's own variable), else
  https when HTTPS is "on" or "1", else REQUEST_SCHEME if http or https, else http.
- SCRIPT_NAME: the one sent (`uwsgi_param SCRIPT_NAME /app;`), else --root-path; PATH_INFO
  loses that prefix when it starts with it (nginx sends the whole path as PATH_INFO; uWSGI
  needs --manage-script-name or modifier1 30 for this, and an app mounted under a prefix
  otherwise builds URLs with it twice).
- Dropped: HTTP_CONTENT_TYPE and HTTP_CONTENT_LENGTH (nginx sends the headers under those
  names too; PEP 3333 wants them only as CONTENT_TYPE/CONTENT_LENGTH), empty CONTENT_TYPE
  and CONTENT_LENGTH (nginx sends them empty when absent), and HTTP_TRANSFER_ENCODING when a
  CONTENT_LENGTH came (nginx has read a chunked body whole and counted it: the body the app
  reads is not chunked, and frameworks that see the header would ignore the length).
- What nginx did not send is filled in as on HTTP: SERVER_NAME/SERVER_PORT from the
  listener (from Host on a Unix socket), SERVER_PROTOCOL, QUERY_STRING, PATH_INFO (decoded
  from REQUEST_URI), REMOTE_ADDR from the peer; REQUEST_URI and RAW_URI are the target.
- The `wsgi.*` keys are the server's, whatever the packet held.

Proxy headers (X-Forwarded-*, Forwarded) are not read: nginx names the client itself. With
another proxy in front of nginx, nginx's realip module gives nginx (and so REMOTE_ADDR) the
client's address.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import unquote_to_bytes

from pronghorn.http.events import RequestHead
from pronghorn.http.uwsgi import UwsgiHead
from pronghorn.wsgi.environ import EnvironBuilder, ErrorStream, ServerFacts
from pronghorn.wsgi.proxies import server_from_host

_SCHEMES: Final = frozenset({"http", "https"})
_DROPPED: Final = ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH")


class UwsgiEnvironBuilder:
    """Makes environ dicts for one uwsgi listener; the interface of `EnvironBuilder`."""

    def __init__(self, facts: ServerFacts, errors: ErrorStream) -> None:
        self._root = facts.root_path
        self._server_from_host = facts.server_from_host
        self._defaults: dict[str, Any] = {
            "SERVER_NAME": facts.server_name,
            "SERVER_PORT": facts.server_port,
            "SERVER_SOFTWARE": "pronghorn",
        }
        self._wsgi: dict[str, Any] = {
            "wsgi.version": (1, 0),
            "wsgi.errors": errors,
            "wsgi.multithread": facts.multithread,
            "wsgi.multiprocess": facts.multiprocess,
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,
        }

    def build(
        self,
        head: RequestHead,
        remote: tuple[str, int] | None,
        wsgi_input: object,
        file_wrapper: object,
    ) -> dict[str, Any]:
        assert isinstance(head, UwsgiHead)
        variables = head.variables
        environ = {**self._defaults, **variables, **self._wsgi}
        for key in _DROPPED:
            environ.pop(key, None)
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key) == "":
                del environ[key]
        if "CONTENT_LENGTH" in environ:
            environ.pop("HTTP_TRANSFER_ENCODING", None)
        target = head.target.decode("latin-1")
        environ["REQUEST_URI"] = environ["RAW_URI"] = target
        environ.setdefault("SERVER_PROTOCOL", "HTTP/" + head.version)
        environ.setdefault("QUERY_STRING", head.query.decode("latin-1"))
        self._script_and_path(environ, head)
        if "REMOTE_ADDR" not in variables:
            environ["REMOTE_ADDR"] = remote[0] if remote is not None else ""
            if remote is not None:
                environ["REMOTE_PORT"] = str(remote[1])
        environ["wsgi.url_scheme"] = _scheme(variables)
        if self._server_from_host and "SERVER_NAME" not in variables:
            server_from_host(environ)  # not the socket's path
        environ["wsgi.input"] = wsgi_input
        environ["wsgi.file_wrapper"] = file_wrapper
        return environ

    def client(self, head: RequestHead, remote: tuple[str, int] | None) -> tuple[str, int] | None:
        """The client's address and port (0 when not known) as nginx names them, for the
        access log of a request that no application saw (a static file)."""
        assert isinstance(head, UwsgiHead)
        variables = head.variables
        address = variables.get("REMOTE_ADDR")
        if not address:
            return remote
        port = variables.get("REMOTE_PORT", "")
        return address, int(port) if port.isascii() and port.isdigit() else 0

    def _script_and_path(self, environ: dict[str, Any], head: UwsgiHead) -> None:
        path = head.variables.get("PATH_INFO")
        if path is None:
            raw = head.path
            path = (unquote_to_bytes(raw) if 37 in raw else raw).decode("latin-1")
        script = head.variables.get("SCRIPT_NAME", self._root).rstrip("/")
        if script and (path == script or path.startswith(script + "/")):
            path = path[len(script) :]
        environ["SCRIPT_NAME"] = script
        environ["PATH_INFO"] = path


def _scheme(variables: dict[str, str]) -> str:
    scheme = variables.get("UWSGI_SCHEME", "").lower()
    if scheme in _SCHEMES:
        return scheme
    if variables.get("HTTPS", "").lower() in ("on", "1"):
        return "https"
    scheme = variables.get("REQUEST_SCHEME", "").lower()
    return scheme if scheme in _SCHEMES else "http"


AnyEnvironBuilder = EnvironBuilder | UwsgiEnvironBuilder
"""What a listener's requests get their environ from: HTTP's builder or uwsgi's."""
