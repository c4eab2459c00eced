"""Static files served next to (or instead of) the WSGI application.

`StaticFiles` answers requests under the `--static PREFIX=DIR` mounts; the pure pieces it
is built from (content types, path rules, conditional requests, ranges, content-coding
negotiation) live in modules of their own so they can be tested without sockets.
"""

from pronghorn.static.responder import StaticFiles, StaticOptions

__all__ = ["StaticFiles", "StaticOptions"]
