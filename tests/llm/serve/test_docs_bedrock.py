"""The Bedrock how-to (docs/how-to/bedrock.md) runs as written, every command, against a
real ``tessera serve``, with the real boto3 client in its scripts (issue 23).

The page is read and run by the serve how-to's reader (``test_docs_serve``): each bash
command and Python script in order, each output block compared with what the command
printed. The scripts get the environment the commands exported (the AWS credentials of
``tessera keys aws``), as an app does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_docs_serve import Reader, read_steps, reader  # noqa: F401  (reader: a fixture)

PAGE = Path(__file__).resolve().parents[3] / "docs" / "how-to" / "bedrock.md"


def test_the_page_has_commands_and_outputs() -> None:
    steps = read_steps(PAGE)
    kinds = [s.kind for s in steps]
    assert kinds.count("serve") == 1 and kinds.count("python") >= 4, kinds
    assert sum(s.expected is not None for s in steps) >= 3


def test_every_command_of_the_page_runs_as_written(reader: Reader) -> None:  # noqa: F811
    pytest.importorskip("boto3")
    pytest.importorskip("cryptography")
    served: set[int] = set()
    for step in read_steps(PAGE):
        if step.kind == "serve":
            reader.serve(step, first_of_block=step.block not in served)
            served.add(step.block)
        else:
            reader.check(step, reader.run(step))
