"""The datastore of self-distilled continuations: building, files, and drafting with it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tessera.errors import InvalidInputError  # noqa: E402
from tessera.llm.medusa import (  # noqa: E402
    Datastore,
    DecodeStats,
    DistillationData,
    MedusaTree,
    build_datastore,
    medusa_generate,
    plain_generate,
)
from tessera.llm.medusa._drafters import PromptLookup  # noqa: E402


def brute_force(
    answers: list[list[int]], max_ngram: int, length: int, min_count: int, share: float
) -> dict[tuple[int, ...], list[int]]:
    """The table by definition: for each n-gram, walk the most common next tokens."""
    table: dict[tuple[int, ...], list[int]] = {}
    for n in range(1, max_ngram + 1):
        keys = {tuple(a[i - n + 1 : i + 1]) for a in answers for i in range(n - 1, len(a) - 1)}
        for key in keys:
            followers = [
                a[i + 1 : i + 1 + length]
                for a in answers
                for i in range(n - 1, len(a) - 1)
                if tuple(a[i - n + 1 : i + 1]) == key
            ]
            if len(followers) < min_count:
                continue
            path: list[int] = []
            while len(path) < length:
                agreeing = [f for f in followers if f[: len(path)] == path and len(f) > len(path)]
                if not agreeing:
                    break
                token, count = Counter(f[len(path)] for f in agreeing).most_common(1)[0]
                if count < len(followers) * share:
                    break
                path.append(token)
            if path:
                table[key] = path
    return table


def data_of(answers: list[list[int]], prompt: int = 2) -> DistillationData:
    sequences = [np.array([7] * prompt + a, dtype=np.int64) for a in answers]
    return DistillationData(sequences, np.full(len(answers), prompt), ["p"] * len(answers))


@settings(max_examples=40, deadline=None)
@given(
    answers=st.lists(st.lists(st.integers(0, 4), min_size=1, max_size=30), min_size=1, max_size=6),
    max_ngram=st.integers(1, 3),
    length=st.integers(1, 5),
    min_count=st.integers(1, 3),
)
def test_table_matches_the_definition(
    answers: list[list[int]], max_ngram: int, length: int, min_count: int
) -> None:
    store = build_datastore(
        data_of(answers), max_ngram=max_ngram, length=length, min_count=min_count
    )
    # the prompt's last token (7) precedes each answer's first token
    expected = brute_force([[7, *a] for a in answers], max_ngram, length, min_count, 0.2)
    assert {k: store.table[k] for k in store.table} == expected
    # ties aside, the path never gets ahead of the data's own agreement
    for path in store.table.values():
        assert 1 <= len(path) <= length


def test_match_prefers_the_longest_stored_ngram() -> None:
    store = Datastore({(1,): [9], (2, 1): [8, 8], (3, 2, 1): [5]})
    assert store.max_ngram == 3
    assert store.match([0, 3, 2, 1]) == ([5], 3)
    assert store.match([0, 4, 2, 1]) == ([8, 8], 2)
    assert store.match([4, 4, 1]) == ([9], 1)
    assert store.match([4, 4, 6]) == ([], 0)
    assert store.propose([4, 2, 1], 1) == [8]
    assert store.propose([4, 2, 1], 0) == []


def test_save_load_round_trip(tmp_path: Path) -> None:
    answers = [[1, 2, 3, 4, 1, 2, 3, 5], [1, 2, 3, 4, 6], [2, 3, 4, 1]]
    store = build_datastore(data_of(answers), min_count=2, max_ngram=3)
    assert len(store) > 0
    path = store.save(tmp_path / "sub" / "store.npz")
    again = Datastore.load(path)
    assert again.table == store.table
    assert again.max_ngram == store.max_ngram
    assert (
        again.settings
        == store.settings
        == {
            "answers": 3,
            "length": 8,
            "max_ngram": 3,
            "min_count": 2,
            "min_probability": 0.2,
        }
    )


def test_unreadable_files_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(InvalidInputError, match="path="):
        Datastore.load(bad)
    other = tmp_path / "other.npz"
    np.savez(other, format=np.array("something-else"), version=np.array(1))
    with pytest.raises(InvalidInputError, match="tessera-medusa-datastore"):
        Datastore.load(other)
    with pytest.raises(InvalidInputError, match="path="):
        Datastore.load(tmp_path / "missing.npz")


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"max_ngram": 0}, "max_ngram"),
        ({"length": 0}, "length"),
        ({"min_count": 0}, "min_count"),
        ({"min_probability": 0.0}, "min_probability"),
        ({"min_probability": 1.5}, "min_probability"),
    ],
)
def test_bad_build_arguments(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(InvalidInputError, match=f"{name}="):
        build_datastore(data_of([[1, 2, 3]]), **kwargs)


def test_short_prompt_matches_draft_fewer_tokens() -> None:
    lookup = PromptLookup([5, 6, 7, 8, 9, 10, 11, 12, 1, 6, 7, 8], max_ngram=3)
    # "6 7 8" + root 9 matches the 3-gram "7 8 9": the full length
    assert lookup.propose(9, 4, short_length=2) == [10, 11, 12, 1]
    # root 13 has no earlier occurrence; "8 13" neither: nothing
    assert lookup.propose(13, 4, short_length=2) == []
    # root 7 after "... 6 7 8": "8 7" unseen, "7" last at index 10 (then 8, then the
    # context's own end, root 7): a 1-token match, cut to 2 tokens
    assert lookup.propose(7, 4, short_length=2) == [8, 7]
    assert lookup.propose(7, 4, min_ngram=2) == []


def test_medusa_with_the_datastore_keeps_greedy_output_and_drafts_from_it() -> None:
    from tests.llm.test_invariant import small_llama

    from tessera.llm import make_batch_invariant

    model = make_batch_invariant(small_llama(seed=3, intermediate_size=128))
    prompt = [3, 17, 42, 8, 56]
    with torch.inference_mode():
        plain = [t for s in plain_generate(model, prompt, max_new_tokens=40) for t in s]
        # the model's own answer is the datastore: its continuations are right
        store = build_datastore(data_of([plain], prompt=len(prompt)), min_count=1)
        stats = DecodeStats()
        root_only = MedusaTree.from_paths([])
        drafted = [
            t
            for s in medusa_generate(
                model,
                _no_heads(),
                root_only,
                prompt,
                max_new_tokens=40,
                stats=stats,
                lookup_tokens=6,
                lookup_min_ngram=3,
                datastore=store,
            )
            for t in s
        ]
    assert drafted == plain
    assert stats.datastore_tokens > 0
    assert stats.mean_accepted > 1.5


def _no_heads() -> Any:
    from tessera.llm.medusa import MedusaConfig, MedusaHeads

    return MedusaHeads(MedusaConfig(hidden_size=64, vocab_size=97, num_heads=1)).to(torch.bfloat16)


def test_bad_decoding_arguments() -> None:
    from tests.llm.test_invariant import small_llama

    model = small_llama(seed=0, intermediate_size=64)
    tree = MedusaTree.from_paths([])
    with pytest.raises(InvalidInputError, match="datastore="):
        next(
            medusa_generate(
                model, _no_heads(), tree, [1, 2], max_new_tokens=4, datastore={(1,): [2]}
            )
        )
    with pytest.raises(InvalidInputError, match="lookup_min_ngram="):
        next(
            medusa_generate(model, _no_heads(), tree, [1, 2], max_new_tokens=4, lookup_min_ngram=4)
        )
