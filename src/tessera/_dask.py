"""The ``dask`` extra at one place: its lazy import and the ``scheduler`` argument.

Every part that runs on Dask (``--scheduler ADDRESS|local`` on the command line,
``scheduler=`` in Python) goes through :func:`dask_client`, so the argument is checked
once and means the same thing everywhere:

- ``"local"``: a :class:`distributed.LocalCluster` of worker processes on this machine,
  started for the call and closed after it;
- ``"tcp://host:port"`` (or ``tls://``, ``ws://``, ``wss://``, ``inproc://``, or a bare
  ``host:port``): the scheduler of a running cluster, which is left running;
- a :class:`distributed.Client` (Python only): used as it is and left open.

The scheduler is made explicit: inside :func:`dask_client` its client is Dask's
configured scheduler and the current client, so a client the caller had made current
(``Client.as_current()``) cannot take the work elsewhere; a call that takes
``scheduler=None`` fixes Dask's scheduler of the moment once (:func:`chosen_scheduler`)
and hands it to each of its ``compute`` calls; the shuffle method follows the scheduler
that runs it (:func:`shuffle_method`).
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

__all__ = [
    "LOCAL",
    "SCHEDULER_HELP",
    "check_scheduler",
    "chosen_scheduler",
    "dask_client",
    "require_dask",
    "shuffle_method",
]

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

    Inside the block the client is the scheduler of every ``compute`` (Dask's
    ``scheduler`` setting) and the current client (``Client.as_current``), so that work
    started there runs on it even where the caller had made another client current or
    configured another scheduler.

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
    with _opened(check_scheduler(scheduler), n_workers) as client, _pinned(client):
        yield client


@contextmanager
def _pinned(client: Any) -> Iterator[None]:
    """``client`` as the configured scheduler and the current client, for the block."""
    import dask

    with dask.config.set(scheduler=client), client.as_current():
        yield


@contextmanager
def _opened(scheduler: Any, n_workers: int | None) -> Iterator[Any]:
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


@contextmanager
def chosen_scheduler(scheduler: Any = None) -> Iterator[Any]:
    """The scheduler every ``compute`` of one call is given (``dask.compute(scheduler=...)``).

    Parameters
    ----------
    scheduler : str, distributed.Client or None, default=None
        ``None``: the scheduler Dask would use at this moment (``dask.config``'s
        ``scheduler``, else the current or default client, else ``None`` for each
        collection's own default), fixed for the whole call. Otherwise as in
        :func:`dask_client`, whose client is yielded and closed afterwards if opened here.
    """
    if scheduler is None:
        import dask.base

        yield dask.base.get_scheduler()  # type: ignore[no-untyped-call]
        return
    with dask_client(scheduler) as client:
        yield client


def _client_of(chosen: Any) -> Any:
    """The :class:`distributed.Client` behind ``chosen`` (a client or its ``get``), or None."""
    owner = getattr(chosen, "__self__", chosen)
    if type(owner).__name__ == "Client" and hasattr(owner, "submit"):
        return owner
    return None


def shuffle_method(chosen: Any) -> str:
    """``"p2p"`` (out of core, on the workers) on a distributed client, else ``"tasks"``.

    Dask picks p2p whenever a distributed client exists, even when the compute runs on
    another scheduler (``dask.config.set(scheduler="synchronous")``), where p2p fails;
    so the method follows the scheduler chosen for the call.
    """
    return "p2p" if _client_of(chosen) is not None else "tasks"
