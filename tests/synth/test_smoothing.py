"""Kernel-smoothed continuous marginals: against scipy's KDE, the truth, atoms and ranges."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from tessera.synth._marginals import SMOOTHING, ContinuousMarginal, silverman_bandwidth


def model_cdf(marginal: ContinuousMarginal, x: np.ndarray) -> np.ndarray:
    """The marginal's CDF: Phi of the latent score its knots give ``x``."""
    return np.asarray(special.ndtr(np.interp(x, marginal.x_knots, marginal.z_knots)))


def test_silverman_matches_the_textbook_rule() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(3.0, 2.0, 400)
    iqr = np.subtract(*np.percentile(values, [75, 25]))
    expected = 0.9 * min(values.std(ddof=1), iqr / 1.34) * 400 ** (-0.2)
    assert silverman_bandwidth(values) == pytest.approx(expected)


@pytest.mark.parametrize("n", [30, 150, 900])
def test_cdf_equals_scipys_reflected_gaussian_kde(n: int) -> None:
    # Reference: scipy's gaussian_kde of the data and its mirror images at min and max,
    # with the same kernel width, integrated over [min, x] and renormalised.
    rng = np.random.default_rng(n)
    values = rng.gamma(2.0, 1.5, n)
    marginal = ContinuousMarginal.fit(values, decimals=None)
    low, high = values.min(), values.max()
    width = SMOOTHING * silverman_bandwidth(values)
    mirrored = np.concatenate([values, 2 * low - values, 2 * high - values])
    kde = stats.gaussian_kde(mirrored, bw_method=width / mirrored.std(ddof=1))
    total = kde.integrate_box_1d(low, high)
    xs = np.linspace(low, high, 41)
    reference = np.array([kde.integrate_box_1d(low, x) / total for x in xs])
    np.testing.assert_allclose(model_cdf(marginal, xs), reference, atol=2e-3)


def test_smoothed_marginal_is_nearer_the_truth_than_the_interpolated_sample() -> None:
    # Small samples of a known law: the kernel CDF misses Phi by less, on average, than
    # the order statistics interpolated (the previous marginal, smoothing=None).
    grid = np.linspace(-2.5, 2.5, 201)
    smoothed, raw = [], []
    for seed in range(25):
        values = np.random.default_rng(seed).normal(size=60)
        inside = grid[(grid > values.min()) & (grid < values.max())]
        truth = stats.norm.cdf(inside)
        for smoothing, out in ((SMOOTHING, smoothed), (None, raw)):
            marginal = ContinuousMarginal.fit(values, decimals=None, smoothing=smoothing)
            out.append(np.abs(model_cdf(marginal, inside) - truth).max())
    assert np.mean(smoothed) < 0.85 * np.mean(raw)


def test_without_smoothing_the_knots_are_the_order_statistics() -> None:
    values = np.random.default_rng(1).uniform(size=50)
    marginal = ContinuousMarginal.fit(values, decimals=None, smoothing=None)
    np.testing.assert_array_equal(marginal.x_knots, np.sort(values))


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(3, 400),
    decimals=st.sampled_from([None, 0, 2]),
    seed=st.integers(0, 2**16),
)
def test_samples_stay_in_range_and_keep_the_decimals(
    n: int, decimals: int | None, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    values = rng.lognormal(3.0, 1.0, n)
    if decimals is not None:
        values = np.round(values, decimals)
    if np.unique(values).size < 2:
        return
    marginal = ContinuousMarginal.fit(values, decimals=decimals)
    drawn = marginal.sample(rng.standard_normal(5000))
    assert drawn.min() >= values.min() and drawn.max() <= values.max()
    if decimals is not None:
        np.testing.assert_array_equal(drawn, np.round(drawn, decimals))
    assert np.all(np.diff(marginal.z_knots) >= 0)
    assert np.all(np.diff(marginal.x_knots) >= 0)


def test_smoothing_fills_the_gaps_between_real_values() -> None:
    # Integers 0, 10, 20, ..., 200 (one row each): sampled values fill the gaps rather
    # than replaying the data, and keep its spread.
    values = np.arange(0.0, 201.0, 10.0)
    drawn = ContinuousMarginal.fit(values, decimals=0).sample(
        np.random.default_rng(0).standard_normal(20_000)
    )
    assert np.isin(drawn, values).mean() < 0.2
    assert drawn.std() == pytest.approx(values.std(), rel=0.1)


def test_an_atom_is_kept_whole_and_the_rest_is_smoothed() -> None:
    rng = np.random.default_rng(3)
    values = np.concatenate([np.zeros(120), rng.uniform(1.0, 9.0, 80)])
    marginal = ContinuousMarginal.fit(values, decimals=None)
    drawn = marginal.sample(rng.standard_normal(40_000))
    assert np.mean(drawn == 0.0) == pytest.approx(0.6, abs=0.01)
    assert marginal.mass(0.0) == pytest.approx(0.6, abs=1e-12)
    # Away from the atom there is no other repeated value.
    rest = drawn[drawn > 0]
    assert np.unique(rest).size > 0.95 * rest.size
