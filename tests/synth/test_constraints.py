"""Constraints between columns hold exactly in every sampled row, and only safe formulas parse."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.errors import InvalidInputError
from tessera.synth import GaussianCopula
from tessera.synth._constraints import parse_constraint


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 800
    price = np.round(rng.lognormal(3, 0.5, n), 2)
    quantity = rng.integers(1, 40, n)
    ordered = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")
    shipped = ordered + pd.to_timedelta(rng.integers(0, 15, n), unit="D")
    frame = pd.DataFrame(
        {
            "price": price,
            "quantity": quantity,
            "total": np.round(price * quantity, 2),
            "logprice": np.round(np.log(price + 0.1), 4),
            "ordered": ordered,
            "shipped": shipped,
            "low": rng.normal(0, 1, n).round(3),
        }
    )
    frame["high"] = (frame["low"] + rng.exponential(1.0, n)).round(3)
    return frame


RULES = [
    "total = price * quantity",
    "logprice = log(price + 0.1)",
    "ordered <= shipped",
    "high >= low",
]


def test_rules_hold_exactly_in_every_row(orders) -> None:
    model = GaussianCopula(constraints=RULES).fit(orders)
    synthetic = model.sample(5000, random_state=0)
    assert list(synthetic.columns) == list(orders.columns)
    assert (synthetic["total"] == np.round(synthetic["price"] * synthetic["quantity"], 2)).all()
    assert (synthetic["logprice"] == np.round(np.log(synthetic["price"] + 0.1), 4)).all()
    assert (synthetic["ordered"] <= synthetic["shipped"]).all()
    assert (synthetic["low"] <= synthetic["high"]).all()
    # Dates keep their resolution; the gaps keep their distribution.
    gap = (synthetic["shipped"] - synthetic["ordered"]).dt.days
    assert (synthetic["shipped"] == synthetic["shipped"].dt.normalize()).all()
    assert gap.between(0, 14).all() and abs(gap.mean() - 7.0) < 0.5
    assert synthetic["quantity"].dtype.kind == "i"


def test_without_rules_the_copula_breaks_them(orders) -> None:
    synthetic = GaussianCopula().fit(orders).sample(5000, random_state=0)
    assert (synthetic["low"] > synthetic["high"]).any()
    assert (synthetic["total"] != np.round(synthetic["price"] * synthetic["quantity"], 2)).any()


def test_rules_survive_save_and_load(orders, tmp_path) -> None:
    model = GaussianCopula(constraints=RULES).fit(orders)
    loaded = GaussianCopula.load(model.save(tmp_path / "m.json"))
    pd.testing.assert_frame_equal(
        model.sample(200, random_state=1), loaded.sample(200, random_state=1)
    )


def test_conditions_on_a_constrained_column_are_refused(orders) -> None:
    model = GaussianCopula(constraints=RULES).fit(orders)
    with pytest.raises(InvalidInputError, match="constrained"):
        model.sample(3, conditions={"total": 10.0})
    rows = model.sample(200, conditions={"quantity": 3}, random_state=0)
    assert (rows["total"] == np.round(rows["price"] * 3, 2)).all()


def test_anes96_logpopul_is_kept_exactly() -> None:
    sm = pytest.importorskip("statsmodels.api")
    frame = sm.datasets.anes96.load_pandas().data
    model = GaussianCopula(constraints=["logpopul = log(popul + 0.1)"]).fit(frame)
    synthetic = model.sample(3000, random_state=0)
    assert np.array_equal(synthetic["logpopul"], np.log(synthetic["popul"] + 0.1))


@pytest.mark.parametrize(
    ("rule", "needle"),
    [
        ("total = __import__('os').system('true')", "only the listed functions"),
        ("total = price.real", "Attribute is not allowed"),
        ("total = price if quantity else 1", "IfExp is not allowed"),
        ("total = 'a'", "is not a number"),
        ("total = log(price, 2)", "one argument"),
        ("total + 1 = price", "one column name"),
        ("price <= quantity * 2", "two column names"),
        ("total", "neither a formula nor an order"),
        ("total = total * 2", "cannot be one of its inputs"),
        ("total = price +", "does not parse"),
        ("total = price // 2", "operator is not allowed"),
    ],
)
def test_unsafe_or_malformed_rules_do_not_parse(rule: str, needle: str) -> None:
    with pytest.raises(InvalidInputError, match=needle):
        parse_constraint(rule)


@pytest.mark.parametrize(
    ("rule", "needle"),
    [
        ("total = price * 2", "break it"),
        ("high <= low", "break it"),
        ("nope = price * 2", "'nope' is not a modelled column"),
        ("price <= ordered", "two numeric or two datetime"),
    ],
)
def test_rules_the_data_break_are_errors(orders, rule: str, needle: str) -> None:
    with pytest.raises(InvalidInputError, match=needle):
        GaussianCopula(constraints=[rule]).fit(orders)


@settings(max_examples=25, deadline=None)
@given(
    scale=st.floats(0.1, 100.0),
    offset=st.floats(-50.0, 50.0),
    seed=st.integers(0, 2**16),
)
def test_any_affine_rule_holds(scale: float, offset: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=200)
    frame = pd.DataFrame({"x": x, "z": rng.normal(size=200)})
    frame["y"] = frame["x"] * scale + offset
    rule = f"y = x * {scale!r} + {offset!r}"
    synthetic = GaussianCopula(constraints=[rule]).fit(frame).sample(300, random_state=seed)
    assert np.allclose(synthetic["y"], synthetic["x"] * scale + offset, rtol=0, atol=0)
