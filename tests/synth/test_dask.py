"""The copula and spec tables on Dask: a real multi-process LocalCluster, shared by the module."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from tessera.cli._app import app  # noqa: E402
from tessera.errors import InvalidInputError, MissingExtraError  # noqa: E402
from tessera.synth import GaussianCopula, chunk_plan, customers, generate_table  # noqa: E402
from tessera.synth._stream import sample_chunk  # noqa: E402

SPEC = """
rows: 3000
seed: 5
columns:
  id: {type: sequence, start: 1}
  age: {type: distribution, name: norm, params: {loc: 40, scale: 9}, round: 0}
  plan: {type: categorical, values: {basic: 0.6, pro: 0.3, team: 0.1}, missing: 0.05}
correlations:
  - [age, plan, 0.4]
"""


@pytest.fixture(scope="module")
def client(dask_client: Any) -> Any:
    """The shared LocalCluster (tests/conftest.py): two worker processes."""
    return dask_client


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return customers(1500, random_state=3)


@pytest.fixture(scope="module")
def model(real: pd.DataFrame) -> GaussianCopula:
    return GaussianCopula(segment_by=None).fit(real)


def _in_process(model: GaussianCopula, n: int, block_rows: int, seed: int) -> pd.DataFrame:
    document = model.to_dict()
    chunks = [sample_chunk(document, s, k, q) for s, k, q in chunk_plan(n, block_rows, seed)]
    return pd.concat(chunks, ignore_index=True)


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    # Dask stores text as Arrow strings; the values, not the container, must agree.
    left = a.reset_index(drop=True).astype(object).where(a.reset_index(drop=True).notna(), None)
    right = b.reset_index(drop=True).astype(object).where(b.reset_index(drop=True).notna(), None)
    pd.testing.assert_frame_equal(left, right)


def test_rows_do_not_depend_on_partitions_or_workers(client: Any, model: GaussianCopula) -> None:
    n, block = 5_300, 1_000
    reference = _in_process(model, n, block, seed=11)
    on_cluster = [
        model.sample_dask(n, npartitions=k, random_state=11, block_rows=block).compute()
        for k in (1, 2, 6)
    ]
    one_process = model.sample_dask(n, npartitions=4, random_state=11, block_rows=block).compute(
        scheduler="synchronous"
    )
    for frame in [*on_cluster, one_process]:
        assert len(frame) == n
        assert frame.index.tolist() == list(range(n))
        _same(frame, reference)
    # Both workers took part, so the equality above is across processes.
    assert len(client.scheduler_info()["workers"]) == 2


@settings(max_examples=15)
@given(
    n=st.integers(0, 700),
    block=st.integers(40, 300),
    parts=st.integers(1, 9),
    seed=st.integers(0, 2**31),
)
def test_any_partitioning_gives_the_in_process_rows(
    model: GaussianCopula, n: int, block: int, parts: int, seed: int
) -> None:
    frame = model.sample_dask(n, npartitions=parts, random_state=seed, block_rows=block)
    assert frame.npartitions == min(parts, max(1, -(-n // block)))
    out = frame.compute(scheduler="synchronous")
    if n:
        _same(out, _in_process(model, n, block, seed))
    else:
        assert len(out) == 0


def test_different_seeds_give_different_rows(model: GaussianCopula) -> None:
    a = model.sample_dask(400, random_state=1, block_rows=100).compute(scheduler="synchronous")
    b = model.sample_dask(400, random_state=2, block_rows=100).compute(scheduler="synchronous")
    assert not np.allclose(a["balance"].to_numpy(), b["balance"].to_numpy())


def test_cli_sample_and_generate_write_partitioned_parquet(
    client: Any, model: GaussianCopula, tmp_path: Path
) -> None:
    from tessera.cli import _synth  # noqa: F401  (registers the commands)

    address = client.scheduler.address
    model.save(tmp_path / "model.json")
    runner = CliRunner()
    args = ["synth", "sample", str(tmp_path / "model.json"), "--rows", "4500"]
    args += ["--seed", "3", "--chunk-size", "1000"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "out"), "--scheduler", address])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out").glob("*.parquet"))) == 5
    local = runner.invoke(app, [*args, "--out", str(tmp_path / "one.parquet"), "-q"])
    assert local.exit_code == 0, local.output
    _same(pd.read_parquet(tmp_path / "out"), pd.read_parquet(tmp_path / "one.parquet"))

    (tmp_path / "spec.yaml").write_text(SPEC)
    spec_args = ["synth", "generate", str(tmp_path / "spec.yaml"), "--chunk-size", "700"]
    result = runner.invoke(
        app, [*spec_args, "--out", str(tmp_path / "spec"), "--scheduler", address]
    )
    assert result.exit_code == 0, result.output
    expected = generate_table(str(tmp_path / "spec.yaml"), chunk_size=700)
    assert isinstance(expected, pd.DataFrame)
    _same(pd.read_parquet(tmp_path / "spec"), expected)


def test_fit_on_parquet_uses_the_whole_data(client: Any, tmp_path: Path) -> None:
    real = customers(6000, random_state=8)
    dd.from_pandas(real, npartitions=6).to_parquet(tmp_path / "real", write_index=False)
    in_memory = GaussianCopula(segment_by=None).fit(real)
    # A 600-row sample sets the structure; marginals and correlation come from all rows.
    from tessera.synth._dask_fit import fit_dask

    on_dask = fit_dask(GaussianCopula(segment_by=None), tmp_path / "real", sample_rows=600)
    assert on_dask.n_rows_ == 6000
    by_name = {c.name: c for c in on_dask.columns_}
    # signup holds dates written as text: parsed after the sample fixed its format, so its
    # marginal is the sample's (the other columns are rebuilt from every row).
    for column in [c for c in in_memory.columns_ if c.name != "signup"]:
        other = by_name[column.name]
        assert other.missing_rate == pytest.approx(column.missing_rate, abs=1e-12)
        if column.marginal.kind == "discrete":
            mine = dict(zip(other.marginal.values, other.marginal.probs, strict=True))
            theirs = dict(zip(column.marginal.values, column.marginal.probs, strict=True))
            assert mine.keys() == theirs.keys()
            for value, p in theirs.items():
                assert mine[value] == pytest.approx(p, abs=1e-12)
        else:
            # The true min and max, and quantiles within the sketch's resolution.
            assert other.marginal.x_knots[0] == column.marginal.x_knots[0]
            assert other.marginal.x_knots[-1] == column.marginal.x_knots[-1]
            grid = np.linspace(-2.5, 2.5, 41)
            ours = np.interp(grid, other.marginal.z_knots, other.marginal.x_knots)
            exact = np.interp(grid, column.marginal.z_knots, column.marginal.x_knots)
            spread = column.marginal.x_knots[-1] - column.marginal.x_knots[0]
            assert np.abs(ours - exact).max() <= 0.01 * spread, column.name
    # Categories sit on the latent line in an order the sample chose; where it is the
    # full data's order, the correlation from every row's normal scores (one read: the
    # partitions' moments on their own bases, scored once the marginals are known) must
    # agree. signup (dates as text) is scored on the sample, so only to its noise.
    names = [c.name for c in in_memory.columns_]
    same = [
        i
        for i, (a, b) in enumerate(zip(in_memory.columns_, on_dask.columns_, strict=True))
        if a.marginal.kind == "continuous" or a.marginal.values == b.marginal.values
    ]
    plain = [i for i in same if names[i] != "signup"]
    assert len(plain) >= 6
    gap = np.abs(on_dask.correlation_ - in_memory.correlation_)
    assert gap[np.ix_(plain, plain)].max() < 0.005
    assert gap[np.ix_(same, same)].max() < 0.15  # a 600-row sample's correlation
    sampled = on_dask.sample(2000, random_state=0)
    assert list(sampled.columns) == list(real.columns)

    # Metamorphic: partitions that each hold one range of ages (not a shuffle of the
    # table) give the same fit: ranks are read from the merged sketches, not per partition.
    ordered = real.sort_values("age", kind="stable")
    dd.from_pandas(ordered, npartitions=6, sort=False).to_parquet(
        tmp_path / "ordered", write_index=False
    )
    by_age = fit_dask(GaussianCopula(segment_by=None), tmp_path / "ordered", sample_rows=600)
    moved = np.abs(by_age.correlation_ - in_memory.correlation_)[np.ix_(plain, plain)]
    assert moved.max() < 0.005


def test_fit_reads_each_partition_once() -> None:
    import dask

    real = customers(1200, random_state=4)
    loads: list[int] = []

    def load(i: int) -> pd.DataFrame:
        loads.append(i)
        return real.iloc[i * 300 : (i + 1) * 300]

    frame = dd.from_delayed([dask.delayed(load)(i) for i in range(4)], meta=real.iloc[:0])
    from tessera.synth._dask_fit import fit_dask

    with dask.config.set(scheduler="synchronous"):
        model = fit_dask(GaussianCopula(segment_by=None), frame, sample_rows=400)
    assert sorted(loads) == [0, 1, 2, 3]
    assert model.n_rows_ == 1200


def test_bad_arguments_name_themselves(model: GaussianCopula, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"random_state=.*int seed"):
        model.sample_dask(10, random_state=np.random.default_rng(0))  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"npartitions=0"):
        model.sample_dask(10, npartitions=0)
    from tessera.synth._dask import write_parquet

    frame = model.sample_dask(10, random_state=0)
    with pytest.raises(InvalidInputError, match=r"out=.*folder of Parquet"):
        write_parquet(frame, tmp_path / "x.parquet", scheduler="local", n_workers=1)
    (tmp_path / "t.csv").write_text("a\n1\n2\n")
    with pytest.raises(InvalidInputError, match=r"data=.*Parquet dataset"):
        GaussianCopula().fit(str(tmp_path / "t.csv"))
    with pytest.raises(InvalidInputError, match=r"data=.*no such file"):
        GaussianCopula().fit(tmp_path / "nowhere")


def test_missing_extra_is_named(model: GaussianCopula, monkeypatch: pytest.MonkeyPatch) -> None:
    # A module set to None in sys.modules is one Python cannot import.
    monkeypatch.setitem(sys.modules, "dask.dataframe", None)
    with pytest.raises(MissingExtraError, match=r"tessera\[dask\]"):
        model.sample_dask(10, random_state=0)
