"""Simulated and synthetic data: generators, a fast Gaussian copula, fake people, quality reports.

- :class:`GaussianCopula` -- learn a table's marginals and dependence, sample more rows;
- :func:`fake_people` -- names, emails, phones and addresses, a whole column at a time;
- :func:`linear`, :func:`time_series`, :func:`low_rank`, :func:`classification`,
  :func:`regression`, :func:`blobs`, :func:`distribution` -- seeded generators;
- :func:`quality_report` -- shapes, pair trends, coverage, ML efficacy; terminal and HTML.
"""

from __future__ import annotations

from tessera.synth._copula import CopulaDescription, GaussianCopula
from tessera.synth._generators import (
    blobs,
    classification,
    distribution,
    linear,
    low_rank,
    regression,
    time_series,
)
from tessera.synth._people import PEOPLE_FIELDS, fake_people
from tessera.synth._quality import QualityReport, quality_report

__all__ = [
    "PEOPLE_FIELDS",
    "CopulaDescription",
    "GaussianCopula",
    "QualityReport",
    "blobs",
    "classification",
    "distribution",
    "fake_people",
    "linear",
    "low_rank",
    "quality_report",
    "regression",
    "time_series",
]
