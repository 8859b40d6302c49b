"""Ready-made assertions for testing ML systems, framework-neutral.

Each assertion works inside or outside pytest and raises :class:`MLTestFailure`
(an :class:`AssertionError`) whose message says what was expected, what was
measured, and where (rows, segment, step, line). Inputs may be numpy arrays,
pandas objects or torch tensors; models may be scikit-learn estimators, plain
callables or torch modules.

- training: :func:`assert_loss_decreases`, :func:`assert_training_decreases_loss`,
  :func:`assert_can_overfit`, :func:`assert_reproducible` (with :func:`seed_everything`);
- artifact: :func:`assert_backends_agree`, :func:`assert_latency`,
  :func:`assert_invariant`, :func:`assert_directional` (with the transforms
  :func:`perturb_column`, :func:`shuffle_column`, :func:`add_noise`,
  :func:`set_value`, :func:`scale_column`), :func:`assert_segment_performance`;
- data and config: :func:`assert_frame_contract` (pandera), :func:`validate_config`,
  :func:`assert_sql_valid`.

The pytest plugin (``pytest_tessera``) adds the ``ml_seed``, ``tiny_classification``
and ``tiny_regression`` fixtures and a summary of these checks.
"""

from __future__ import annotations

from tessera.mltest._backends import assert_backends_agree
from tessera.mltest._config import validate_config
from tessera.mltest._failure import MLTestFailure
from tessera.mltest._frames import assert_frame_contract
from tessera.mltest._latency import LatencyStats, assert_latency
from tessera.mltest._metamorphic import assert_directional, assert_invariant
from tessera.mltest._reproducible import assert_reproducible, seed_everything
from tessera.mltest._segments import SegmentScore, assert_segment_performance
from tessera.mltest._sql import assert_sql_valid
from tessera.mltest._tiny import TinyDataset, tiny_classification, tiny_regression
from tessera.mltest._training import (
    assert_can_overfit,
    assert_loss_decreases,
    assert_training_decreases_loss,
)
from tessera.mltest._transforms import (
    Transform,
    add_noise,
    perturb_column,
    scale_column,
    set_value,
    shuffle_column,
)

__all__ = [
    "LatencyStats",
    "MLTestFailure",
    "SegmentScore",
    "TinyDataset",
    "Transform",
    "add_noise",
    "assert_backends_agree",
    "assert_can_overfit",
    "assert_directional",
    "assert_frame_contract",
    "assert_invariant",
    "assert_latency",
    "assert_loss_decreases",
    "assert_reproducible",
    "assert_segment_performance",
    "assert_sql_valid",
    "assert_training_decreases_loss",
    "perturb_column",
    "scale_column",
    "seed_everything",
    "set_value",
    "shuffle_column",
    "tiny_classification",
    "tiny_regression",
    "validate_config",
]
