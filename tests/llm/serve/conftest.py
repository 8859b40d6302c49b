"""Fixtures of the serve tests: a real tessera server on loopback with the tiny model.

Each test module gets its own database and server; keys are created once per module
(argon2 hashing is deliberately slow). The helpers live in ``serve_live.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")

if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from serve_live import Live, start_live  # noqa: E402

from tessera.llm.serve import RateLimit  # noqa: E402


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, tiny_llama: Any) -> Iterator[Live]:
    """A server whose models are the tiny random Llama (default) and the embedded model."""
    db = tmp_path_factory.mktemp("serve") / "tessera.db"
    yield from start_live(
        db,
        models=(f"tessera:{tiny_llama.folder}", "tessera"),
        rate_limit=RateLimit(1000, burst=1000),
    )
