"""solve_batch over a Dask array, solve_bag over a Dask bag: a real multi-process LocalCluster.

Every answer is compared field by field with the in-process solve_batch (and the bag's totals
with the golden cases' known optima); errors name problems as the in-process batch does.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

da = pytest.importorskip("dask.array")
db = pytest.importorskip("dask.bag")
distributed = pytest.importorskip("distributed")

from golden import GOLDEN, cost_array  # noqa: E402

import tessera.cli._assign_batch  # noqa: E402, F401  (registers the command)
from tessera.assign import solve_bag, solve_batch  # noqa: E402
from tessera.assign._dask import PLUGIN_NAME  # noqa: E402
from tessera.cli._app import app  # noqa: E402
from tessera.errors import (  # noqa: E402
    InfeasibleAssignmentError,
    InvalidInputError,
    MissingExtraError,
)

FIELDS = ("rows", "cols", "total_costs", "row_potentials", "col_potentials", "feasible")


@pytest.fixture(scope="module")
def client(dask_client: Any) -> Any:
    """The shared LocalCluster (tests/conftest.py): two worker processes."""
    return dask_client


def _same(got: Any, want: Any) -> None:
    for field in FIELDS:
        a, b = getattr(got, field), getattr(want, field)
        if b is None:
            assert a is None, field
        else:  # NaN (masked problems) equal to NaN; otherwise bit for bit
            np.testing.assert_array_equal(a, b, err_msg=field, strict=True)
    assert got.maximize == want.maximize


def _stack(seed: int, b: int, n: int, m: int, forbid: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    costs = rng.integers(0, 20, size=(b, n, m)).astype(np.float64)
    costs[rng.random(costs.shape) < forbid] = np.inf
    return costs


@pytest.mark.parametrize(("n", "m"), [(5, 5), (3, 6), (6, 3)])
@pytest.mark.parametrize("maximize", [False, True])
def test_a_dask_stack_gives_the_in_process_answers(
    client: Any, n: int, m: int, maximize: bool
) -> None:
    costs = _stack(n * 10 + m, 203, n, m)  # integer ties: the tie-breaking must agree too
    want = solve_batch(costs, maximize=maximize)
    got = solve_batch(da.from_array(costs, chunks=(50, 2, 4)), maximize=maximize)
    _same(got, want)
    assert got.verify(costs)


@settings(max_examples=8)
@given(
    b=st.integers(0, 40),
    shape=st.tuples(st.integers(0, 5), st.integers(0, 5)),
    chunk=st.integers(1, 17),
    seed=st.integers(0, 2**16),
)
def test_any_chunking_gives_the_same_answers(
    client: Any, b: int, shape: tuple[int, int], chunk: int, seed: int
) -> None:
    """Metamorphic: how the stack is cut into chunks never moves an answer."""
    costs = _stack(seed, b, *shape, forbid=0.2)
    want = solve_batch(costs, infeasible="mask")
    _same(solve_batch(da.from_array(costs, chunks=(chunk, -1, -1)), infeasible="mask"), want)


def test_infeasible_problems_are_masked_or_named_as_in_process(client: Any) -> None:
    costs = _stack(3, 120, 4, 4)
    costs[[57, 58, 101], :, :2] = np.inf  # rows 0-3 reach only columns 2, 3: infeasible
    lazy = da.from_array(costs, chunks=(25, 4, 4))
    masked = solve_batch(lazy, infeasible="mask")
    _same(masked, solve_batch(costs, infeasible="mask"))
    assert np.flatnonzero(~masked.feasible).tolist() == [57, 58, 101]
    with pytest.raises(InfeasibleAssignmentError) as in_process:
        solve_batch(costs)
    with pytest.raises(InfeasibleAssignmentError) as on_dask:
        solve_batch(lazy)
    assert str(on_dask.value) == str(in_process.value)
    assert "costs[57] is infeasible (3 problems are infeasible: [57, 58, 101])" in str(
        on_dask.value
    )
    assert on_dask.value.rows == in_process.value.rows
    assert on_dask.value.reachable_cols == in_process.value.reachable_cols == (2, 3)
    assert len(on_dask.value.rows) > 2  # a Hall violator: more rows than columns they reach


def test_bad_entries_are_named_by_their_place_in_the_whole_stack(client: Any) -> None:
    costs = _stack(4, 90, 3, 3)
    costs[[71, 88], 2, 1] = np.nan  # the first is named, whichever chunk fails first
    with pytest.raises(InvalidInputError) as in_process:
        solve_batch(costs)
    with pytest.raises(InvalidInputError) as on_dask:
        solve_batch(da.from_array(costs, chunks=(20, 3, 3)))
    assert str(on_dask.value) == str(in_process.value)
    assert "costs[71, 2, 1] (problem 71) is NaN" in str(on_dask.value)
    with pytest.raises(InvalidInputError, match=r"3-D array.*2-D Dask array of shape \(4, 4\)"):
        solve_batch(da.zeros((4, 4)))
    with pytest.raises(InvalidInputError, match="non-numeric"):
        solve_batch(da.from_array(np.array([[["a"]]])))
    with pytest.raises(InvalidInputError, match="infeasible='drop' is invalid"):
        solve_batch(da.zeros((2, 2, 2)), infeasible="drop")


def test_workers_load_the_kernels_once_not_per_task(client: Any) -> None:
    costs = _stack(5, 600, 4, 6)
    solve_batch(da.from_array(costs, chunks=(25, 4, 6)))  # 24 tasks over 2 workers

    def loads(dask_worker: Any) -> tuple[bool, int]:
        from tessera.assign._batch_core import assigned_costs
        from tessera.assign._jv import solve_dense_batch

        counts = [
            max([*kernel.stats.cache_hits.values(), *kernel.stats.cache_misses.values(), 0])
            for kernel in (solve_dense_batch, assigned_costs)
        ]
        return PLUGIN_NAME in dask_worker.plugins, max(counts)

    per_worker = client.run(loads)
    assert len(per_worker) == 2
    # Each kernel signature was loaded from the disk cache (or compiled) at most once per
    # process, by the plugin at start-up, although every worker ran many tasks.
    assert all(plugin and most <= 1 for plugin, most in per_worker.values()), per_worker


def _golden(maximize: bool) -> list[dict[str, Any]]:
    return [c for c in GOLDEN if c["maximize"] == maximize]


@pytest.mark.parametrize("maximize", [False, True])
def test_a_bag_of_ragged_problems_gives_the_in_process_answers(client: Any, maximize: bool) -> None:
    cases = _golden(maximize)
    problems = [cost_array(c) for c in cases]
    answers = solve_bag(
        db.from_sequence(problems, npartitions=3), maximize=maximize, infeasible="mask"
    ).compute()
    assert len(answers) == len(problems)
    for case, problem, answer in zip(cases, problems, answers, strict=True):
        want = solve_batch(problem[None], maximize=maximize, infeasible="mask")
        if case["infeasible"]:
            assert answer is None and not want.feasible[0], case["name"]
            continue
        assert answer.total_cost == case["total"], case["name"]
        alone = want[0]
        for field in ("rows", "cols", "row_potentials", "col_potentials"):
            np.testing.assert_array_equal(getattr(answer, field), getattr(alone, field))
        assert answer.verify(problem)


def test_a_bag_raises_naming_the_partition_and_the_problem(client: Any) -> None:
    problems = [np.ones((2, 3)), np.ones((2, 2)), np.ones((3, 3)), np.ones((2, 2))]
    problems[3][0, :] = np.inf  # the second 2x2 problem of the bag's second partition
    bag = db.from_sequence(problems, npartitions=2)
    with pytest.raises(InfeasibleAssignmentError) as info:
        solve_bag(bag).compute()
    assert str(info.value).startswith("bag partition 1: costs[1] is infeasible: in problem 1, ")
    assert info.value.rows == (0,) and info.value.reachable_cols == ()  # evidence kept
    problems[3][0, 0] = np.nan
    with pytest.raises(InvalidInputError, match=r"bag partition 1: .*costs\[1, 0, 0\]"):
        solve_bag(db.from_sequence(problems, npartitions=2)).compute()
    with pytest.raises(InvalidInputError, match=r"bag partition 0, problem 1: .*got shape \(3,\)"):
        solve_bag(db.from_sequence([np.ones((2, 2)), np.ones(3)], npartitions=1)).compute()
    with pytest.raises(InvalidInputError, match=r"(?s)problems=.* dask\.bag\.Bag.*from_sequence"):
        solve_bag([np.ones((2, 2))])


def test_without_the_extra_the_error_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dask.bag", None)  # import dask.bag now fails
    with pytest.raises(MissingExtraError, match=r"pip install 'tessera\[dask\]'"):
        solve_bag(object())


def test_an_address_where_no_scheduler_answers_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import tessera._dask

    monkeypatch.setattr(tessera._dask, "_CONNECT_TIMEOUT_S", 1)  # refused at once; 1 s to retry
    with (
        pytest.raises(InvalidInputError, match=r"scheduler='tcp://127.0.0.1:9' .* no Dask"),
        tessera._dask.dask_client("tcp://127.0.0.1:9"),
    ):
        pass


runner = CliRunner()


def test_cli_assign_batch_on_the_cluster_matches_in_process(client: Any, tmp_path: Path) -> None:
    costs = _stack(6, 250, 5, 4, forbid=0.1)
    costs[[9, 200]] = np.inf
    costs = -costs  # maximised: -inf forbids
    np.save(tmp_path / "costs.npy", costs)
    address = client.scheduler.address
    here, there = tmp_path / "here.npz", tmp_path / "there.npz"
    base = ["assign-batch", str(tmp_path / "costs.npy"), "--infeasible", "mask", "--maximize"]
    first = runner.invoke(app, [*base, "-o", str(here)])
    second = runner.invoke(app, [*base, "-o", str(there), "--scheduler", address, "--chunk", "60"])
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert "Solved 250 problems of 5 x 4 (maximum totals)" in second.output
    assert "Infeasible (masked): 2" in second.output and "checked" in second.output
    with np.load(here) as a, np.load(there) as b:
        assert sorted(a.files) == sorted(b.files) == sorted(FIELDS)
        for field in FIELDS:
            np.testing.assert_array_equal(a[field], b[field], err_msg=field)
        want = solve_batch(costs, maximize=True, infeasible="mask")
        np.testing.assert_array_equal(b["cols"], want.cols)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scheduler", "nowhere"], "scheduler='nowhere' is invalid: it must be 'local'"),
        (["-o", "r.csv"], "--out='r.csv' is invalid: the answers are written as a NumPy .npz"),
        (["--chunk", "0"], "--chunk=0 is invalid"),
        (["--infeasible", "skip"], "infeasible='skip' is invalid"),
    ],
)
def test_cli_assign_batch_bad_options(tmp_path: Path, args: list[str], message: str) -> None:
    np.save(tmp_path / "costs.npy", np.ones((2, 2, 2)))
    result = runner.invoke(app, ["assign-batch", str(tmp_path / "costs.npy"), *args])
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())
