"""Random Q4_1 blocks shaped like a GGUF file's, for the int4 kernels' tests."""

from __future__ import annotations

import numpy as np

GROUP_SIZE = 32


def random_q4_1(rows: int, columns: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``values`` (uint8 in 0..15), ``scales`` and ``minimums`` (float16, per block of 32),
    the minimums near ``-8 * scale`` as in real checkpoints."""
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 16, size=(rows, columns), dtype=np.uint8)
    scales = (rng.random((rows, columns // GROUP_SIZE)) * 0.01 + 1e-4).astype(np.float16)
    minimums = (-8 * scales.astype(np.float32) + rng.normal(0, 1e-3, scales.shape)).astype(
        np.float16
    )
    return values, scales, minimums
