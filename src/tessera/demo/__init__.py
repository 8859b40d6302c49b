"""The tour of every part of Tessera, behind ``tessera demo``.

Each part contributes one :class:`Section` built on embedded defaults; the page
is one self-contained HTML file (pictures inlined), so it can be mailed around.
"""

from __future__ import annotations

from tessera.demo._page import Section, run_demo

__all__ = ["Section", "run_demo"]
