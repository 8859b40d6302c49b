"""Simulated and synthetic data: generators, a fast Gaussian copula, fake people, quality reports.

- :class:`GaussianCopula` -- learn a table's marginals and dependence, sample more rows;
- :func:`fake_people` -- names, emails, phones and addresses, a whole column at a time;
"""

from __future__ import annotations

from tessera.synth._copula import CopulaDescription, GaussianCopula
from tessera.synth._people import PEOPLE_FIELDS, fake_people

__all__ = [
    "PEOPLE_FIELDS",
    "CopulaDescription",
    "GaussianCopula",
    "fake_people",
]
