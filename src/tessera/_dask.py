"""The ``dask`` extra at one place: its lazy import and the ``scheduler`` argument.

Every part that runs on Dask (``--scheduler ADDRESS|local`` on the command line,
``scheduler=`` in Python) goes through :func:`dask_client`, so the argument is checked
once and means the same thing everywhere:

- ``"local"``: a :class:`distributed.LocalCluster` of worker processes on this machine,
  started for the call and closed after it;
- ``"tcp://host:port"`` (or ``tls://``, ``ws://``, ``wss://``, ``inproc://``, or a bare
  ``host:port``): the scheduler of a running cluster, which is left running;
- a :class:`distributed.Client` (Python only): used as it is and left open.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from tessera._validation import bad_value
from tessera.errors import MissingExtraError

__all__ = ["LOCAL", "SCHEDULER_HELP", "check_scheduler", "dask_client", "require_dask"]

#: The ``scheduler`` value that starts a cluster of processes on this machine.
LOCAL = "local"
#: The ``--scheduler`` help text shared by every command that takes it.
SCHEDULER_HELP = (
    "Run on Dask: 'local' (a cluster of worker processes on this machine) or a scheduler's "
    "address (tcp://host:port). Needs the dask extra: pip install 'tessera[dask]'."
)
_ADDRESS = re.compile(r"^(?:(?:tcp|tls|ws|wss|inproc|ucx)://)?[^\s:/]+(?::\d{1,5})?(?:/\S*)?$")
# Seconds a remote scheduler has to answer before the address is called unreachable.
_CONNECT_TIMEOUT_S = 10


def require_dask(module: str = "distributed") -> ModuleType:
    """Import ``module`` (``dask``, ``distributed``, ...) or raise naming the ``dask`` extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"running on Dask needs {module!r}, which is not installed. "
            "Install the extra: pip install 'tessera[dask]' (on every worker too)."
        ) from exc


def check_scheduler(scheduler: Any) -> Any:
    """Return ``scheduler`` if it is ``"local"``, an address or a Client; raise otherwise."""
    if isinstance(scheduler, str):
        text = scheduler.strip()
        if text == LOCAL or (":" in text and _ADDRESS.match(text)):
            return text
    elif type(scheduler).__name__ == "Client" and hasattr(scheduler, "submit"):
        return scheduler
    raise bad_value(
        "scheduler",
        scheduler,
        "it must be 'local', a Dask scheduler address such as 'tcp://10.0.0.5:8786', or a "
        "distributed.Client",
        "Pass scheduler='local' to start worker processes on this machine.",
    )


@contextmanager
def dask_client(scheduler: Any, *, n_workers: int | None = None) -> Iterator[Any]:
    """A :class:`distributed.Client` for ``scheduler``, closed afterwards if opened here.

    Parameters
    ----------
    scheduler : str or distributed.Client
        ``"local"``, a scheduler address, or a client (see the module notes).
    n_workers : int or None, default=None
        With ``"local"``: how many worker processes (Dask's default: one per core group).

    Raises
    ------
    InvalidInputError
        When ``scheduler`` is none of these, or no scheduler answers at the address.
    MissingExtraError
        When the ``dask`` extra is not installed.
    """
    scheduler = check_scheduler(scheduler)
    if not isinstance(scheduler, str):
        yield scheduler
        return
    distributed = require_dask("distributed")
    if scheduler == LOCAL:
        # ":0": any free port. None would still bind the scheduler's HTTP server to 8787 and
        # warn when another cluster holds it.
        options: dict[str, Any] = {"processes": True, "dashboard_address": ":0"}
        if n_workers is not None:
            options["n_workers"] = n_workers
        with distributed.LocalCluster(**options) as cluster, distributed.Client(cluster) as client:
            yield client
        return
    try:
        client = distributed.Client(scheduler, timeout=_CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise bad_value(
            "scheduler",
            scheduler,
            f"no Dask scheduler answered there within {_CONNECT_TIMEOUT_S} s ({exc})",
            "Start one (dask scheduler, then dask worker ADDRESS on each machine) or pass 'local'.",
        ) from None
    with client:
        yield client
