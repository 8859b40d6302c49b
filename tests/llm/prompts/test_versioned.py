"""VersionedStore: drafts, numbered versions, labels, deletion rules, refs, export/import."""

from __future__ import annotations

import math
import multiprocessing
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tessera.errors import ConflictError, InvalidInputError, NotFoundError
from tessera.llm._versioned import Draft, Version, VersionedStore


@pytest.fixture()
def store(tmp_path: Path) -> VersionedStore:
    return VersionedStore("prompt", db=tmp_path / "registry.db")


def test_commit_snapshots_the_draft_and_numbers_from_one(store: VersionedStore) -> None:
    draft = store.create("greet", {"text": "hi"}, description="says hi", tags=["a", "b", "a"])
    assert draft.body == {"text": "hi"} and draft.tags == ("a", "b")
    assert draft.description == "says hi"
    first = store.commit("greet", "first")
    store.update_draft("greet", {"text": "hello"})
    second = store.commit("greet", "second")
    assert (first.number, second.number) == (1, 2)
    # The committed version does not follow later draft edits.
    store.update_draft("greet", {"text": "changed"})
    assert store.get("greet", version=1).body == {"text": "hi"}
    assert store.get("greet").body == {"text": "hello"}
    assert store.draft("greet").body == {"text": "changed"}
    assert [v.message for v in store.versions("greet")] == ["first", "second"]


def test_latest_is_automatic_and_follows_deletions(store: VersionedStore) -> None:
    store.create("p", {"n": 0})
    assert store.labels("p") == {}
    for n in range(1, 4):
        store.update_draft("p", {"n": n})
        store.commit("p")
    assert store.labels("p") == {"latest": 3}
    assert store.get("p", label="latest").number == 3
    assert store.get("p").labels == ("latest",)
    store.delete_version("p", 3)
    assert store.labels("p") == {"latest": 2}
    store.delete_version("p", 2)
    store.delete_version("p", 1)
    assert store.labels("p") == {}
    with pytest.raises(NotFoundError, match="label='latest'"):
        store.resolve("p")


def test_labels_move_only_when_told(store: VersionedStore) -> None:
    store.create("p", {"n": 1})
    store.commit("p")
    store.set_label("p", "production", 1)
    store.commit("p")
    assert store.labels("p") == {"latest": 2, "production": 1}
    store.set_label("p", "production", 2)
    assert store.labels("p") == {"latest": 2, "production": 2}
    assert store.get("p", version=2).labels == ("latest", "production")
    store.delete_label("p", "production")
    assert store.labels("p") == {"latest": 2}
    with pytest.raises(NotFoundError, match="label='production'"):
        store.delete_label("p", "production")


@pytest.mark.parametrize(
    ("label", "rule"),
    [
        ("latest", "reserved"),
        ("draft", "reserved"),
        ("12", "all digits"),
        ("", "1 to 64"),
        ("has space", "1 to 64"),
        ("x" * 65, "1 to 64"),
    ],
)
def test_bad_labels_are_refused(store: VersionedStore, label: str, rule: str) -> None:
    store.create("p", {})
    store.commit("p")
    with pytest.raises(InvalidInputError, match=rule) as info:
        store.set_label("p", label, 1)
    assert "label=" in str(info.value)


def test_label_must_point_at_an_existing_version(store: VersionedStore) -> None:
    store.create("p", {})
    store.commit("p")
    with pytest.raises(NotFoundError, match="no version 7.*Its versions: 1"):
        store.set_label("p", "prod", 7)
    with pytest.raises(InvalidInputError, match="version=0"):
        store.set_label("p", "prod", 0)


def test_delete_version_refuses_while_labelled_unless_forced(store: VersionedStore) -> None:
    store.create("p", {})
    store.commit("p")
    store.commit("p")
    store.set_label("p", "production", 1)
    store.set_label("p", "staging", 1)
    with pytest.raises(ConflictError, match="production, staging.*force=True"):
        store.delete_version("p", 1)
    assert [v.number for v in store.versions("p")] == [1, 2]
    store.delete_version("p", 1, force=True)
    assert [v.number for v in store.versions("p")] == [2]
    assert store.labels("p") == {"latest": 2}
    # The automatic "latest" never blocks a deletion.
    store.delete_version("p", 2)
    assert store.versions("p") == []


