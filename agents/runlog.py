"""Run folders: metrics per step as JSON lines, and learning/entropy curves drawn to PNG.

>>> import tempfile, json
>>> log = RunLog(tempfile.mkdtemp())
>>> log.write(step=1, loss=0.5, entropy=2.0)
>>> log.write(step=2, loss=0.25, entropy=1.5)
>>> [r["loss"] for r in log.read()]
[0.5, 0.25]
>>> log.plot(["loss", "entropy"]).name
'curves.png'
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path


class RunLog:
    """Appends one JSON object per call to ``<folder>/metrics.jsonl`` (flushed at once, so a
    killed run keeps every line written before it died)."""

    def __init__(self, folder: str | Path, name: str = "metrics.jsonl") -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / name

    def write(self, **metrics: float | int | str) -> None:
        clean = {k: (float(v) if isinstance(v, float) else v) for k, v in metrics.items()}
        with self.path.open("a") as f:
            f.write(json.dumps(clean, sort_keys=True) + "\n")

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        rows = []
        for line in self.path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut short by a kill: everything before it is intact
        return rows

    def truncate_after(self, step: int) -> None:
        """Drop rows past ``step`` (when resuming from a checkpoint taken at ``step``)."""
        rows = [r for r in self.read() if r.get("step", 0) <= step]
        self.path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))

    def plot(self, keys: Sequence[str], out: str | Path | None = None, x: str = "step") -> Path:
        """Draw one panel per metric in ``keys`` against ``x`` to a PNG (default ``curves.png``)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        rows = self.read()
        out = Path(out) if out is not None else self.folder / "curves.png"
        fig = Figure(figsize=(4.0 * len(keys), 3.0), dpi=100)
        FigureCanvasAgg(fig)
        for k, key in enumerate(keys):
            ax = fig.add_subplot(1, len(keys), k + 1)
            pts = [(r[x], r[key]) for r in rows if key in r and x in r and _finite(r[key])]
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, lw=1.5)
            ax.set_xlabel(x)
            ax.set_title(key)
            ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out)
        return out


def _finite(v: object) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)
