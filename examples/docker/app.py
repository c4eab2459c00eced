"""A stand-in for your application."""


def application(environ, start_response):
    body = b"Hello from a container\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
