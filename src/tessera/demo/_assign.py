"""The demo's assignment section: the taxi example solved, proved, explained, and timed."""

from __future__ import annotations

import html
import itertools
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import NDArray

from tessera.demo._page import Section

if TYPE_CHECKING:
    from tessera.assign import Trace

__all__ = ["assign_section"]

_METHODS: tuple[Literal["matrix", "graph"], ...] = ("matrix", "graph")
# Steps shown as still pictures; the stepping views below them hold every step.
_KEY_STEPS = {
    "matrix": ("row_reduction", "cover", "assign"),
    "graph": ("labels", "revise", "final"),
}
_SPEED_SIZE = 1000

_STYLE = """<style>
.assign-keys figure{width:48%;min-width:320px;margin:.4em .8em .4em 0}
.assign-stepper{margin:1em 0 2em}
.assign-stepper figure[hidden]{display:none}
.assign-stepper .tx h2{font-size:1.1em}
.assign-keys svg{width:100%;height:auto;border:1px solid #d0d7de;border-radius:6px}
.assign-grid{display:flex;flex-wrap:wrap;gap:2em;align-items:flex-start}
.assign-grid>div{flex:1 1 380px;max-width:520px}
.assign-ok{color:#1a7f37;font-weight:600}
</style>"""


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def _greedy(cost: NDArray[np.float64]) -> list[int]:
    """Each row in turn takes its cheapest free column (the rule people use by hand)."""
    free = set(range(cost.shape[1]))
    chosen = []
    for row in cost:
        j = min(free, key=lambda c: (row[c], c))
        free.remove(j)
        chosen.append(j)
    return chosen


def _optimal_assignments(cost: NDArray[np.float64], optimum: float) -> list[tuple[int, ...]]:
    """Every permutation reaching the optimum (brute force: the example is 4 x 4)."""
    n = cost.shape[0]
    return [
        p
        for p in itertools.permutations(range(n))
        if np.isclose(cost[np.arange(n), list(p)].sum(), optimum)
    ]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], caption: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pairs_text(people: Sequence[str], taxis: Sequence[str], cols: Sequence[int]) -> str:
    return ", ".join(f"{p} → {taxis[j]}" for p, j in zip(people, cols, strict=True))


def _speed() -> tuple[float, float, bool, float]:
    """Solve a fresh random 1000 x 1000 problem now; return (ms, scipy ms, verified, total)."""
    import scipy.optimize

    from tessera.assign import solve

    rng = np.random.default_rng()
    solve(rng.random((8, 8)))  # loads the compiled solver, so the timing is the solve alone
    cost = rng.random((_SPEED_SIZE, _SPEED_SIZE))
    start = time.perf_counter()
    result = solve(cost)
    ours = (time.perf_counter() - start) * 1e3
    start = time.perf_counter()
    rows, cols = scipy.optimize.linear_sum_assignment(cost)
    theirs = (time.perf_counter() - start) * 1e3
    agree = bool(np.isclose(result.total_cost, cost[rows, cols].sum(), rtol=1e-12))
    return ours, theirs, bool(result.verify(cost)) and agree, result.total_cost


def _key_figures(trace: Trace, method: str) -> str:
    steps = trace.steps
    wanted = _KEY_STEPS[method]
    picked: list[int] = []
    for kind in wanted:
        # The first step of each kind, except the last kind: its last step.
        matches = [k for k, s in enumerate(steps) if s.kind == kind]
        if matches:
            picked.append(matches[-1] if kind == wanted[-1] else matches[0])
    return "".join(
        f'<figure data-method="{method}" data-step="{k}">{trace.to_svg(k)}'
        f"<figcaption>Step {k + 1}: {html.escape(steps[k].title)}</figcaption></figure>"
        for k in picked
    )


