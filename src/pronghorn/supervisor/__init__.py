"""The supervisor: a master process that runs and watches worker processes.

Never imports `http`, `wsgi` or `static`: workers are started through `pronghorn.io.serve`.
"""

from pronghorn.supervisor.master import Launch, Master

__all__ = ["Launch", "Master"]
