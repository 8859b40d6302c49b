"""The 'Batch assignment and batch flows' section of the Dask how-to runs as written.

Its Python block (a LocalCluster of two worker processes, as a script would start it) and
its two commands (each starting a local cluster with ``--scheduler local``; here the flows
command runs on the test process's shared cluster instead) run in the
page's order in a temporary folder; their outputs are then checked against the in-process
answers.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("distributed")

PAGE = Path(__file__).resolve().parent.parent / "docs" / "how-to" / "dask.md"
SECTION = "## Batch assignment and batch flows"


def _section() -> str:
    text = PAGE.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return text[start : end if end != -1 else len(text)]


def test_the_section_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tessera_home: Path, dask_client: Any
) -> None:
    from tessera.assign import solve_batch
    from tessera.cli import _assign_batch, _flows  # noqa: F401  (register the commands)
    from tessera.cli._app import app

    blocks = re.findall(r"^```(\w+)\n(.*?)^```", _section(), re.S | re.M)
    assert [lang for lang, _ in blocks] == ["python", "bash"]
    monkeypatch.chdir(tmp_path)
    commands = 0
    for lang, body in blocks:
        if lang == "python":
            exec(compile(body, str(PAGE), "exec"), {"__name__": "__main__"})  # noqa: S102
            continue
        for line in body.splitlines():
            if line.startswith("tessera flows batch"):  # on the shared test cluster
                line = line.replace(
                    "--scheduler local", f"--scheduler {dask_client.scheduler.address}"
                )
            args = shlex.split(line)
            assert args[0] == "tessera", line
            result = CliRunner().invoke(app, args[1:])
            assert result.exit_code == 0, f"{line}\n{result.output}"
            commands += 1
    assert commands == 2
    costs = np.load(tmp_path / "costs.npy")
    with np.load(tmp_path / "answers.npz") as answers:
        want = solve_batch(costs)
        np.testing.assert_array_equal(answers["cols"], want.cols)
        np.testing.assert_array_equal(answers["total_costs"], want.total_costs)
    table = [json.loads(line) for line in (tmp_path / "table.jsonl").read_text().splitlines()]
    assert [row["output"] for row in table] == ["billing", "shipping", "technical"]
