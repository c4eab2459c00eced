"""pronghorn: a fast, strict HTTP/1.1 server for WSGI applications and static files."""

__version__ = "0.1.0"
