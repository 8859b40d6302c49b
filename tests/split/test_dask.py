"""Out-of-core splits on a real multi-process LocalCluster (shared by the module), small data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from _dask_split_shapes import HELD_OUT, typed_table  # noqa: E402
from tessera.errors import InvalidInputError  # noqa: E402
from tessera.split import part_indices, split_dataset, split_report  # noqa: E402

PARTS = ("train", "val", "test")


@pytest.fixture(scope="module")
def client(dask_client: Any) -> Any:
    """The shared LocalCluster (tests/conftest.py): two worker processes."""
    return dask_client


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "row": np.arange(n),
            "a": rng.normal(size=n),
            "b": rng.gamma(2.0, size=n),
            "kind": rng.choice(["x", "y", "z"], size=n, p=[0.6, 0.3, 0.1]),
            "user": rng.integers(0, n // 8, size=n),
        }
    )
    frame["c"] = 0.6 * frame["a"] + rng.normal(size=n)
    return frame


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("table") / "table"
    dd.from_pandas(_table(3000, 0), npartitions=4).to_parquet(folder, write_index=False)
    return folder


def _parts(result: Any) -> list[pd.DataFrame]:
    return [pd.read_parquet(result.paths[name]) for name in PARTS]


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("row").reset_index(drop=True)


def test_every_row_in_exactly_one_part_same_on_any_workers(
    client: Any, data: Path, tmp_path: Path
) -> None:
    # The accounting does not depend on the method: the quick one keeps the test short.
    # 3,000 rows in cells of at most 1,000: four cells, shuffled to one partition each.
    options: dict[str, Any] = {"method": "random", "id_columns": ["row", "user"]}
    options["rows_per_split"] = 1000
    result = split_dataset(data, tmp_path / "a", random_state=4, **options)
    parts = _parts(result)
    rows = np.concatenate([p["row"].to_numpy() for p in parts])
    assert np.array_equal(np.sort(rows), np.arange(3000))
    assert result.rows == 3000 and sum(result.sizes.values()) == 3000
    assert len(list(result.paths["train"].glob("*.parquet"))) == 4
    # The cells' rows per part are set for the whole table: exact to one row in all.
    for name, share in zip(PARTS, (0.6, 0.2, 0.2), strict=True):
        assert abs(result.sizes[name] - share * 3000) <= 1
    # The same split from one process (the synchronous scheduler).
    import dask

    with dask.config.set(scheduler="synchronous"):
        again = split_dataset(data, tmp_path / "b", random_state=4, **options)
    for mine, theirs in zip(parts, _parts(again), strict=True):
        pd.testing.assert_frame_equal(_sorted(mine), _sorted(theirs))
    other_seed = split_dataset(data, tmp_path / "c", random_state=5, **options)
    assert not _sorted(_parts(other_seed)[1])["row"].equals(_sorted(parts[1])["row"])


def test_groups_and_strata_are_honoured(client: Any, data: Path, tmp_path: Path) -> None:
    result = split_dataset(
        data,
        tmp_path / "g",
        groups="user",
        strata="kind",
        random_state=1,
        id_columns=["row"],
        rows_per_split=300,  # each 750-row partition in pieces of whole groups
    )
    parts = _parts(result)
    members = [set(p["user"]) for p in parts]
    assert not (members[0] & members[1] or members[0] & members[2] or members[1] & members[2])
    (check,) = result.report.groups
    assert check.ok and check.n_groups == len(set().union(*members))
    assert check.groups_per_part == {n: len(m) for n, m in zip(PARTS, members, strict=True)}
    whole = pd.concat(parts)
    assert np.array_equal(np.sort(whole["row"].to_numpy()), np.arange(3000))
    expected = whole["kind"].value_counts(normalize=True)
    for part in parts:
        shares = part["kind"].value_counts(normalize=True)
        assert np.abs(shares - expected).max() < 0.05


def test_report_from_sketches_matches_the_in_memory_report(
    client: Any, data: Path, tmp_path: Path
) -> None:
    result = split_dataset(
        data, tmp_path / "r", method="random", random_state=2, id_columns=["row", "user"]
    )
    exact = split_report(dict(zip(PARTS, _parts(result), strict=True)), id_columns=["row", "user"])
    mine = {(c.column, c.part): c for c in result.report.columns}
    assert result.report.sizes == exact.sizes
    assert len(mine) == len(exact.columns)
    for reference in exact.columns:
        ours = mine[(reference.column, reference.part)]
        if reference.kind == "categorical":
            assert ours.total_variation == pytest.approx(reference.total_variation, abs=1e-12)
            assert ours.chi2_pvalue == pytest.approx(reference.chi2_pvalue, rel=1e-9)
        else:
            # The parts are small enough for the sketch to hold every value: exact KS.
            assert ours.ks == pytest.approx(reference.ks, abs=1e-12)
        assert ours.missing == reference.missing


def _held_out_source(build: Any, npartitions: int, tmp_path: Path) -> tuple[pd.DataFrame, Path]:
    """A held-out shape's table (seed 11) with a ``row`` id, written as a Parquet dataset."""
    table = build(11)
    table.insert(0, "row", np.arange(len(table)))
    source = tmp_path / "in"
    dd.from_pandas(table, npartitions=npartitions, sort=False).to_parquet(source, write_index=False)
    return table, source


