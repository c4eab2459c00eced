"""Request dispatch: between the request path (static, wsgi) and the I/O engine.

`settings` turns a `Config` into parser limits, static options and server facts;
`requests` runs one request (probe, static or app), counts it and access-logs it;
`request_hooks` adds a config file's pre_request/post_request hooks around it.
"""