def test_numbers_are_never_reused(store: VersionedStore) -> None:
    store.create("p", {})
    for _ in range(3):
        store.commit("p")
    store.delete_version("p", 3)
    assert store.commit("p").number == 4
    store.delete("p")
    assert store.names() == []
    store.create("p", {})
    assert store.commit("p").number == 5


def test_resolve_every_reference_form(store: VersionedStore) -> None:
    store.create("p", {"n": 1})
    store.commit("p")
    store.update_draft("p", {"n": 2})
    store.commit("p")
    store.update_draft("p", {"n": 3})
    store.set_label("p", "prod", 1)
    assert isinstance(store.resolve("p"), Version) and store.resolve("p").body == {"n": 2}
    assert store.resolve("p@latest").body == {"n": 2}
    assert store.resolve("p@1").body == {"n": 1}
    assert store.resolve("p@prod").body == {"n": 1}
    draft = store.resolve("p@draft")
    assert isinstance(draft, Draft) and draft.body == {"n": 3}


@pytest.mark.parametrize("ref", ["", "@1", "p@", "p@1@2", "bad name", 3, "p@a b"])
def test_bad_references(store: VersionedStore, ref: Any) -> None:
    store.create("p", {})
    store.commit("p")
    with pytest.raises(InvalidInputError, match="ref="):
        store.resolve(ref)


def test_unknown_names_list_the_known_ones(store: VersionedStore) -> None:
    store.create("alpha", {})
    with pytest.raises(NotFoundError, match="name='beta'.*Known: alpha"):
        store.draft("beta")
    with pytest.raises(NotFoundError, match="Its versions: none yet"):
        store.get("alpha", version=1)


def test_duplicate_create_is_a_conflict(store: VersionedStore) -> None:
    store.create("p", {"a": 1})
    with pytest.raises(ConflictError, match="name='p'.*exists already"):
        store.create("p", {"a": 2})
    assert store.draft("p").body == {"a": 1}


@pytest.mark.parametrize("name", ["", "a b", "x" * 65, "a@b", "ü", None])
def test_bad_names(store: VersionedStore, name: Any) -> None:
    with pytest.raises(InvalidInputError, match="name=.*1 to 64 characters"):
        store.create(name, {})


@pytest.mark.parametrize(
    ("body", "rule"),
    [([1], "a body is a dict"), ({"x": math.nan}, "JSON data"), ({"x": {1, 2}}, "JSON data")],
)
def test_bad_bodies(store: VersionedStore, body: Any, rule: str) -> None:
    with pytest.raises(InvalidInputError, match=rule):
        store.create("p", body)
    assert store.names() == []


def test_tags_and_kinds(tmp_path: Path) -> None:
    prompts = VersionedStore("prompt", db=tmp_path / "r.db")
    flows = VersionedStore("flow", db=tmp_path / "r.db")
    prompts.create("same", {"kind": "prompt"}, tags=["x"])
    flows.create("same", {"kind": "flow"})
    assert prompts.draft("same").body == {"kind": "prompt"}
    assert flows.draft("same").body == {"kind": "flow"}
    prompts.set_tags("same", ["team:search", "v/2"])
    assert prompts.draft("same").tags == ("team:search", "v/2")
    with pytest.raises(InvalidInputError, match="tags="):
        prompts.set_tags("same", "notalist")
    with pytest.raises(InvalidInputError, match="tags="):
        prompts.set_tags("same", ["has space"])
    with pytest.raises(InvalidInputError, match="kind="):
        VersionedStore("bad kind", db=tmp_path / "r.db")


def test_get_takes_a_version_or_a_label_not_both(store: VersionedStore) -> None:
    store.create("p", {})
    store.commit("p")
    with pytest.raises(InvalidInputError, match="not both"):
        store.get("p", version=1, label="latest")
    with pytest.raises(InvalidInputError, match="version=True"):
        store.get("p", version=True)


def test_export_import_round_trip(tmp_path: Path) -> None:
    source = VersionedStore("prompt", db=tmp_path / "a.db")
    source.create("one", {"t": "1"}, description="first", tags=["x"])
    for n in range(3):
        source.update_draft("one", {"t": str(n)})
        source.commit("one", f"m{n}")
    source.set_label("one", "production", 2)
    source.delete_version("one", 3)
    source.create("two", {"t": "draft only"})
    records = source.export_records()
    target = VersionedStore("prompt", db=tmp_path / "b.db")
    assert target.import_records(records) == ["one", "two"]
    assert target.export_records() == records
    # The retired number travels too.
    assert target.commit("one").number == 4


