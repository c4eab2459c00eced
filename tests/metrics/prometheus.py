"""A real Prometheus (Debian's `prometheus` package) scraping a metrics listener, and its
HTTP query API. Started with a config of our own and its own data directory; only ever
stopped through the process it started."""

from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType

from observing import free_port, wait_until

CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: pronghorn
    static_configs:
      - targets: ['127.0.0.1:{port}']
"""


class Prometheus:
    """One Prometheus scraping 127.0.0.1:`target_port` every second."""

    def __init__(self, directory: Path, target_port: int) -> None:
        config = directory / "prometheus.yml"
        config.write_text(CONFIG.format(port=target_port))
        self.port = free_port()
        self.log = (directory / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={directory / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._log_path = directory / "prometheus.log"
        if not wait_until(lambda: self.query("up") == [1.0], 30, interval=0.2):
            self.stop()
            raise RuntimeError("Prometheus did not scrape:\n" + self._log_path.read_text())

    def query(self, expression: str) -> list[float] | None:
        """The values of an instant query (one per series), or None while it cannot answer."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode(
            {"query": expression}
        )
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                answer = json.load(response)
        except OSError:
            return None
        if answer.get("status") != "success":
            return None
        return [float(item["value"][1]) for item in answer["data"]["result"]]

    def value(self, expression: str) -> float | None:
        """The one value of a query that sums to one series (None: no data yet)."""
        values = self.query(expression)
        return values[0] if values else None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.log.close()

    def __enter__(self) -> Prometheus:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
