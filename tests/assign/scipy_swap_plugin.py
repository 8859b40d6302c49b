"""A pytest plugin that runs scipy's own tests against Tessera's drop-ins.

Loaded with ``-p scipy_swap_plugin`` in a separate pytest process by
``test_scipy_suite.py``: every collected test module that calls one of scipy's
functions listed in :data:`SWAPS` calls Tessera's instead. ``--swap NAME``
(repeatable) narrows the swap to those names, so that a module which calls
several (scipy's ``test_linear_assignment.py`` calls both) checks one drop-in
against scipy's other function. Nothing of scipy's test code is copied; only
the name its module looks up at run time changes.
"""

from __future__ import annotations

from typing import Any

import pytest

SWAPS = {
    "linear_sum_assignment": ("tessera.assign", "linear_sum_assignment"),
    "min_weight_full_bipartite_matching": ("tessera.assign", "min_weight_full_bipartite_matching"),
}


def _ours(name: str) -> Any:
    import importlib

    module, attribute = SWAPS[name]
    return getattr(importlib.import_module(module), attribute)


def _swapped(config: pytest.Config) -> list[str]:
    chosen: list[str] = config.getoption("swap") or list(SWAPS)
    unknown = sorted(set(chosen) - set(SWAPS))
    if unknown:
        raise pytest.UsageError(f"--swap {unknown}: only {sorted(SWAPS)} can be swapped")
    return chosen


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("scipy_swap").addoption(
        "--swap", action="append", default=[], help="swap only this scipy name (repeatable)"
    )


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"scipy's {name} swapped for {'.'.join(SWAPS[name])}" for name in _swapped(config)]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    names = _swapped(config)
    for item in items:
        module = getattr(item, "module", None)
        swapped = [name for name in names if hasattr(module, name)]
        if not swapped:
            raise pytest.UsageError(f"{item.nodeid}: its module calls none of {names}")
        for name in swapped:
            setattr(module, name, _ours(name))
