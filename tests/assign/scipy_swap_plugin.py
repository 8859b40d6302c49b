"""A pytest plugin that runs scipy's own tests against Tessera's drop-ins.

Loaded with ``-p scipy_swap_plugin`` in a separate pytest process by
``test_scipy_suite.py``: every collected test module that calls one of scipy's
functions listed in :data:`SWAPS` calls Tessera's instead. Nothing of scipy's
test code is copied; only the name its module looks up at run time changes.
"""

from __future__ import annotations

from typing import Any

import pytest

SWAPS = {"linear_sum_assignment": ("tessera.assign", "linear_sum_assignment")}


def _ours(name: str) -> Any:
    import importlib

    module, attribute = SWAPS[name]
    return getattr(importlib.import_module(module), attribute)


def pytest_report_header() -> list[str]:
    return [f"scipy's {name} swapped for {'.'.join(SWAPS[name])}" for name in SWAPS]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = getattr(item, "module", None)
        swapped = [name for name in SWAPS if hasattr(module, name)]
        if not swapped:
            raise pytest.UsageError(f"{item.nodeid}: its module calls none of {sorted(SWAPS)}")
        for name in swapped:
            setattr(module, name, _ours(name))
