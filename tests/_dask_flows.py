"""Code functions for the flows-on-Dask tests, importable in the workers (``tests/`` is on
their ``sys.path``, inherited from the test process that started the cluster)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

#: The allow-list entry of :func:`crash_once`.
CRASH_ONCE = "_dask_flows:crash_once"


def crash_once(text: str) -> str:
    """``text`` upper-cased; ``"crash:<marker>"`` kills its process once, at the first call.

    The first call for a marker that does not exist creates it and ends the process at once
    (``os._exit``, as a segfault or an out-of-memory kill would: no exception, no cleanup).
    Later calls find the marker and answer ``"CRASHED ONCE"``. ``"crash always"`` ends
    the process at every call.
    """
    if text == "crash always":
        os._exit(17)
    if text.startswith("crash:"):
        marker = Path(text.removeprefix("crash:"))
        if not marker.exists():
            marker.touch()
            os._exit(17)
        return "CRASHED ONCE"
    return text.upper()


def count_loads() -> None:
    """Count the calls of :func:`tessera.llm.load` in this process from now on.

    The real function still runs (it is only wrapped); :func:`loads_counted` reads the count.
    """
    import tessera.llm

    original = getattr(tessera.llm.load, "__wrapped__", tessera.llm.load)

    def load(*args: Any, **kwargs: Any) -> Any:
        load.calls += 1  # type: ignore[attr-defined]
        return original(*args, **kwargs)

    load.calls = 0  # type: ignore[attr-defined]
    load.__wrapped__ = original  # type: ignore[attr-defined]
    tessera.llm.load = load


def loads_counted() -> int:
    """The calls of :func:`tessera.llm.load` since :func:`count_loads` (-1: not counting)."""
    import tessera.llm

    return int(getattr(tessera.llm.load, "calls", -1))
