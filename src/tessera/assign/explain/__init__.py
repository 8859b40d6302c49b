"""Step-by-step Hungarian method: traces recorded by the solvers, and their pictures.

- :func:`explain` -- run the matrix (Munkres) or graph (Kuhn-Munkres) method and
  return a :class:`Trace` of typed steps.
- :class:`Trace` -- the steps and the assignment; renders as text, rich, SVG,
  PNG, an animated GIF and a self-contained HTML page.
- :func:`taxi_example` -- the worked example of the docs: four people, four taxis.
"""

from __future__ import annotations

from tessera.assign._examples import taxi_example
from tessera.assign.explain._steps import GraphStep, MatrixStep
from tessera.assign.explain._trace import Trace, explain

__all__ = ["GraphStep", "MatrixStep", "Trace", "explain", "taxi_example"]
