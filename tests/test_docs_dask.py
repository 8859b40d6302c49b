"""The synth and split sections of the Dask how-to run as written (smaller), in page order.

Everything above 'Batch assignment and batch flows' (tested by test_docs_dask_batch.py):
the Python block (a LocalCluster of two worker processes, as a script starts it) and the
four commands (three start a local cluster with ``--scheduler local``: one does here, the
other two run on the test process's shared cluster). The page's row counts
are cut to a few thousand; then the outputs are checked: the sampled folder holds the rows
``tessera synth sample`` writes in one process, and the split's parts hold every row once.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

pytest.importorskip("distributed")

PAGE = Path(__file__).resolve().parent.parent / "docs" / "how-to" / "dask.md"
END = "## Batch assignment and batch flows"
ROWS = 6_000


def _sections() -> str:
    text = PAGE.read_text(encoding="utf-8")
    return text[: text.index(END)]


def _small(text: str) -> str:
    return text.replace("2_000_000", f"{ROWS:_}").replace("2000000", str(ROWS))


def _on(line: str, address: str) -> str:
    """The command on the shared test cluster, but for ``synth generate``, run as written.

    ``--scheduler local`` starts a cluster of its own per command; one command keeps it
    (so that path runs here too), the others use the test process's cluster.
    """
    if line.startswith("tessera synth generate"):
        return line
    return line.replace("--scheduler local", f"--scheduler {address}")


def test_the_synth_and_split_sections_run_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dask_client: Any
) -> None:
    from tessera.cli import _split, _synth  # noqa: F401  (register the commands)
    from tessera.cli._app import app

    blocks = re.findall(r"^```(\w+)\n(.*?)^```", _sections(), re.S | re.M)
    assert [lang for lang, _ in blocks] == ["text", "python", "bash", "yaml"]
    monkeypatch.chdir(tmp_path)
    spec = next(body for lang, body in blocks if lang == "yaml")
    (tmp_path / "spec.yaml").write_text(spec)
    outputs: list[str] = []
    commands = 0
    for lang, body in blocks:
        if lang == "python":
            exec(compile(_small(body), str(PAGE), "exec"), {"__name__": "__main__"})  # noqa: S102
        elif lang == "bash":
            for line in body.splitlines():
                args = shlex.split(_on(_small(line), dask_client.scheduler.address))
                assert args[0] == "tessera", line
                result = CliRunner().invoke(app, args[1:])
                assert result.exit_code == 0, f"{line}\n{result.output}"
                outputs.append(result.output)
                commands += 1
    assert commands == 4

    # The split: every row of synthetic/ in exactly one part, households never shared.
    whole = pd.read_parquet(tmp_path / "synthetic")
    parts = {p: pd.read_parquet(tmp_path / "parts" / p) for p in ("train", "val", "test")}
    ids = np.concatenate([f["customer_id"].to_numpy() for f in parts.values()])
    assert sorted(ids) == sorted(whole["customer_id"].to_numpy())
    households = [set(f["household"]) for f in parts.values()]
    assert not (households[0] & households[1] or households[0] & households[2])

    # The sampled folder holds the rows one process writes with the same seed and blocks.
    runner = CliRunner()
    args = ["synth", "sample", "model.json", "--rows", str(ROWS), "--seed", "7"]
    result = runner.invoke(app, [*args, "--out", "one.parquet", "-q"])
    assert result.exit_code == 0, result.output
    sampled = pd.read_parquet(tmp_path / "sampled")
    alone = pd.read_parquet(tmp_path / "one.parquet")
    as_object = [f.astype(object).where(f.notna(), None) for f in (sampled, alone)]
    pd.testing.assert_frame_equal(as_object[0], as_object[1])
    split_ids = [pd.read_parquet(tmp_path / "sampled-parts" / p) for p in ("train", "val", "test")]
    assert sum(map(len, split_ids)) == ROWS
    generated = pd.read_parquet(tmp_path / "generated")
    assert len(generated) == ROWS and list(generated.columns) == ["id", "age", "segment"]
