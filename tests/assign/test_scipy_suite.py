"""scipy's own tests of ``linear_sum_assignment``, run against Tessera's drop-in.

The installed scipy wheel ships ``scipy/optimize/tests/test_linear_assignment.py``.
It runs in a separate pytest process (fresh modules: scipy's parametrize lists are
one-shot iterators, shared with its sparse matching tests) with the plugin
``scipy_swap_plugin``, which makes the module call
:func:`tessera.assign.linear_sum_assignment` instead of scipy's. Each test
function of scipy's module is one test here, passing when every one of its
cases passed. Deliberate differences would be listed in
docs/how-to/replace-scipy.md; there are none.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

SCIPY_MODULE = "scipy.optimize.tests.test_linear_assignment"
scipy_tests = pytest.importorskip(SCIPY_MODULE, reason="this scipy wheel ships no tests")
HERE = Path(__file__).resolve().parent
TEST_FUNCTIONS = sorted(
    name
    for name, value in vars(scipy_tests).items()
    if name.startswith("test") and inspect.isfunction(value)
)
# scipy passes an itertools.product to parametrize, which pytest deprecates:
# scipy's warning to fix, not ours. Every other warning is an error, as in scipy.
INI = """[pytest]
filterwarnings =
    error
    ignore:Passing a non-Collection iterable to parametrize:DeprecationWarning
"""


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[str, str]]]:
    """Run scipy's module once; map each test function to its cases' (id, outcome)."""
    folder = tmp_path_factory.mktemp("scipy_suite")
    (folder / "pytest.ini").write_text(INI, encoding="utf-8")
    report = folder / "report.xml"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(Path(scipy_tests.__file__)),
        "-p",
        "scipy_swap_plugin",
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
    assert "linear_sum_assignment swapped for tessera.assign" in run.stdout, run.stdout
    assert report.exists(), run.stdout + run.stderr
    found: dict[str, list[tuple[str, str]]] = {}
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


def test_scipy_module_has_tests() -> None:
    assert len(TEST_FUNCTIONS) >= 8


@pytest.mark.parametrize("function", TEST_FUNCTIONS)
def test_scipy_test_passes_with_our_function(
    function: str, outcomes: dict[str, list[tuple[str, str]]]
) -> None:
    cases = outcomes.get(function, [])
    assert cases, f"scipy's {function} ran no case"
    failed = [(name, outcome) for name, outcome in cases if outcome != "passed"]
    assert failed == [], failed


def test_every_case_that_ran_belongs_to_a_known_function(
    outcomes: dict[str, list[tuple[str, str]]],
) -> None:
    assert sorted(outcomes) == TEST_FUNCTIONS
