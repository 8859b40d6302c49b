"""Candidate trees: validation, buffers on hand-made trees, and the node-choosing rule."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("torch")

from tessera.errors import InvalidInputError  # noqa: E402
from tessera.llm.medusa._tree import MedusaTree, build_tree, expected_accept_length  # noqa: E402


def test_hand_made_tree_buffers() -> None:
    # root -> (0,) -> (0,0); root -> (1,)
    tree = MedusaTree.from_paths([(1,), (0, 0), (0,)])
    assert tree.paths == ((0,), (1,), (0, 0))
    assert tree.num_nodes == 4 and tree.topk == 2 and tree.depth == 2
    assert tree.depths.tolist() == [0, 1, 1, 2]
    assert tree.parents.tolist() == [-1, 0, 0, 1]
    # flat candidates: [root, head1 top0, head1 top1, head2 top0, head2 top1]
    assert tree.candidate_index.tolist() == [0, 1, 2, 3]
    expected = np.array(
        [
            [1, 0, 0, 0],
            [1, 1, 0, 0],
            [1, 0, 1, 0],
            [1, 1, 0, 1],
        ],
        dtype=bool,
    )
    np.testing.assert_array_equal(tree.attention, expected)
    # leaves: (1,) is node 2 and (0, 0) is node 3
    assert sorted(tree.retrieve.tolist()) == [[0, 1, 3], [0, 2, -1]]


def test_candidate_index_uses_rank_and_depth() -> None:
    tree = MedusaTree.from_paths([(0,), (2,), (0, 1), (0, 1, 0)])
    # topk 3: head d's rank r sits at 1 + (d - 1) * 3 + r
    assert tree.candidate_index.tolist() == [0, 1, 3, 5, 7]


def test_root_only_tree() -> None:
    tree = MedusaTree.from_paths([])
    assert tree.num_nodes == 1 and tree.depth == 0
    assert tree.retrieve.tolist() == [[0]]


@pytest.mark.parametrize(
    ("paths", "words"),
    [
        ([(0,), (0, 0), (1, 0)], "prefix-closed"),
        ([(0,), (0,)], "twice"),
        ([()], "non-empty"),
        ([(0, -1)], "ranks"),
        ([("a",)], "ranks"),
    ],
)
def test_bad_paths(paths: list[tuple[object, ...]], words: str) -> None:
    with pytest.raises(InvalidInputError, match=words):
        MedusaTree.from_paths(paths)  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(st.sets(st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2)), max_size=6))
def test_attention_is_ancestor_relation(leaves: set[tuple[int, int, int]]) -> None:
    paths = {leaf[:d] for leaf in leaves for d in (1, 2, 3)}
    tree = MedusaTree.from_paths(paths)
    nodes = [(), *tree.paths]
    for i, a in enumerate(nodes):
        for j, b in enumerate(nodes):
            assert tree.attention[i, j] == (a[: len(b)] == b)
    # every node lies on exactly the retrieve rows of the leaves below it
    for i, node in enumerate(nodes):
        rows = [r for r in tree.retrieve if i in r]
        assert rows, node


def _brute_force_best(table: np.ndarray, budget: int) -> float:
    heads, ranks = table.shape
    universe = [p for d in range(1, heads + 1) for p in itertools.product(range(ranks), repeat=d)]
    best = 0.0
    for subset in itertools.combinations(universe, budget):
        chosen = set(subset)
        if all(len(p) == 1 or p[:-1] in chosen for p in chosen):
            value = expected_accept_length(MedusaTree.from_paths(chosen), table)
            best = max(best, value)
    return best


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=2, max_size=2),
        min_size=2,
        max_size=2,
    ),
    st.integers(1, 4),
)
def test_build_tree_is_optimal_against_brute_force(rows: list[list[float]], budget: int) -> None:
    table = np.array(rows)
    tree = build_tree(table, budget)
    assert len(tree.paths) == budget
    assert expected_accept_length(tree, table) == pytest.approx(_brute_force_best(table, budget))


def test_build_tree_prefers_accurate_heads() -> None:
    accurate = build_tree([[0.9, 0.05], [0.8, 0.1], [0.7, 0.1]], 3)
    assert accurate.paths == ((0,), (0, 0), (0, 0, 0))
    flat = build_tree([[0.4, 0.3, 0.2], [0.1, 0.05, 0.01]], 3)
    assert flat.paths == ((0,), (1,), (2,))


def test_more_nodes_never_lower_expected_length() -> None:
    table = [[0.6, 0.15, 0.08], [0.4, 0.12, 0.05], [0.3, 0.1, 0.05]]
    values = [expected_accept_length(build_tree(table, n), table) for n in range(1, 20)]
    assert values == sorted(values)


@pytest.mark.parametrize("bad", [[], [[1.5]], [[0.1, float("nan")]], "x", [0.5, 0.2]])
def test_bad_accuracies(bad: object) -> None:
    with pytest.raises(InvalidInputError, match="accuracies"):
        build_tree(bad, 4)


def test_bad_budget() -> None:
    with pytest.raises(InvalidInputError, match="num_nodes"):
        build_tree([[0.5]], 0)
