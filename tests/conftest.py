"""Shared test configuration: the hypothesis profile and fixtures used across parts."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# Tests are imported with --import-mode=importlib (pyproject), so that test files in
# different folders may share a basename (tests/test_package.py, tests/split/test_package.py).
# That mode leaves sys.path alone; the shared helpers are made importable here:
# ``from _browser import ...`` (tests/_browser.py) and ``from golden import ...``
# (tests/assign/golden.py, the golden cases every assignment solver is checked against).
_TESTS = Path(__file__).resolve().parent
for _helpers in (_TESTS, _TESTS / "assign"):
    if str(_helpers) not in sys.path:
        sys.path.insert(0, str(_helpers))

# No per-example deadline: the first call of a numba function loads (or compiles) its
# cache, which can take longer than hypothesis's 200 ms default on a shared 2-core box.
# The default example count is modest so that the whole suite stays quick; tests that
# deserve more say so with @settings(max_examples=...).
settings.register_profile(
    "tessera",
    deadline=None,
    max_examples=50,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("ci", parent=settings.get_profile("tessera"), derandomize=True)
# CI replays the same examples on every run, so a landing never hinges on a lucky draw.
_default = "ci" if os.environ.get("CI") else "tessera"
settings.load_profile(os.environ.get("TESSERA_HYPOTHESIS_PROFILE", _default))


@pytest.fixture(scope="session")
def tessera_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A ``$TESSERA_HOME`` shared by every test worker of this run (never ``~/.tessera``).

    The default LLM's GGUF file is converted into it once (about 30 s; the library
    converts under a file lock, so parallel workers wait and then share the copy).
    """
    shared = tmp_path_factory.getbasetemp().parent / "tessera-home"
    shared.mkdir(exist_ok=True)
    previous = os.environ.get("TESSERA_HOME")
    os.environ["TESSERA_HOME"] = str(shared)
    try:
        yield shared
    finally:
        if previous is None:
            os.environ.pop("TESSERA_HOME", None)
        else:
            os.environ["TESSERA_HOME"] = previous


@pytest.fixture(scope="session")
def dask_cluster(tessera_home: Path) -> Iterator[Any]:
    """One real multi-process ``LocalCluster`` (2 workers, 1 thread each) per test process.

    The Dask test modules share it (through :func:`dask_client`) instead of starting one
    each: a cluster's start is mostly its workers starting Python and importing Tessera.
    ``$TESSERA_HOME`` is set first, so the workers inherit it (and ``sys.path``, for the
    helpers in tests/). Its client is Dask's default from then on, as a script's would be;
    a client opened later (``--scheduler local``, a how-to's own cluster) takes over while
    it is open.
    """
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def dask_client(dask_cluster: Any) -> Any:
    """The shared cluster's client, both workers up.

    A test may have ended a worker on purpose (the flows tests do); its nanny starts a new
    one, which the next module waits for.
    """
    dask_cluster.wait_for_workers(2, timeout=120)
    return dask_cluster


@pytest.fixture(scope="session")
def demo_page(tmp_path_factory: pytest.TempPathFactory, tessera_home: Path) -> Path:
    """The demo page, written once per test session by :func:`tessera.demo.run_demo`."""
    from rich.console import Console

    from tessera.demo import run_demo

    out = tmp_path_factory.mktemp("demo")
    console = Console(file=open(os.devnull, "w"), width=100)  # noqa: SIM115
    try:
        return run_demo(out, console=console)
    finally:
        console.file.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium (see ``tests/_browser.py``); skips where none is installed.

    One per test module, not per session: Playwright's sync API keeps its asyncio loop
    marked as running in this thread while it is open, so a later test's
    ``asyncio.run()`` in the same worker would fail.
    """
    pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')"
    )
    from _browser import find_chromium, launch

    binary = find_chromium()
    if binary is None:
        pytest.skip("no Chromium installed (apt-get install chromium); .ci/run installs it")
    with launch(binary) as started:
        yield started