def assign_section() -> Section:
    """Solve, prove and explain the taxi example, and time a 1000 x 1000 problem."""
    from tessera.assign import explain, solve, taxi_example

    minutes, people, taxis = taxi_example()
    cost = minutes.astype(np.float64)
    result = solve(cost)
    total = result.total_cost
    greedy = _greedy(cost)
    greedy_total = float(cost[np.arange(len(greedy)), greedy].sum())
    optima = _optimal_assignments(cost, total)
    verified = result.verify(cost)
    u, v = result.row_potentials, result.col_potentials
    reduced = cost - u[:, None] - v[None, :]
    traces = {m: explain(minutes, m, row_names=people, col_names=taxis) for m in _METHODS}
    ms, scipy_ms, speed_ok, speed_total = _speed()

    found = {m: _pairs_text(people, taxis, t.cols.tolist()) for m, t in traces.items()}
    summary = [
        f"Taxi example: {len(people)} people x {len(taxis)} taxis, optimal total "
        f"{_num(total)} min: {_pairs_text(people, taxis, result.cols.tolist())}",
        f"Greedy (each person takes the nearest free taxi): {_num(greedy_total)} min, "
        f"{_num(greedy_total - total)} more than optimal",
        f"{len(optima)} optimal assignments; the matrix method finds {found['matrix']}, "
        f"the graph method {found['graph']}",
        f"Dual certificate: sum of potentials = {_num(result.dual_objective())}, "
        f"verify() = {verified}",
        f"Explainer: matrix method {len(traces['matrix'].steps)} steps, graph method "
        f"{len(traces['graph'].steps)} steps, totals {_num(traces['matrix'].total_cost)} "
        f"and {_num(traces['graph'].total_cost)}",
        f"Speed: a random {_SPEED_SIZE}x{_SPEED_SIZE} problem solved in {ms:.1f} ms "
        f"(scipy: {scipy_ms:.1f} ms), certificate verified: {speed_ok}",
    ]

    matrix_rows = [[p, *(_num(x) for x in row)] for p, row in zip(people, cost, strict=True)]
    optimal_rows = [
        [people[i], taxis[j], _num(cost[i, j])]
        for i, j in zip(result.rows, result.cols, strict=True)
    ]
    greedy_rows = [[people[i], taxis[j], _num(cost[i, j])] for i, j in enumerate(greedy)]
    dual_rows = [[p, _num(u[i])] for i, p in enumerate(people)]
    col_dual_rows = [[t, _num(v[j])] for j, t in enumerate(taxis)]
    ok = '<span class="assign-ok">true</span>' if verified else "<strong>FALSE</strong>"
    body = f"""{_STYLE}
<p>Four people wait for four taxis. Each cell is the number of minutes a taxi needs to reach a
person. <code>tessera.assign.solve</code> finds the assignment with the least total waiting
time, and returns the proof that nothing cheaper exists.</p>
{_table(["minutes", *taxis], matrix_rows, "The cost matrix (taxi_example())")}
<div class="assign-grid">
<div><h3>Optimal: {_num(total)} minutes</h3>
{_table(["person", "taxi", "minutes"], optimal_rows)}
<p class="muted">{len(optima)} assignments reach {_num(total)}; the matrix method finds
{html.escape(found["matrix"])}, the graph method {html.escape(found["graph"])}.</p></div>
<div><h3>Greedy: {_num(greedy_total)} minutes</h3>
{_table(["person", "taxi", "minutes"], greedy_rows)}
<p class="muted">Each person in turn takes the nearest free taxi: {_num(greedy_total - total)}
minutes more than optimal.</p></div>
</div>
<h3>The dual certificate</h3>
<p>Potentials <i>u</i> (people) and <i>v</i> (taxis) with <i>u</i><sub>i</sub> +
<i>v</i><sub>j</sub> ≤ cost<sub>ij</sub> for every pair (smallest reduced cost
{_num(reduced.min())}), equality on the chosen pairs, and
Σu + Σv = {_num(result.dual_objective())} = the total. By weak duality no assignment costs less.
<code>result.verify(cost)</code> checks exactly this from the numbers alone: {ok}.</p>
<div class="assign-grid">{_table(["person", "u"], dual_rows)}{_table(["taxi", "v"], col_dual_rows)}
</div>
<h3>Why it is optimal: the Hungarian method, step by step</h3>
<p>The explainer records the steps as its solver runs them. The <b>matrix method</b> reduces
rows and columns, covers the zeros with the fewest lines (a maximum matching and König's
theorem) and moves the smallest uncovered entry until n lines are needed. The <b>graph
method</b> keeps feasible labels on people and taxis, grows alternating trees in the equality
subgraph, and revises the labels by the minimum slack until every person is matched.</p>
<h4>Key steps, matrix method</h4>
<div class="assign-keys">{_key_figures(traces["matrix"], "matrix")}</div>
<h4>Key steps, graph method</h4>
<div class="assign-keys">{_key_figures(traces["graph"], "graph")}</div>
<h4>Every step</h4>
<div class="assign-stepper" data-method="matrix">{traces["matrix"].to_html(standalone=False)}</div>
<div class="assign-stepper" data-method="graph">{traces["graph"].to_html(standalone=False)}</div>
<h3>Speed</h3>
<p class="assign-speed">Measured while this page was written: a random
{_SPEED_SIZE}&times;{_SPEED_SIZE} float problem solved in <b>{ms:.1f} ms</b> (scipy's
<code>linear_sum_assignment</code> on the same matrix: {scipy_ms:.1f} ms); same optimum
({speed_total:.6g}), certificate verified: {speed_ok}. <code>make bench</code> runs the full
comparison.</p>
"""
    return Section(
        key="assign",
        title="Optimal assignment: tessera.assign",
        summary=summary,
        body_html=body,
    )
