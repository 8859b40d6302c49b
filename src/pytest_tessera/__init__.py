"""The pytest plugin of Tessera: fixtures, markers, a seed option and a summary of ML checks.

It is registered with the ``pytest11`` entry point ``tessera`` (disable it with
``-p no:tessera``) and lives in :mod:`pytest_tessera.plugin`, which imports only
pytest and the standard library at load time; :mod:`tessera.mltest` is imported
when a fixture first needs it.
"""

from __future__ import annotations

__all__: list[str] = []
