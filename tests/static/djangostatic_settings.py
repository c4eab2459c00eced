"""The frameworks suite's Django project, plus what serving its static files needs.

STATIC_ROOT comes from $DJANGOSTATIC_ROOT (the test's temporary directory); the admin may
be framed by a same-origin probe page, so the browser test can read its computed styles.
"""

import os

from djangosite.settings import *  # noqa: F403

STATIC_URL = "/static/"
STATIC_ROOT = os.environ["DJANGOSTATIC_ROOT"]
X_FRAME_OPTIONS = "SAMEORIGIN"
