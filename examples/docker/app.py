"""A stand-in for your application: a page and the cheap route the health check asks."""


def application(environ, start_response):
    if environ["PATH_INFO"] == "/healthz":
        body = b"ok\n"
    else:
        body = b"Hello from a container\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
