"""Tessera: applied machine-learning tools you can rely on.

Subpackages are imported on demand so that ``import tessera`` stays light:

- :mod:`tessera.assign` -- optimal assignment (the Hungarian problem) and its explainer.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
