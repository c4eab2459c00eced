"""The I/O engine: the reactor and its relay of threads, connections, timeouts, listeners.

`serve(config, app, logs)` runs one worker until it is told to stop.
"""

from pronghorn.io.worker import serve

__all__ = ["serve"]
