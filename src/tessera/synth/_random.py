"""Seeds: one way to turn ``random_state`` into a generator, and per-chunk seeds."""

from __future__ import annotations

import numpy as np

from tessera.errors import InvalidTypeError

__all__ = ["as_generator", "chunk_seeds"]


def as_generator(random_state: int | np.random.Generator | None) -> np.random.Generator:
    """A :class:`numpy.random.Generator` for an int seed, a generator (used as is) or None."""
    if random_state is None or isinstance(random_state, np.random.Generator):
        return np.random.default_rng(random_state)
    if isinstance(random_state, bool) or not isinstance(random_state, int | np.integer):
        raise InvalidTypeError(
            f"random_state={random_state!r} is invalid: it must be an int, a "
            "numpy.random.Generator or None. Pass an int seed such as random_state=0."
        )
    if random_state < 0:
        raise InvalidTypeError(
            f"random_state={random_state!r} is invalid: seeds must be >= 0. "
            "Pass a non-negative int."
        )
    return np.random.default_rng(int(random_state))


def chunk_seeds(master_seed: int | None, n_chunks: int) -> list[np.random.SeedSequence]:
    """Independent seeds for ``n_chunks`` chunks, all derived from one master seed.

    Chunk ``i`` gets the same seed whatever the number of chunks or workers, so a
    table generated in parallel is the same as one generated in one process.
    """
    root = np.random.SeedSequence(master_seed)
    return [np.random.SeedSequence(root.entropy, spawn_key=(i,)) for i in range(n_chunks)]
