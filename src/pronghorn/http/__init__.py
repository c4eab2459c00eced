"""Sans-I/O HTTP/1.1 protocol core: bytes in, events out; response heads and framing out.

Knows nothing of sockets, threads, clocks, logging or WSGI. See `parser` (requests),
`response` (framing and serialisation) and `events` (what the parser yields).
"""
