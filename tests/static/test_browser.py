"""A real browser renders pages whose stylesheets pronghorn's static handler serves."""

from __future__ import annotations

from pathlib import Path

from staticbrowser import dump_dom, probe_result

from serverproc import ServerPool

DEMO_SITE = Path(__file__).resolve().parents[2] / "src" / "pronghorn" / "demo" / "site"

PROBE = """<!doctype html>
<html><head><meta charset="utf-8"><link rel="stylesheet" href="/static/style.css"></head>
<body><pre id="out">pending</pre>
<script>
window.addEventListener("load", function () {
  var style = getComputedStyle(document.body);
  document.getElementById("out").textContent = JSON.stringify({
    background: style.backgroundColor, sheets: document.styleSheets.length
  });
});
</script></body></html>
"""


def test_demo_stylesheet_is_applied(pool: ServerPool, tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text(PROBE)
    server = pool(
        "--bind",
        "127.0.0.1:0",
        "--static",
        f"/static={DEMO_SITE}",
        "--static",
        f"/={tmp_path}",
        "pronghorn.demo:app",
    )
    result = probe_result(dump_dom(server.url("/")))
    assert result == {"background": "rgb(246, 241, 231)", "sheets": 1}  # #f6f1e7


def test_demo_page_renders(pool: ServerPool) -> None:
    server = pool("--bind", "127.0.0.1:0", "--static", f"/static={DEMO_SITE}", "pronghorn.demo:app")
    assert "pronghorn is running" in dump_dom(server.url("/"))
