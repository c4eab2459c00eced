"""The I/O engine: event loop, connections, timeouts, the app thread pool, listeners.

`serve(config, app, logs)` runs one worker until it is told to stop.
"""

from pronghorn.io.worker import serve

__all__ = ["serve"]
