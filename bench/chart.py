"""Draw the results of `run.py --json` as a grouped bar chart: req/s ratio vs the best peer.

    python bench/chart.py RESULTS.json OUT.png

One group per scenario, one bar per server (pronghorn rows drawn first and darker). matplotlib
lives in bench/.venv-peers; when the running Python lacks it, this script re-runs itself there.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

PEERS_PYTHON = Path(__file__).resolve().parent / ".venv-peers" / "bin" / "python"


def _ensure_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        in_peers = Path(sys.prefix).resolve() == PEERS_PYTHON.parent.parent.resolve()
        if PEERS_PYTHON.exists() and not in_peers:
            os.execv(str(PEERS_PYTHON), [str(PEERS_PYTHON), __file__, *sys.argv[1:]])
        raise SystemExit("matplotlib not found; run `python bench/run.py` to install it") from exc


def ratios(document: dict[str, Any]) -> tuple[list[str], dict[str, list[float]]]:
    """Scenario names and, per server, the ratio in each scenario (0 where it has none)."""
    scenarios = [scenario["name"] for scenario in document["scenarios"]]
    servers: dict[str, list[float]] = {}
    for index, scenario in enumerate(document["scenarios"]):
        for row in scenario["rows"]:
            ratio = (row.get("summary") or {}).get("ratio")
            values = servers.setdefault(row["server"], [0.0] * len(scenarios))
            values[index] = ratio or 0.0
    ordered = dict(sorted(servers.items(), key=lambda item: not item[0].startswith("pronghorn")))
    return scenarios, {name: values for name, values in ordered.items() if any(values)}


def draw(document: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios, servers = ratios(document)
    width = 0.8 / max(1, len(servers))
    fig, ax = plt.subplots(figsize=(max(8, 1.6 * len(scenarios)), 6), dpi=120)
    colors = plt.get_cmap("tab10")
    for index, (name, values) in enumerate(servers.items()):
        positions = [x - 0.4 + width * (index + 0.5) for x in range(len(scenarios))]
        edge = "black" if name.startswith("pronghorn") else None
        ax.bar(positions, values, width, label=name, color=colors(index % 10), edgecolor=edge)
    ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xticks(range(len(scenarios)), scenarios)
    ax.set_ylabel("req/s ÷ best peer's req/s")
    meta = document.get("meta", {})
    ax.set_title(f"req/s ratio vs best peer — {meta.get('date', '')[:10]} — {meta.get('cpu', '')}")
    ax.legend(
        ncol=min(6, len(servers)), fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.08)
    )
    fig.tight_layout()
    fig.savefig(out)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    _ensure_matplotlib()
    draw(json.loads(Path(argv[0]).read_text()), Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