@pytest.mark.parametrize(
    ("name", "build", "npartitions", "options"), HELD_OUT, ids=[s[0] for s in HELD_OUT]
)
def test_a_table_in_one_piece_is_split_as_in_memory(
    client: Any, tmp_path: Path, name: str, build: Any, npartitions: int, options: dict[str, Any]
) -> None:
    # Partitions are joined up to rows_per_split rows: a table that fits in one piece is
    # split exactly as train_val_test_split splits it, so its divergence is auto's (the
    # 1.2x target, on the held-out shapes chosen before the joining was written).
    table, source = _held_out_source(build, npartitions, tmp_path)
    result = split_dataset(source, tmp_path / "out", random_state=3, id_columns=["row"], **options)
    frames = _parts(result)
    drop = ["row", *([options["groups"]] if "groups" in options else [])]
    rows = part_indices(table, random_state=3, id_columns=["row"], **options)
    for frame, want in zip(frames, rows, strict=True):
        assert np.array_equal(np.sort(frame["row"].to_numpy()), want)
    ours = split_report([f.drop(columns=drop) for f in frames])
    theirs = split_report([table.iloc[r].drop(columns=drop) for r in rows])
    assert sum(ours.energy.values()) <= 1.2 * sum(theirs.energy.values())


@pytest.mark.parametrize(
    ("name", "build", "npartitions", "options"), HELD_OUT, ids=[s[0] for s in HELD_OUT]
)
def test_a_table_split_in_cells_is_within_the_target_of_in_memory_auto(
    client: Any, tmp_path: Path, name: str, build: Any, npartitions: int, options: dict[str, Any]
) -> None:
    # Forced into several pieces (rows_per_split = one partition's rows: 4 cells of near
    # rows, halved until no larger), the split stays within the 1.2x of in-memory
    # auto's energy distance on the held-out shapes (chosen before the cells were
    # written, f703485).
    table, source = _held_out_source(build, npartitions, tmp_path)
    result = split_dataset(
        source,
        tmp_path / "out",
        random_state=3,
        id_columns=["row"],
        rows_per_split=-(-len(table) // npartitions),
        **options,
    )
    frames = _parts(result)
    assert len(list(result.paths["train"].glob("*.parquet"))) >= npartitions  # one per cell
    assert np.array_equal(
        np.sort(np.concatenate([f["row"].to_numpy() for f in frames])), np.arange(len(table))
    )
    drop = ["row"]
    if "groups" in options:
        drop.append(options["groups"])
        members = [set(f[options["groups"]]) for f in frames]
        assert sum(map(len, members)) == len(set().union(*members))
    rows = part_indices(table, random_state=3, id_columns=["row"], **options)
    ours = split_report([f.drop(columns=drop) for f in frames])
    theirs = split_report([table.iloc[r].drop(columns=drop) for r in rows])
    assert sum(ours.energy.values()) <= 1.2 * sum(theirs.energy.values())


@pytest.mark.parametrize("rows_per_split", [50_000, 1000], ids=["one piece", "cells"])
def test_groups_under_the_synchronous_scheduler_while_a_client_is_open(
    client: Any, data: Path, tmp_path: Path, rows_per_split: int
) -> None:
    # Dask shuffles with p2p whenever a distributed client exists, which fails when the
    # compute runs on another scheduler; the shuffle method follows the scheduler used.
    import dask

    options: dict[str, Any] = {"groups": "user", "id_columns": ["row"], "method": "random"}
    options["rows_per_split"] = rows_per_split
    with dask.config.set(scheduler="synchronous"):
        here = split_dataset(data, tmp_path / "sync", random_state=6, **options)
    there = split_dataset(data, tmp_path / "cluster", random_state=6, **options)
    for mine, theirs in zip(_parts(here), _parts(there), strict=True):
        pd.testing.assert_frame_equal(_sorted(mine), _sorted(theirs))
    assert here.report.groups[0].ok


def test_scheduler_given_wins_over_a_client_made_current(
    client: Any, data: Path, tmp_path: Path
) -> None:
    # A caller's Client.as_current() (here an in-process cluster) must not take the
    # work of `tessera split --scheduler ADDRESS` or of split_dataset(scheduler=...).
    from typer.testing import CliRunner

    from tessera.cli import _split  # noqa: F401  (registers the command)
    from tessera.cli._app import app

    address = client.scheduler.address
    args = ["split", str(data), "--method", "random", "--id", "row", "--id", "user"]
    with (
        distributed.LocalCluster(
            processes=False, n_workers=1, threads_per_worker=1, dashboard_address=":0"
        ) as other_cluster,
        distributed.Client(other_cluster, set_as_default=False) as other,
        other.as_current(),
        distributed.get_task_stream(client=client) as on_ours,
        distributed.get_task_stream(client=other) as on_other,
    ):
        outcome = CliRunner().invoke(
            app, [*args, "--out", str(tmp_path / "cli"), "--scheduler", address]
        )
        assert outcome.exit_code == 0, outcome.output
        split_dataset(
            data, tmp_path / "py", method="random", id_columns=["row", "user"], scheduler=address
        )
    assert len(on_ours.data) > 0
    assert on_other.data == []


def test_bad_arguments_name_themselves(data: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"sizes=.*fractions summing to 1"):
        split_dataset(data, tmp_path / "x", sizes=(600, 200, 200))
    with pytest.raises(InvalidInputError, match=r"groups='nope'.*no such column"):
        split_dataset(data, tmp_path / "x", groups="nope")
    with pytest.raises(InvalidInputError, match=r"random_state=.*int seed"):
        split_dataset(data, tmp_path / "x", random_state=None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"scheduler='nowhere'.*'local'"):
        split_dataset(data, tmp_path / "x", scheduler="nowhere")
    with pytest.raises(InvalidInputError, match=r"types=.*no such column.*'nope'"):
        split_dataset(data, tmp_path / "x", types={"nope": "category"})
    with pytest.raises(InvalidInputError, match=r"types\['kind'\]='colour'.*one of"):
        split_dataset(data, tmp_path / "x", types={"kind": "colour"})
    with pytest.raises(InvalidInputError, match=r"types=.*no such column.*'who'"):
        split_dataset(data, tmp_path / "x", id_columns=["who"])
    assert not (tmp_path / "x").exists()  # refused before any folder or task
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "old.parquet").write_text("x")
    with pytest.raises(InvalidInputError, match=r"out=.*not empty"):
        split_dataset(data, tmp_path / "full")
    from tessera.split import train_val_test_split

    with pytest.raises(InvalidInputError, match=r"arrays=.*split_dataset"):
        train_val_test_split(dd.read_parquet(data))


