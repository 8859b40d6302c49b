"""Simulated and synthetic data: generators, a fast Gaussian copula, fake people, quality reports.

- :class:`GaussianCopula` -- learn a table's marginals and dependence, sample more rows;
- :func:`fake_people` -- names, emails, phones and addresses, a whole column at a time;
- :func:`linear`, :func:`time_series`, :func:`low_rank`, :func:`classification`,
  :func:`regression`, :func:`blobs`, :func:`distribution` -- seeded generators;
- :func:`customers` -- a seeded customer-like table (keys, households, dates, text, gaps);
- :func:`quality_report` -- shapes, pair trends, coverage, ML efficacy, privacy against a
  holdout; terminal and HTML; :func:`drop_near_copies` enforces a minimum distance;
- :func:`load_spec`, :func:`generate_table` -- declarative table specs, streamed in chunks.
"""

from __future__ import annotations

from tessera.synth._copula import CopulaDescription, GaussianCopula
from tessera.synth._customers import customers
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
from tessera.synth._privacy import drop_near_copies
from tessera.synth._quality import QualityReport, quality_report
from tessera.synth._random import chunk_seeds
from tessera.synth._spec import TableSpec, generate_chunk, load_spec, parse_spec
from tessera.synth._stream import chunk_plan, generate_table, write_chunks

__all__ = [
    "CopulaDescription",
    "GaussianCopula",
    "PEOPLE_FIELDS",
    "QualityReport",
    "TableSpec",
    "blobs",
    "chunk_plan",
    "chunk_seeds",
    "classification",
    "customers",
    "distribution",
    "drop_near_copies",
    "fake_people",
    "generate_chunk",
    "generate_table",
    "linear",
    "load_spec",
    "low_rank",
    "parse_spec",
    "quality_report",
    "regression",
    "time_series",
    "write_chunks",
]
