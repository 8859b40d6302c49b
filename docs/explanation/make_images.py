"""Write the pictures of docs/explanation/hungarian.md from the real explainer.

Run from the repository root after changing the explainer or the taxi example::

    python docs/explanation/make_images.py

Every SVG in ``docs/explanation/img/`` is produced here; a test checks that the
committed files match what the renderer writes now.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from tessera.assign import Trace, explain, taxi_example
from tessera.assign._examples import GREEDY_COVER_TRAP

IMG = Path(__file__).resolve().parent / "img"

# The 5 x 5 matrix whose zeros trap the "most zeros first" rule of thumb.
GREEDY_TRAP = np.array(GREEDY_COVER_TRAP)


def images() -> dict[str, str]:
    """File name -> SVG text, for every picture the walkthrough shows."""
    cost, people, taxis = taxi_example()
    out: dict[str, str] = {}
    traces: dict[str, Trace] = {
        "matrix": explain(cost, "matrix", row_names=people, col_names=taxis),
        "graph": explain(cost, "graph", row_names=people, col_names=taxis),
        "trap": explain(GREEDY_TRAP, "matrix"),
    }
    for name, trace in traces.items():
        for k, step in enumerate(trace.steps):
            if name == "trap" and step.kind != "cover":
                continue
            out[f"{name}-{k + 1:02d}-{step.kind}.svg"] = trace.to_svg(k)
            if name == "trap":
                break  # the first cover is the point
    return out


def main() -> int:
    IMG.mkdir(parents=True, exist_ok=True)
    wanted = images()
    for stale in IMG.glob("*.svg"):
        if stale.name not in wanted:
            stale.unlink()
    for name, svg in wanted.items():
        (IMG / name).write_text(svg, encoding="utf-8")
    print(f"wrote {len(wanted)} pictures to {IMG}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
