"""Conditioning on a value: atoms of continuous columns, segments, and statsmodels' fair.

A condition ``{column: value}`` must give the other columns the distribution the model
itself gives them among its rows with that value (rejection sampling is the reference),
and, on real data with a value shared by many rows, the real conditional distribution.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.synth import GaussianCopula
from tessera.synth._columns import ColumnModel
from tessera.synth._marginals import ContinuousMarginal, DiscreteMarginal
from tessera.synth._segments import condition_likelihood


def total_variation(a: pd.Series, b: pd.Series) -> float:
    p = a.value_counts(normalize=True)
    q = b.value_counts(normalize=True)
    return float(0.5 * p.sub(q, fill_value=0.0).abs().sum())


@pytest.fixture(scope="module")
def fair() -> pd.DataFrame:
    """statsmodels' fair (6,366 rows), occupations as categories, as synth_bench loads it."""
    sm = pytest.importorskip("statsmodels.api")
    frame = sm.datasets.fair.load_pandas().data
    for column in ("occupation", "occupation_husb"):
        frame[column] = frame[column].astype(int).map(lambda v: f"occ{v}")
    return frame


@settings(max_examples=60, deadline=None)
@given(
    # An atom is a value of at least 5 rows and 1% of them (fewer are smoothed).
    zeros=st.integers(5, 300),
    others=st.integers(2, 300),
    seed=st.integers(0, 2**16),
)
def test_an_atom_owns_its_share_of_the_rows(zeros: int, others: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = np.concatenate([np.zeros(zeros), rng.uniform(0.5, 10.0, others)])
    marginal = ContinuousMarginal.fit(values, decimals=None)
    assert marginal.mass(0.0) == pytest.approx(zeros / values.size, abs=1e-9)
    assert marginal.density(0.0) == 0.0
    lower, upper = marginal.to_latent(0.0)
    assert lower == -np.inf and upper > lower
    # A value held once is a point with a density and no mass.
    single = float(np.sort(values)[-2])
    assert marginal.mass(single) == 0.0
    assert marginal.to_latent(single)[0] == marginal.to_latent(single)[1]


def test_an_atom_inside_the_range_is_an_interval_of_the_right_mass() -> None:
    values = np.concatenate([np.arange(100.0), np.full(50, 42.5)])
    marginal = ContinuousMarginal.fit(values, decimals=None)
    lower, upper = marginal.to_latent(42.5)
    assert np.isfinite(lower) and np.isfinite(upper)
    assert marginal.mass(42.5) == pytest.approx(50 / 150)


def test_likelihood_never_mixes_probabilities_with_densities() -> None:
    # Segment 0 holds 0.0 as a discrete value (probability 0.5), segment 1 as a point of a
    # continuous column (density only), segment 2 as an atom (probability 0.6).
    discrete = DiscreteMarginal.fit(np.array([0.0, 1.0, 0.0, 2.0]))
    continuous = ContinuousMarginal.fit(np.linspace(-1.0, 1.0, 101), decimals=None)
    atom_values = np.concatenate([np.zeros(60), np.arange(1.0, 41.0)])
    atom = ContinuousMarginal.fit(atom_values, decimals=None)
    segments = [
        [ColumnModel("x", "float", "float64", 0.0, marginal)]
        for marginal in (discrete, continuous, atom)
    ]
    weights = condition_likelihood(segments, {"x": 0.0})
    assert weights == pytest.approx([0.5, 0.0, 0.6])
    # Where no segment holds the value with a probability, densities decide.
    weights = condition_likelihood(segments[1:2], {"x": 0.5})
    assert weights[0] > 0.0


def test_fair_conditioned_on_no_affairs_matches_the_real_rows(fair: pd.DataFrame) -> None:
    """The reported bug: occupation 1 had 19.8% instead of 0.8% given affairs == 0."""
    model = GaussianCopula().fit(fair)
    assert model.segment_by_ == "occupation"
    synthetic = model.sample(20_000, conditions={"affairs": 0.0}, random_state=0)
    assert (synthetic["affairs"] == 0.0).all()
    real = fair[fair["affairs"] == 0.0]
    share = synthetic["occupation"].value_counts(normalize=True)
    assert share["occ1"] == pytest.approx((real["occupation"] == "occ1").mean(), abs=0.005)
    assert total_variation(synthetic["occupation"], real["occupation"]) < 0.02
    # The model's own answer by rejection: its unconditional rows with affairs == 0.
    free = model.sample(60_000, random_state=1)
    free = free[free["affairs"] == 0.0]
    assert len(free) / 60_000 == pytest.approx(len(real) / len(fair), abs=0.01)
    for column in ("occupation", "rate_marriage", "religious", "children", "age"):
        assert total_variation(synthetic[column], free[column]) < 0.02, column
        assert total_variation(synthetic[column], real[column]) < 0.07, column


def test_fair_unsegmented_condition_is_the_models_own_conditional(fair: pd.DataFrame) -> None:
    model = GaussianCopula(segment_by=None).fit(fair)
    synthetic = model.sample(20_000, conditions={"affairs": 0.0}, random_state=0)
    free = model.sample(60_000, random_state=1)
    free = free[free["affairs"] == 0.0]
    for column in ("occupation", "rate_marriage", "religious"):
        assert total_variation(synthetic[column], free[column]) < 0.02, column


def test_grunfeld_firms_condition_through_an_explicit_segment() -> None:
    """11 firms of 20 rows: too small for auto segments, enough when asked for."""
    sm = pytest.importorskip("statsmodels.api")
    frame = sm.datasets.grunfeld.load_pandas().data
    assert GaussianCopula().fit(frame).segment_by_ is None
    model = GaussianCopula(segment_by="firm").fit(frame)
    assert model.segment_by_ == "firm" and len(model.segments_) == 11
    synthetic = model.sample(4000, conditions={"firm": "General Motors"}, random_state=0)
    real = frame[frame["firm"] == "General Motors"]
    for column in ("invest", "value", "capital"):
        assert synthetic[column].between(real[column].min(), real[column].max()).all()
        spread = real[column].std()
        assert abs(synthetic[column].mean() - real[column].mean()) < 0.15 * spread, column