def test_cli_splits_a_parquet_folder_on_the_cluster(
    client: Any, data: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from tessera.cli import _split  # noqa: F401  (registers the command)
    from tessera.cli._app import app

    args = ["split", str(data), "--out", str(tmp_path / "cli"), "--method", "random"]
    args += ["--group", "user", "--id", "row", "--seed", "3"]
    result = CliRunner().invoke(app, [*args, "--scheduler", client.scheduler.address])
    assert result.exit_code == 0, result.output
    parts = [pd.read_parquet(tmp_path / "cli" / name) for name in PARTS]
    rows = np.sort(np.concatenate([p["row"].to_numpy() for p in parts]))
    assert np.array_equal(rows, np.arange(3000))
    assert "train" in result.output and "rows)" in result.output


@pytest.mark.parametrize("rows_per_split", [50_000, 500], ids=["one piece", "cells"])
def test_types_are_honoured_in_cells_and_in_the_report(
    client: Any, tmp_path: Path, rows_per_split: int
) -> None:
    # Dates written day first, free text, numeric codes named categories and a repeated
    # key named an identifier: the split and its report type them as in memory.
    table = typed_table(2_000, 7).drop(columns=["topic"])
    table.insert(0, "row", np.arange(len(table)))
    source = tmp_path / "in"
    dd.from_pandas(table, npartitions=4, sort=False).to_parquet(source, write_index=False)
    types = {"code": "category", "ref": "identifier"}
    result = split_dataset(
        source,
        tmp_path / "out",
        random_state=1,
        id_columns=["row"],
        types=types,
        rows_per_split=rows_per_split,
    )
    frames = _parts(result)
    assert np.array_equal(
        np.sort(np.concatenate([f["row"].to_numpy() for f in frames])), np.arange(len(table))
    )
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(PARTS)  # no staging
    report = result.report
    assert {k: report.kinds[k] for k in ("day", "note", "code")} == {
        "day": "datetime",
        "note": "text",
        "code": "category",
    }
    assert "ref" in report.ignored
    exact = split_report(dict(zip(PARTS, frames, strict=True)), id_columns=["row"], types=types)
    mine = {(c.column, c.part): c for c in report.columns}
    assert set(mine) == {(c.column, c.part) for c in exact.columns}
    for reference in exact.columns:
        ours = mine[(reference.column, reference.part)]
        assert ours.kind == reference.kind
        if reference.kind == "datetime":  # by value, from sketches holding every value
            assert ours.ks == pytest.approx(reference.ks, abs=1e-12)
        else:  # categories; text by its word frequencies (the samples hold whole parts)
            assert ours.total_variation == pytest.approx(reference.total_variation, abs=1e-12)
    # Cut by time, not by text order: the parts' date distributions stay alike.
    time = [pd.to_datetime(f["day"], format="%d/%m/%Y") for f in frames]
    assert max(abs((t.mean() - time[0].mean()).days) for t in time) < 60


@pytest.mark.parametrize("rows_per_split", [50_000, 500], ids=["one piece", "cells"])
def test_a_split_that_fails_in_a_task_leaves_no_part_folder(
    client: Any, tmp_path: Path, rows_per_split: int
) -> None:
    # A date that does not parse, in the last partition: the task that meets it fails
    # after others have written their parts. Nothing that looks like a part is left.
    table = typed_table(2_000, 8).drop(columns=["topic"])
    table.loc[len(table) - 3, "day"] = "31/02/2020"
    source = tmp_path / "in"
    dd.from_pandas(table, npartitions=4, sort=False).to_parquet(source, write_index=False)
    given = tmp_path / "given"
    given.mkdir()  # an empty folder of the caller's stays, empty
    for out in (tmp_path / "new", given):
        with pytest.raises(InvalidInputError, match=r"data\['day'\]='31/02/2020'.*otherwise"):
            split_dataset(
                source,
                out,
                types={"day": "datetime:%d/%m/%Y"},
                rows_per_split=rows_per_split,
            )
    assert not (tmp_path / "new").exists()
    assert list(given.iterdir()) == []
