# A gunicorn config file as gunicorn users write it; pronghorn reads it unchanged, from the
# working directory without -c (see docs/deploying.md, "Coming from gunicorn").
import multiprocessing
import time

bind = "127.0.0.1:8000"
workers = min(4, multiprocessing.cpu_count())
threads = 4
keepalive = 5
accesslog = "-"
raw_env = ["GREETING=hello from gunicorn.conf.py"]


def post_fork(server, worker):
    server.log.info("worker %s forked", worker.pid)


def pre_request(worker, req):
    req.started = time.monotonic()


def post_request(worker, req, environ, resp):
    took = (time.monotonic() - req.started) * 1000
    worker.log.info("%s %s -> %s in %.1f ms", req.method, req.path, resp.status_code, took)
