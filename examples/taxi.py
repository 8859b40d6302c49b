"""Four people, four taxis: the Hungarian method explained two ways.

Run from the repository root::

    python examples/taxi.py            # writes out/taxi/
    python examples/taxi.py OUT_DIR

It prints both traces and the greedy contrast, and writes a stepping HTML page
and an animated GIF per method.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
from rich.console import Console

from tessera.assign import explain, solve

HERE = Path(__file__).resolve().parent


def load(path: Path) -> tuple[np.ndarray, list[str], list[str]]:
    """Read a cost table: a header row of column names, an index column of row names."""
    with open(path, newline="", encoding="utf-8") as handle:
        table = list(csv.reader(handle))
    taxis = table[0][1:]
    people = [row[0] for row in table[1:]]
    cost = np.array([[int(x) for x in row[1:]] for row in table[1:]])
    return cost, people, taxis


def greedy(cost: np.ndarray) -> list[int]:
    """Each person in turn takes the nearest free taxi."""
    free = list(range(cost.shape[1]))
    chosen = []
    for row in cost:
        j = min(free, key=lambda c: (row[c], c))
        free.remove(j)
        chosen.append(j)
    return chosen


def main(out_dir: Path) -> None:
    console = Console()
    cost, people, taxis = load(HERE / "taxi.csv")
    out_dir.mkdir(parents=True, exist_ok=True)
    for method in ("matrix", "graph"):
        trace = explain(cost, method, row_names=people, col_names=taxis)
        console.print(trace.to_text())
        trace.save(out_dir / f"{method}.html")
        trace.to_gif(out_dir / f"{method}.gif", fps=0.7)
    picks = greedy(cost)
    total = sum(int(cost[i, j]) for i, j in enumerate(picks))
    pairs = ", ".join(f"{p} → {taxis[j]}" for p, j in zip(people, picks, strict=True))
    console.print(f"Greedy (nearest free taxi, in turn): {pairs}; total {total} minutes")
    console.print(f"Optimal (tessera.assign.solve): total {solve(cost).total_cost:g} minutes")
    console.print(f"Pages and animations written to {out_dir}/")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("out") / "taxi")
