"""Headless Chromium for the static tests: load a page, return the DOM after its scripts ran."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile

import pytest

CHROMIUM_TIMEOUT = 60.0


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("chromium is not installed (make test installs it with apt)")
    return path


def dump_dom(url: str) -> str:
    """The serialised DOM of `url` once loaded (scripts run, a bounded virtual-time budget)."""
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [
                chromium_path(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                f"--user-data-dir={profile}",
                "--virtual-time-budget=10000",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=CHROMIUM_TIMEOUT,
            check=False,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def probe_result(dom: str) -> dict[str, object]:
    """The JSON a probe page wrote into <pre id="out">...</pre>."""
    start = dom.index('<pre id="out">') + len('<pre id="out">')
    text = dom[start : dom.index("</pre>", start)]
    text = text.replace("&quot;", '"').replace("&amp;", "&")
    parsed: dict[str, object] = json.loads(text)
    return parsed