def test_import_is_all_or_nothing(tmp_path: Path) -> None:
    source = VersionedStore("prompt", db=tmp_path / "a.db")
    source.create("one", {})
    source.create("two", {})
    target = VersionedStore("prompt", db=tmp_path / "b.db")
    target.create("two", {"mine": True})
    with pytest.raises(ConflictError, match="'two' exists already; nothing was imported"):
        target.import_records(source.export_records())
    assert target.names() == ["two"]


def test_import_checks_every_field(store: VersionedStore) -> None:
    record: dict[str, Any] = {
        "name": "p",
        "draft": {"body": {}, "updated_at": "t"},
        "versions": [{"number": 1, "body": {}, "created_at": "t"}],
        "labels": {"prod": 2},
    }
    with pytest.raises(InvalidInputError, match=r"records\[0\].*label 'prod' points at 2"):
        store.import_records([record])
    with pytest.raises(InvalidInputError, match=r"records\[0\]\.versions\[0\]\.number='1'"):
        store.import_records(
            [{**record, "labels": {}, "versions": [{**record["versions"][0], "number": "1"}]}]
        )
    assert store.names() == []


# -- concurrency -----------------------------------------------------------------------


def test_two_processes_committing_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    store = VersionedStore("prompt", db=tmp_path / "shared.db")
    store.create("hot", {"text": "x"})
    messages = [f"commit {i}" for i in range(40)]
    context = multiprocessing.get_context("spawn")
    # Each task runs store.commit in one of two worker processes against the same file.
    with context.Pool(2) as pool:
        results = pool.starmap(store.commit, [("hot", m) for m in messages], chunksize=1)
    numbers = sorted(v.number for v in results)
    assert numbers == list(range(1, 41))
    stored = store.versions("hot")
    assert [v.number for v in stored] == numbers
    assert sorted(v.message for v in stored) == sorted(messages)


def test_threads_committing_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    shared = VersionedStore("prompt", db=tmp_path / "shared.db")
    other = VersionedStore("prompt", db=tmp_path / "shared.db")
    shared.create("hot", {})
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: (shared, other)[i % 2].commit("hot", str(i)), range(40)))
    assert sorted(v.number for v in results) == list(range(1, 41))
    assert sorted(int(v.message) for v in shared.versions("hot")) == list(range(40))


# -- a model-based check: the store behaves like a plain dict model --------------------


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.TemporaryDirectory()
        self.store = VersionedStore("prompt", db=Path(self.folder.name) / "m.db")
        self.store.create("p", {"n": 0})
        self.draft = 0
        self.versions: dict[int, int] = {}
        self.labels: dict[str, int] = {}
        self.last = 0

    def teardown(self) -> None:
        self.folder.cleanup()

    @rule(n=st.integers(0, 9))
    def edit(self, n: int) -> None:
        self.store.update_draft("p", {"n": n})
        self.draft = n

    @rule()
    def commit(self) -> None:
        self.last += 1
        assert self.store.commit("p").number == self.last
        self.versions[self.last] = self.draft

    @precondition(lambda self: self.versions)
    @rule(label=st.sampled_from(["prod", "staging"]), data=st.data())
    def label(self, label: str, data: st.DataObject) -> None:
        number = data.draw(st.sampled_from(sorted(self.versions)))
        self.store.set_label("p", label, number)
        self.labels[label] = number

    @precondition(lambda self: self.versions)
    @rule(force=st.booleans(), data=st.data())
    def delete(self, force: bool, data: st.DataObject) -> None:
        number = data.draw(st.sampled_from(sorted(self.versions)))
        pointing = [k for k, v in self.labels.items() if v == number]
        if pointing and not force:
            with pytest.raises(ConflictError):
                self.store.delete_version("p", number)
            return
        self.store.delete_version("p", number, force=force)
        del self.versions[number]
        self.labels = {k: v for k, v in self.labels.items() if v != number}

    @invariant()
    def agrees_with_the_model(self) -> None:
        assert {v.number: v.body["n"] for v in self.store.versions("p")} == self.versions
        expected = dict(self.labels)
        if self.versions:
            expected["latest"] = max(self.versions)
        assert self.store.labels("p") == expected
        assert self.store.draft("p").body == {"n": self.draft}


TestStoreMachine = StoreMachine.TestCase
TestStoreMachine.settings = settings(max_examples=10, stateful_step_count=10)
