"""A ready database for the Django project in djangosite/: migrated, with a superuser.

`prepare_site(db_dir, files_dir)` runs manage.py (migrate, createsuperuser) and returns the
environment a pronghorn serving `djangosite.wsgi` needs. Used by the framework tests and by
the nginx recipe test in tests/interop/.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fwlayout import FRAMEWORKS_DIR

ADMIN_USER = "admin"
ADMIN_PASSWORD = "pronghorn-admin-pw-1"
MANAGE_TIMEOUT = 120.0


def manage(env: dict[str, str], *args: str) -> None:
    """Run manage.py with `args`; fail with its output if it fails."""
    result = subprocess.run(
        [sys.executable, str(FRAMEWORKS_DIR / "djangosite" / "manage.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=MANAGE_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"manage.py {args} failed:\n{result.stdout}\n{result.stderr}"


def prepare_site(db_dir: Path, files_dir: Path) -> dict[str, str]:
    """Environment naming a freshly migrated database (in `db_dir`) with a superuser."""
    env = {
        "DJANGOSITE_DB": str(db_dir / "db.sqlite3"),
        "DJANGOSITE_FILES": str(files_dir),
        "DJANGO_SETTINGS_MODULE": "djangosite.settings",
    }
    manage_env = {
        **os.environ,
        **env,
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(FRAMEWORKS_DIR), os.environ.get("PYTHONPATH", "")) if p
        ),
        "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD,
    }
    manage(manage_env, "migrate", "--noinput")
    manage(
        manage_env,
        "createsuperuser",
        "--noinput",
        "--username",
        ADMIN_USER,
        "--email",
        "admin@example.com",
    )
    return env
