"""Django's collectstatic output served by `--static`, the admin rendered with its CSS."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from staticbrowser import dump_dom, probe_result
from statichttp import fetch

from serverproc import ServerPool, ServerProcess

pytest.importorskip("django")

HERE = Path(__file__).resolve().parent
FRAMEWORKS = HERE.parent / "frameworks"
ADMIN_CSS = "/static/admin/css/base.css"

PROBE = """<!doctype html>
<html><head><meta charset="utf-8"></head><body>
<iframe id="admin" src="/admin/login/" width="1000" height="700"></iframe>
<pre id="out">pending</pre>
<script>
window.addEventListener("load", function () {
  var doc = document.getElementById("admin").contentDocument;
  var header = doc.querySelector("#header");
  document.getElementById("out").textContent = JSON.stringify({
    header: header ? getComputedStyle(header).backgroundColor : null,
    sheets: doc.styleSheets.length,
    form: !!doc.querySelector("#login-form")
  });
});
</script></body></html>
"""


@pytest.fixture(scope="module")
def django_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("djangostatic")
    env = {
        "DJANGOSTATIC_ROOT": str(base / "collected"),
        "DJANGOSITE_DB": str(base / "db.sqlite3"),
        "DJANGOSITE_FILES": str(base),
        "DJANGO_SETTINGS_MODULE": "djangostatic_settings",
        "PYTHONPATH": os.pathsep.join([str(FRAMEWORKS), str(HERE)]),
    }
    for args in (("collectstatic", "--noinput"), ("migrate", "--noinput")):
        done = subprocess.run(
            [sys.executable, "-m", "django", *args],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    probe = base / "probe"
    probe.mkdir()
    (probe / "admin.html").write_text(PROBE)
    env["PROBE_DIR"] = str(probe)
    return env


@pytest.fixture(scope="module")
def django_server(pool: ServerPool, django_env: dict[str, str]) -> ServerProcess:
    return pool(
        "--bind",
        "127.0.0.1:0",
        "--static",
        f"/static={django_env['DJANGOSTATIC_ROOT']}",
        "--static",
        f"/probe={django_env['PROBE_DIR']}",
        "djangosite.wsgi",
        cwd=FRAMEWORKS,
        env=django_env,
    )


def test_admin_css_is_served_statically(django_server: ServerProcess) -> None:
    reply = fetch(django_server.host, django_server.port, "GET", ADMIN_CSS)
    assert reply.status == 200
    assert reply.header("Content-Type") == "text/css; charset=utf-8"
    assert reply.header("ETag") and reply.header("Last-Modified")
    assert b"--header-bg" in reply.body
    page = fetch(django_server.host, django_server.port, "GET", "/admin/login/")
    assert page.status == 200 and ADMIN_CSS.encode() in page.body


def test_admin_login_renders_with_its_css(django_server: ServerProcess) -> None:
    result = probe_result(dump_dom(django_server.url("/probe/admin.html")))
    assert result["form"] is True
    assert isinstance(result["sheets"], int) and result["sheets"] >= 1
    assert result["header"] == "rgb(65, 118, 144)"  # --header-bg: #417690
