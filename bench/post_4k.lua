-- post-echo scenario: every request is a POST with a 4 KiB body (wrk adds Content-Length).
wrk.method = "POST"
wrk.body = string.rep("x", 4096)
wrk.headers["Content-Type"] = "application/octet-stream"
