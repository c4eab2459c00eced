"""PEP 3333 adapter: environ, start_response, wsgi.input, file_wrapper, the app call and close().

Knows HTTP events and PEP 3333, never sockets: the I/O layer implements the two small
Protocols in `channel` (a body source and a response sink).
"""
