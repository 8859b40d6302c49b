"""scipy's own tests of its assignment functions, run against Tessera's drop-ins.

The installed scipy wheel ships ``scipy/optimize/tests/test_linear_assignment.py``
and ``scipy/sparse/csgraph/tests/test_matching.py``. Each runs in a separate
pytest process (fresh modules: scipy's parametrize lists are one-shot
iterators, shared between the two modules) with the plugin
``scipy_swap_plugin``, which makes the module call Tessera's function instead
of scipy's: :func:`tessera.assign.linear_sum_assignment` in the first,
:func:`tessera.assign.min_weight_full_bipartite_matching` in the second (its
``maximum_bipartite_matching`` tests stay scipy's, run alongside). Each test
function of scipy's modules is one test here, passing when every one of its
cases passed. Deliberate differences would be listed in
docs/how-to/replace-scipy.md; none shows in these modules.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest

# scipy's test module -> the one scipy name swapped for Tessera's while it runs.
SUITES = {
    "scipy.optimize.tests.test_linear_assignment": "linear_sum_assignment",
    "scipy.sparse.csgraph.tests.test_matching": "min_weight_full_bipartite_matching",
}
MODULES: dict[str, ModuleType] = {
    name: pytest.importorskip(name, reason="this scipy wheel ships no tests") for name in SUITES
}
HERE = Path(__file__).resolve().parent
TEST_FUNCTIONS = {
    suite: sorted(
        name
        for name, value in vars(module).items()
        if name.startswith("test") and inspect.isfunction(value)
    )
    for suite, module in MODULES.items()
}
CASES = [(suite, function) for suite in SUITES for function in TEST_FUNCTIONS[suite]]
# scipy passes an itertools.product to parametrize, which pytest deprecates:
# scipy's warning to fix, not ours. Every other warning is an error, as in scipy.
INI = """[pytest]
filterwarnings =
    error
    ignore:Passing a non-Collection iterable to parametrize:DeprecationWarning
"""

Outcomes = dict[str, list[tuple[str, str]]]


def _run_suite(suite: str, folder: Path) -> Outcomes:
    """Run one scipy module with its name swapped; map each test function to its cases."""
    (folder / "pytest.ini").write_text(INI, encoding="utf-8")
    report = folder / "report.xml"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    swap = SUITES[suite]
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(Path(MODULES[suite].__file__ or "")),
        "-p",
        "scipy_swap_plugin",
        "--swap",
        swap,
        "-c",
        str(folder / "pytest.ini"),
        "--rootdir",
        str(folder),
        "--noconftest",
        "-p",
        "no:cacheprovider",
        f"--junitxml={report}",
    ]
    run = subprocess.run(command, capture_output=True, text=True, env=env, cwd=folder)
    assert f"scipy's {swap} swapped for tessera.assign" in run.stdout, run.stdout + run.stderr
    assert report.exists(), run.stdout + run.stderr
    found: Outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = case.get("name", "")
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = f"{child.tag}: {child.get('message', '')}"
        found.setdefault(name.split("[")[0], []).append((name, outcome))
    if run.returncode not in (0, 1):  # 1 = some tests failed: reported per function below
        pytest.fail(f"pytest exited {run.returncode}:\n{run.stdout}\n{run.stderr}")
    return found


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcomes]:
    """Each scipy module's outcomes, run once on first use."""

    class Lazy(dict[str, Outcomes]):
        def __missing__(self, suite: str) -> Outcomes:
            self[suite] = _run_suite(suite, tmp_path_factory.mktemp("scipy_suite"))
            return self[suite]

    return Lazy()


@pytest.mark.parametrize("suite", list(SUITES))
def test_scipy_module_has_tests(suite: str) -> None:
    assert len(TEST_FUNCTIONS[suite]) >= 8


@pytest.mark.parametrize(("suite", "function"), CASES)
def test_scipy_test_passes_with_our_function(
    suite: str, function: str, outcomes: dict[str, Outcomes]
) -> None:
    cases = outcomes[suite].get(function, [])
    assert cases, f"scipy's {function} ran no case"
    failed = [(name, outcome) for name, outcome in cases if outcome != "passed"]
    assert failed == [], failed


@pytest.mark.parametrize("suite", list(SUITES))
def test_every_case_that_ran_belongs_to_a_known_function(
    suite: str, outcomes: dict[str, Outcomes]
) -> None:
    assert sorted(outcomes[suite]) == TEST_FUNCTIONS[suite]
