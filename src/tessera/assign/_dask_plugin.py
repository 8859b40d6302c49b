"""The worker plugin that loads the solver's kernels once, when a Dask worker starts.

Imported only where ``distributed`` is installed (the ``dask`` extra).
"""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

__all__ = ["PrecompilePlugin"]


class PrecompilePlugin(WorkerPlugin):
    """Load the batch solver's kernels into each worker process as it starts.

    They come from numba's on-disk cache (the one :func:`tessera.assign.precompile` fills;
    compiled only where it is cold) and stay in the worker's memory for every later task,
    so no task compiles. Only the kernels a batch uses are loaded, not every solver's.
    """

    #: Registering it again (every solve registers it) leaves the workers' copy in place.
    idempotent = True

    def setup(self, worker: Any) -> None:
        """Load the kernels into this worker process."""
        import numpy as np

        from tessera.assign._batch import solve_batch

        base = np.array([[4.0, 1.0, 3.0], [2.0, 0.0, 5.0]])
        solve_batch(base[None])  # the batch kernel and the assigned-cost pass, float64
