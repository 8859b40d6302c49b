"""``tessera split`` through typer's CliRunner: files out, one red line per bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from tessera.cli import _split  # noqa: F401  (registers the command on the app)
from tessera.cli._app import app

runner = CliRunner()


def table(tmp_path: Path, n: int = 100, name: str = "data.csv") -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "customer": [f"C{i:05d}" for i in range(n)],
            "age": rng.normal(40, 10, n).round(1),
            "plan": rng.choice(["basic", "plus"], n),
            "household": np.arange(n) // 2,
            "churn": rng.integers(0, 2, n),
        }
    )
    path = tmp_path / name
    if name.endswith(".parquet"):
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    return path


def test_writes_three_parts_and_a_report(tmp_path: Path) -> None:
    data = table(tmp_path)
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "split",
            str(data),
            "--target",
            "churn",
            "--sizes",
            "60,20,20",
            "--id",
            "customer",
            "--seed",
            "1",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    parts = [pd.read_csv(out / f"{name}.csv") for name in ("train", "val", "test")]
    assert [len(p) for p in parts] == [60, 20, 20]
    whole = pd.concat(parts).sort_values("customer").reset_index(drop=True)
    pd.testing.assert_frame_equal(whole, pd.read_csv(data))
    assert (out / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert "Split report" in result.output


def test_groups_and_parquet_by_extension(tmp_path: Path) -> None:
    data = table(tmp_path, name="data.parquet")
    out = tmp_path / "pq"
    result = runner.invoke(
        app, ["split", str(data), "--group", "household", "--sizes", "0.8,0.2", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    train, test = pd.read_parquet(out / "train.parquet"), pd.read_parquet(out / "test.parquet")
    assert len(train) + len(test) == 100
    assert not set(train.household) & set(test.household)


def test_same_seed_same_files(tmp_path: Path) -> None:
    data = table(tmp_path)
    for name in ("a", "b"):
        args = [
            "split",
            str(data),
            "--seed",
            "7",
            "--method",
            "twin",
            "--out",
            str(tmp_path / name),
        ]
        assert runner.invoke(app, args).exit_code == 0
    assert (tmp_path / "a/test.csv").read_text() == (tmp_path / "b/test.csv").read_text()


def one_red_line(result: object) -> str:
    assert result.exit_code == 1  # type: ignore[attr-defined]
    text = result.output.strip()  # type: ignore[attr-defined]
    assert text.startswith("error:") and "Traceback" not in text
    return text


def test_unknown_target_is_one_line(tmp_path: Path) -> None:
    data = table(tmp_path)
    result = runner.invoke(app, ["split", str(data), "--target", "y", "--out", str(tmp_path / "o")])
    assert "target='y'" in one_red_line(result)


def test_bad_sizes_are_one_line(tmp_path: Path) -> None:
    data = table(tmp_path)
    result = runner.invoke(app, ["split", str(data), "--sizes", "60,20,10", "--out", str(tmp_path)])
    assert "sizes" in one_red_line(result)
    result = runner.invoke(app, ["split", str(data), "--sizes", "6o,40", "--out", str(tmp_path)])
    assert "--sizes='6o,40'" in one_red_line(result)


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["split", str(tmp_path / "nope.csv"), "--out", str(tmp_path)])
    assert "nope.csv" in one_red_line(result)


def test_unknown_method_is_one_line(tmp_path: Path) -> None:
    data = table(tmp_path)
    result = runner.invoke(app, ["split", str(data), "--method", "magic", "--out", str(tmp_path)])
    assert "method='magic'" in one_red_line(result)
