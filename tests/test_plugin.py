"""The pytest_tessera plugin, run inside pytester sessions."""

from __future__ import annotations

import re
import subprocess
import sys
import zlib

import numpy as np
import pytest

import tessera.mltest  # noqa: F401 - loaded here (numpy too), so in-process runs never re-import it

pytest_plugins = ["pytester"]

SEEDS = """
import random
import numpy as np

def test_one(ml_seed):
    print(f"SEED one {ml_seed} {np.random.rand():.12f} {random.random():.12f}")

def test_two(ml_seed):
    print(f"SEED two {ml_seed}")
"""


def _seeds(result: pytest.RunResult) -> dict[str, list[str]]:
    found = re.findall(r"SEED (\w+) (.*)", result.stdout.str())
    return {name: rest.split() for name, rest in found}


def test_the_header_shows_the_seed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok(): pass")
    pytester.runpytest().stdout.fnmatch_lines(
        ["tessera ML: --ml-seed=0 (rerun with --ml-seed=0 to reproduce)"]
    )
    pytester.runpytest("--ml-seed=123").stdout.fnmatch_lines(["tessera ML: --ml-seed=123 *"])
    drawn = pytester.runpytest("--ml-seed=random").stdout.str()
    assert re.search(r"tessera ML: --ml-seed=(\d+) \(rerun with --ml-seed=\1 to reproduce\)", drawn)


@pytest.mark.parametrize("bad", ["abc", "-1", str(2**32)])
def test_a_bad_seed_is_a_usage_error(pytester: pytest.Pytester, bad: str) -> None:
    result = pytester.runpytest(f"--ml-seed={bad}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--ml-seed='{bad}' is invalid: it must be an integer in*"])


def test_the_option_sits_in_its_own_group(pytester: pytest.Pytester) -> None:
    pytester.runpytest("--help").stdout.fnmatch_lines(
        ["tessera ML testing (tessera.mltest):", "  --ml-seed=N|random*"]
    )


def test_markers_are_registered_with_help(pytester: pytest.Pytester) -> None:
    pytester.runpytest("--markers").stdout.fnmatch_lines(
        [
            "@pytest.mark.ml_slow: an ML check that trains a model*",
            "@pytest.mark.ml_latency: a latency-budget check*",
        ]
    )
    pytester.makepyfile("""
        import pytest

        @pytest.mark.ml_slow
        def test_slow(): pass

        @pytest.mark.ml_latency
        def test_latency(): pass
    """)
    pytester.runpytest("--strict-markers").assert_outcomes(passed=2)
    pytester.runpytest("--strict-markers", "-m", "not ml_latency").assert_outcomes(
        passed=1, deselected=1
    )


def test_ml_seed_is_stable_per_test_distinct_between_tests_and_reseeds(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(SEEDS)
    first = _seeds(pytester.runpytest("-s"))
    again = _seeds(pytester.runpytest("-s"))
    other = _seeds(pytester.runpytest("-s", "--ml-seed=9"))
    assert first == again
    assert first["one"][0] != first["two"][0]
    assert first["one"][0] != other["one"][0]
    # The fixture reseeded numpy and random with its seed before the test ran.
    import random

    seed = int(first["one"][0])
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002
    assert first["one"][1:] == [f"{np.random.rand():.12f}", f"{random.random():.12f}"]  # noqa: NPY002


def test_tiny_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import numpy as np

        def test_classification(tiny_classification, ml_seed):
            X, y = tiny_classification
            assert X.shape == (60, 4) and set(np.unique(y)) == {0, 1}
            from tessera.mltest import tiny_classification as make
            assert np.array_equal(make(ml_seed).X, X)

        def test_regression(tiny_regression):
            X, y = tiny_regression
            assert X.shape == (60, 4) and y.dtype == np.float64
            assert list(tiny_regression.frame().columns)[-1] == "target"
    """)
    pytester.runpytest().assert_outcomes(passed=2)


CHECKS = """
import numpy as np
import pytest
from tessera.mltest import MLTestFailure, assert_invariant, assert_loss_decreases, add_noise

def test_passes():
    assert_loss_decreases([3.0, 2.0, 1.0])
    assert_invariant(lambda X: X[:, 0], np.ones((5, 2)), add_noise(0.1, columns=[1]))

def test_expected_failure():
    with pytest.raises(MLTestFailure):
        assert_loss_decreases([1.0, 1.0])

def test_broken_model():
    assert_invariant(lambda X: X[:, 1], np.ones((5, 2)), add_noise(0.1, columns=[1]))
"""


def test_the_summary_lists_the_checks_and_the_real_failures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CHECKS)
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- tessera ML checks -*",
            "assert_invariant       1 passed, 1 failed",
            "assert_loss_decreases  1 passed, 1 failed",
            "(1 failed check(s) were expected by their tests, e.g. pytest.raises)",
            "FAILED test_the_summary_lists_the_checks_and_the_real_failures.py::test_broken_model "
            "assert_invariant: 0 of 5 rows (0.0%) kept their prediction*",
        ]
    )
    # The failure itself reads as expected / measured / where in the test report.
    result.stdout.fnmatch_lines(
        [
            "E * assert_invariant failed",
            "E *expected: predictions unchanged (|change| <= 1e-06) under add_noise(*",
        ]
    )


def test_no_summary_without_checks_and_the_plugin_can_be_disabled(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("def test_ok(): pass")
    assert "tessera ML checks" not in pytester.runpytest().stdout.str()
    disabled = pytester.runpytest("-p", "no:tessera").stdout.str()
    assert "tessera ML:" not in disabled


FILE_SEEDS = """
from pathlib import Path

def test_one(ml_seed):
    (Path(__file__).parent / "seed_one.txt").write_text(str(ml_seed))

def test_two(ml_seed):
    (Path(__file__).parent / "seed_two.txt").write_text(str(ml_seed))
"""


def test_xdist_workers_share_the_seed_and_report_their_checks(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist", reason="pytest-xdist is not installed")
    pytester.makepyfile(test_seeds=FILE_SEEDS, test_checks=CHECKS)

    result = pytester.runpytest_subprocess("-n", "2", "--ml-seed=random")
    result.assert_outcomes(passed=4, failed=1)
    header = re.search(r"tessera ML: --ml-seed=(\d+)", result.stdout.str())
    assert header is not None
    # Each worker derived its tests' seeds from the controller's drawn seed, not its own draw.
    for name in ("one", "two"):
        expected = zlib.crc32(f"{header.group(1)}:test_seeds.py::test_{name}".encode())
        assert (pytester.path / f"seed_{name}.txt").read_text() == str(expected)
    result.stdout.fnmatch_lines(
        [
            "*- tessera ML checks -*",
            "assert_invariant       1 passed, 1 failed",
            "FAILED *test_broken_model assert_invariant:*",
        ]
    )


def test_the_plugin_module_is_light() -> None:
    code = (
        "import sys, pytest_tessera.plugin;"
        "heavy = [m for m in ('tessera', 'numpy', 'pandas', 'torch') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
