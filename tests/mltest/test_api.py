"""The public surface of tessera.mltest: exports, the failure type, records, docs, light import."""

from __future__ import annotations

import doctest
import inspect
import pickle
import subprocess
import sys

import numpy as np
import pytest

import tessera.mltest as mltest
from tessera.mltest import MLTestFailure, tiny_classification, tiny_regression
from tessera.mltest._failure import drain_records

MODULES = sorted(name for name in sys.modules if name.startswith("tessera.mltest._"))


def test_all_is_sorted_and_exactly_the_public_names() -> None:
    assert mltest.__all__ == sorted(mltest.__all__)
    public = {
        n
        for n, v in vars(mltest).items()
        if not n.startswith("_") and not inspect.ismodule(v) and n != "annotations"
    }
    assert public == set(mltest.__all__)


def test_every_public_function_has_a_numpydoc_example() -> None:
    for name in mltest.__all__:
        obj = getattr(mltest, name)
        doc = inspect.getdoc(obj) or ""
        assert doc, name
        if inspect.isfunction(obj):
            assert "Examples\n--------\n>>>" in doc, f"{name} has no example"


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module: str) -> None:
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    failures: list[str] = []
    for test in finder.find(sys.modules[module]):
        runner.run(test, out=failures.append)
    assert runner.failures == 0, "".join(failures)


def test_the_failure_is_an_assertion_error_with_fields_and_pickles() -> None:
    failure = MLTestFailure(
        "assert_x", expected="e", measured="m", where="row 3", rows=(3,), details={"k": 1}
    )
    assert isinstance(failure, AssertionError)
    assert str(failure) == "assert_x failed\n  expected: e\n  measured: m\n  where:    row 3"
    copy = pickle.loads(pickle.dumps(failure))
    assert (copy.check, copy.expected, copy.measured, copy.where, copy.rows, copy.details) == (
        "assert_x",
        "e",
        "m",
        "row 3",
        (3,),
        {"k": 1},
    )
    assert "where" not in str(MLTestFailure("c", expected="e", measured="m"))


def test_checks_are_recorded_passed_and_failed() -> None:
    drain_records()
    mltest.assert_loss_decreases([2.0, 1.0])
    with pytest.raises(MLTestFailure):
        mltest.assert_loss_decreases([1.0, 2.0])
    records = drain_records()
    assert [(name, passed) for name, passed, _ in records] == [
        ("assert_loss_decreases", True),
        ("assert_loss_decreases", False),
    ]
    assert "a rise of 100.0%" in records[1][2]
    assert drain_records() == []


def test_tiny_datasets_are_seeded_and_learnable() -> None:
    first, again = tiny_classification(seed=4), tiny_classification(seed=4)
    assert np.array_equal(first.X, again.X) and not np.array_equal(
        first.X, tiny_classification(5).X
    )
    X, y = tiny_classification(seed=4, n_rows=90, n_classes=3)
    assert X.shape == (90, 4) and np.bincount(y).tolist() == [30, 30, 30]
    centroids = np.array([X[y == c].mean(axis=0) for c in range(3)])
    nearest = np.argmin(((X[:, None, :] - centroids[None]) ** 2).sum(axis=2), axis=1)
    assert np.mean(nearest == y) > 0.9
    frame = tiny_regression(seed=1).frame()
    assert list(frame.columns) == ["x0", "x1", "x2", "x3", "target"]
    X, y = tiny_regression(seed=1, noise=0.0)
    coef = np.linalg.lstsq(np.column_stack([X, np.ones(60)]), y, rcond=None)[0]
    assert np.allclose(coef, [1, -2, 3, -4, 0.5])


def test_import_is_light() -> None:
    code = (
        "import sys, tessera.mltest;"
        "heavy = [m for m in ('torch', 'sklearn', 'pandas', 'pandera', 'pydantic', 'yaml',"
        " 'sqlglot', 'numba', 'matplotlib', 'scipy') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
