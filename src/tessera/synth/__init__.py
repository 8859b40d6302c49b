"""Simulated and synthetic data: generators, a fast Gaussian copula, fake people, quality reports.

- :class:`GaussianCopula` -- learn a table's marginals and dependence, sample more rows;
"""

from __future__ import annotations

from tessera.synth._copula import CopulaDescription, GaussianCopula

__all__ = [
    "CopulaDescription",
    "GaussianCopula",
]
