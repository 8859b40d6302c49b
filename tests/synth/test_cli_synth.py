"""``tessera synth``: generate, fit and sample end to end; errors as one red line."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from tessera.cli._app import app

runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def _register() -> None:
    from tessera.cli import _synth  # noqa: F401


def test_generate_csv_and_parquet(tmp_path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "seed: 1\ncolumns:\n  id: {type: sequence}\n"
        "  x: {type: distribution, name: expon, params: {scale: 2}, round: 3}\n"
        "  who: {type: person, field: email}\n"
    )
    for name in ("t.csv", "t.parquet"):
        out = tmp_path / name
        result = runner.invoke(
            app,
            [
                "synth",
                "generate",
                str(spec),
                "--rows",
                "2500",
                "--out",
                str(out),
                "--chunk-size",
                "1000",
                "-q",
            ],
        )
        assert result.exit_code == 0, result.output
        frame = pd.read_csv(out) if name.endswith("csv") else pd.read_parquet(out)
        assert len(frame) == 2500 and frame["id"].tolist() == list(range(1, 2501))
    assert pd.read_csv(tmp_path / "t.csv")["x"].equals(pd.read_parquet(tmp_path / "t.parquet")["x"])


def test_fit_then_sample(tmp_path) -> None:
    real = pd.DataFrame({"a": range(200), "b": ["x", "y"] * 100})
    real.to_csv(tmp_path / "real.csv", index=False)
    fit = runner.invoke(
        app, ["synth", "fit", str(tmp_path / "real.csv"), "-o", str(tmp_path / "model.json")]
    )
    assert fit.exit_code == 0, fit.output
    sample = runner.invoke(
        app,
        [
            "synth",
            "sample",
            str(tmp_path / "model.json"),
            "-n",
            "300",
            "-o",
            str(tmp_path / "out.csv"),
            "--seed",
            "4",
            "-q",
        ],
    )
    assert sample.exit_code == 0, sample.output
    out = pd.read_csv(tmp_path / "out.csv")
    assert out.shape == (300, 2) and set(out["b"]) <= {"x", "y"}
    assert out["a"].between(0, 199).all()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["synth", "generate", "{spec}", "-o", "{tmp}/x.csv"], "unknown key"),
        (["synth", "generate", "{tmp}/missing.yaml", "-o", "{tmp}/x.csv"], "missing.yaml"),
        (["synth", "sample", "{spec}", "-n", "3", "-o", "{tmp}/x.csv"], "not JSON"),
        (["synth", "generate", "{good}", "-o", "{tmp}/x.txt"], ".csv or .parquet"),
    ],
)
def test_errors_are_one_red_line(tmp_path, args: list[str], needle: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rows: 3\ncolumns:\n  a: {type: sequence, strat: 1}\n")
    good = tmp_path / "good.yaml"
    good.write_text("rows: 3\ncolumns:\n  a: {type: sequence}\n")
    filled = [a.format(spec=bad, tmp=tmp_path, good=good) for a in args]
    result = runner.invoke(app, filled)
    assert result.exit_code == 1
    assert "error:" in result.output and needle in result.output
    assert "Traceback" not in result.output
