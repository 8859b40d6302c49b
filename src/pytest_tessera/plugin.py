"""pytest plugin for :mod:`tessera.mltest` (loaded by pytest through the ``pytest11`` entry point).

Kept light on purpose: pytest loads it in every session of every project that
has Tessera installed, so it imports nothing beyond pytest and the standard
library until a fixture asks for :mod:`tessera.mltest`.

- ``--ml-seed=N|random`` (group "tessera"): the base seed, printed in the report header;
- fixtures ``ml_seed`` (reseeds random, numpy and torch per test from the node id),
  ``tiny_classification``, ``tiny_regression``;
- markers ``ml_slow`` and ``ml_latency``;
- a "tessera ML checks" section in the terminal summary.
"""

from __future__ import annotations

import argparse
import random
import sys
import zlib
from collections import Counter
from typing import Any

import pytest

__all__ = [
    "ml_seed",
    "pytest_addoption",
    "pytest_configure",
    "pytest_configure_node",
    "pytest_report_header",
    "pytest_runtest_makereport",
    "tiny_classification",
    "tiny_regression",
]

_SEED = pytest.StashKey[int]()
_WORKER_KEY = "tessera_ml_seed"
_REPORT_ATTR = "tessera_ml_checks"
DEFAULT_SEED = 0


def _seed_argument(value: str) -> int:
    if value == "random":
        return random.SystemRandom().randrange(2**32)
    try:
        seed = int(value)
    except ValueError:
        seed = -1
    if not 0 <= seed < 2**32:
        raise argparse.ArgumentTypeError(
            f"--ml-seed={value!r} is invalid: it must be an integer in [0, 2**32) or 'random'. "
            "Pass e.g. --ml-seed=0."
        )
    return seed


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tessera", "tessera ML testing (tessera.mltest)")
    group.addoption(
        "--ml-seed",
        action="store",
        dest="ml_seed",
        type=_seed_argument,
        default=DEFAULT_SEED,
        metavar="N|random",
        help="Base seed of the ml_seed fixture (each test gets its own seed derived from this "
        f"and its node id). 'random' draws one; the header shows it. Default: {DEFAULT_SEED}.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "ml_slow: an ML check that trains a model (seconds, not milliseconds); "
        "deselect with -m 'not ml_slow'.",
    )
    config.addinivalue_line(
        "markers",
        "ml_latency: a latency-budget check (tessera.mltest.assert_latency) whose result depends "
        "on the machine; deselect on noisy runners with -m 'not ml_latency'.",
    )
    worker_input = getattr(config, "workerinput", None)
    if worker_input is not None and _WORKER_KEY in worker_input:
        config.stash[_SEED] = int(worker_input[_WORKER_KEY])  # same base seed as the controller
    else:
        config.stash[_SEED] = int(config.getoption("ml_seed"))
    config.pluginmanager.register(_ChecksSummary(), "tessera-ml-checks-summary")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: hand the controller's base seed to every worker."""
    node.workerinput[_WORKER_KEY] = node.config.stash[_SEED]


def pytest_report_header(config: pytest.Config) -> str:
    seed = config.stash[_SEED]
    return f"tessera ML: --ml-seed={seed} (rerun with --ml-seed={seed} to reproduce)"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    failure_module = sys.modules.get("tessera.mltest._failure")  # None: no check ran anywhere
    if failure_module is not None:
        records = failure_module.drain_records()
        if records:
            # A plain attribute travels with the report to the xdist controller.
            setattr(report, _REPORT_ATTR, [list(r) for r in records])
    return report


class _ChecksSummary:
    """Collects the checks each test ran and prints them at the end."""

    def __init__(self) -> None:
        self.passed: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.failures: list[tuple[str, str, str]] = []
        self.failed_tests: set[str] = set()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            self.failed_tests.add(report.nodeid)
        for name, passed, detail in getattr(report, _REPORT_ATTR, ()):
            if passed:
                self.passed[name] += 1
            else:
                self.failed[name] += 1
                self.failures.append((report.nodeid, name, detail))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        names = sorted(set(self.passed) | set(self.failed))
        if not names:
            return
        terminalreporter.write_sep("-", "tessera ML checks")
        width = max(len(n) for n in names)
        for name in names:
            parts = [f"{self.passed[name]} passed"]
            if self.failed[name]:
                parts.append(f"{self.failed[name]} failed")
            terminalreporter.write_line(f"{name:<{width}}  {', '.join(parts)}")
        unexpected = [f for f in self.failures if f[0] in self.failed_tests]
        expected = len(self.failures) - len(unexpected)
        if expected:
            terminalreporter.write_line(
                f"({expected} failed check(s) were expected by their tests, e.g. pytest.raises)"
            )
        for nodeid, name, detail in unexpected[:20]:
            first = detail.splitlines()[0] if detail else ""
            terminalreporter.write_line(f"FAILED {nodeid} {name}: {first}")


@pytest.fixture
def ml_seed(request: pytest.FixtureRequest) -> int:
    """This test's seed: stable across runs, distinct between tests, set by ``--ml-seed``.

    Derived from the base seed and the test's node id (CRC-32), and used to
    reseed :mod:`random`, numpy's global generator and torch (when imported)
    before the test runs.
    """
    from tessera.mltest import seed_everything

    base = request.config.stash[_SEED]
    seed = zlib.crc32(f"{base}:{request.node.nodeid}".encode())
    return seed_everything(seed)


@pytest.fixture
def tiny_classification(ml_seed: int) -> Any:
    """60 rows, 4 features, 2 well-separated classes.

    See :func:`tessera.mltest.tiny_classification`; seeded by :func:`ml_seed`.
    """
    from tessera.mltest import tiny_classification as make

    return make(ml_seed)


@pytest.fixture
def tiny_regression(ml_seed: int) -> Any:
    """60 rows, 4 features, a linear target with small noise.

    See :func:`tessera.mltest.tiny_regression`; seeded by :func:`ml_seed`.
    """
    from tessera.mltest import tiny_regression as make

    return make(ml_seed)
