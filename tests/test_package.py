"""Package-level contracts: light imports, version, public surface."""

from __future__ import annotations

import subprocess
import sys

import tessera


def test_version_is_a_string() -> None:
    assert isinstance(tessera.__version__, str) and tessera.__version__.count(".") == 2


def test_import_is_light() -> None:
    """Importing tessera, tessera.assign and tessera.llm loads no torch, transformers or numba."""
    code = (
        "import sys, tessera, tessera.assign, tessera.errors, tessera.llm;"
        "heavy = [m for m in ('torch', 'transformers', 'numba', 'matplotlib') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_errors_hierarchy() -> None:
    from tessera.errors import (
        InfeasibleAssignmentError,
        InvalidInputError,
        InvalidTypeError,
        TesseraError,
    )

    assert issubclass(InvalidInputError, TesseraError) and issubclass(InvalidInputError, ValueError)
    assert issubclass(InvalidTypeError, TypeError)
    assert issubclass(InfeasibleAssignmentError, InvalidInputError)
