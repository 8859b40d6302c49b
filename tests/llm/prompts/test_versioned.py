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


@pytest.mark.parametrize(
    "name",
    ["", "a b", "x" * 65, "a@b", "ü", None, ".", "..", "...", ".hidden", "-rf", "--help", "-"]
    + ["a/b", "../etc", "a\\b", "a\x00b", "a\nb", "a\tb", "\x7f", " ", "\t", " p", "p\n"],
)
def test_bad_names(store: VersionedStore, name: Any) -> None:
    with pytest.raises(InvalidInputError, match="name=.*1 to 64 characters") as info:
        store.create(name, {})
    assert "does not start with '.' or '-'" in str(info.value)
    assert store.names() == []


@pytest.mark.parametrize("name", ["p", "a.b-c_d", "_private", "9lives", "v1.", "x" * 64])
def test_good_names(store: VersionedStore, name: str) -> None:
    store.create(name, {})
    assert store.names() == [name]


@pytest.mark.parametrize("label", [".", "..", "-rf", ".prod"])
def test_labels_follow_the_name_rule(store: VersionedStore, label: str) -> None:
    store.create("p", {})
    store.commit("p")
    with pytest.raises(InvalidInputError, match="label=.*does not start with"):
        store.set_label("p", label, 1)


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


# -- version numbers past SQLite's integers --------------------------------------------


@pytest.mark.parametrize(
    "number", [2**63, 2**70, 10**30, 10**5000], ids=["2**63", "2**70", "10**30", "10**5000"]
)
def test_versions_past_sqlite_integers_do_not_exist(store: VersionedStore, number: int) -> None:
    store.create("p", {})
    store.commit("p")
    for call in (
        lambda: store.get("p", version=number),
        lambda: store.set_label("p", "prod", number),
        lambda: store.delete_version("p", number),
    ):
        with pytest.raises(NotFoundError, match=r"version=.*no version exists past 9223"):
            call()
    assert store.labels("p") == {"latest": 1}


@pytest.mark.parametrize(
    "selector",
    ["9223372036854775808", "99999999999999999999999", "9" * 5000, "0" * 30 + "9" * 20],
    ids=["2**63", "10**23", "5000-digits", "leading-zeros"],
)
def test_references_past_sqlite_integers_do_not_exist(store: VersionedStore, selector: str) -> None:
    store.create("p", {})
    store.commit("p")
    with pytest.raises(NotFoundError, match="ref=.*no version exists past"):
        store.resolve(f"p@{selector}")


def test_largest_version_number_is_looked_up(store: VersionedStore) -> None:
    store.create("p", {})
    store.commit("p")
    with pytest.raises(NotFoundError, match="has no version 9223372036854775807"):
        store.resolve(f"p@{2**63 - 1}")
    assert store.resolve("p@0001").number == 1


@pytest.mark.parametrize(
    ("ref", "error", "match"),
    [
        ("p@0", InvalidInputError, "int >= 1"),
        ("p@000", InvalidInputError, "int >= 1"),
        # Not ASCII digits: a label, and not a valid one (int('²') would raise ValueError).
        ("p@²", InvalidInputError, "ref="),
        ("p@٣", InvalidInputError, "ref="),
    ],
)
def test_selectors_that_are_not_version_numbers(
    store: VersionedStore, ref: str, error: type[Exception], match: str
) -> None:
    store.create("p", {})
    store.commit("p")
    with pytest.raises(error, match=match):
        store.resolve(ref)


# -- draft revisions (optimistic concurrency) ------------------------------------------


def test_every_draft_write_advances_the_revision(store: VersionedStore) -> None:
    assert store.create("p", {"n": 0}).revision == 1
    assert store.update_draft("p", {"n": 1}).revision == 2
    assert store.update_draft("p", {"n": 1}).revision == 3  # a write, even of the same body
    store.commit("p")
    store.set_tags("p", ["x"])
    store.set_description("p", "d")
    assert store.draft("p").revision == 3  # commits, tags and descriptions leave it
    draft = store.resolve("p@draft")
    assert isinstance(draft, Draft) and draft.revision == 3


def test_a_stale_base_revision_writes_nothing(store: VersionedStore) -> None:
    store.create("p", {"text": "mine"})
    read = store.draft("p").revision
    store.update_draft("p", {"text": "theirs"}, base_revision=read)
    with pytest.raises(ConflictError, match="base_revision=1: .* at revision 2") as info:
        store.update_draft("p", {"text": "mine, edited"}, base_revision=read)
    assert "Re-read the draft" in str(info.value) and "nothing was written" in str(info.value)
    with pytest.raises(ConflictError, match="nothing was committed.*base_revision=2"):
        store.commit("p", "my edit", base_revision=read)
    assert store.draft("p").body == {"text": "theirs"} and store.versions("p") == []
    version = store.commit("p", "their edit", base_revision=2)
    assert (version.number, version.body) == (1, {"text": "theirs"})
    # Without base_revision the last writer wins, as before.
    assert store.update_draft("p", {"text": "anyone"}).revision == 3


@pytest.mark.parametrize(
    "bad",
    [0, -1, True, 1.0, "1", 2**63, 10**5000],
    ids=["0", "-1", "True", "1.0", "'1'", "2**63", "10**5000"],
)
def test_bad_base_revisions(store: VersionedStore, bad: Any) -> None:
    store.create("p", {})
    with pytest.raises(InvalidInputError, match="base_revision=.*int from 1 to 9223"):
        store.update_draft("p", {"x": 1}, base_revision=bad)
    with pytest.raises(InvalidInputError, match="base_revision="):
        store.commit("p", base_revision=bad)
    assert store.draft("p").revision == 1 and store.versions("p") == []


def test_revisions_never_repeat_after_a_deletion(store: VersionedStore) -> None:
    store.create("p", {"old": True})
    store.update_draft("p", {"old": True})
    store.delete("p")
    # A client still holding revision 2 of the deleted draft must not match the new one.
    recreated = store.create("p", {"new": True})
    assert recreated.revision == 3
    with pytest.raises(ConflictError):
        store.update_draft("p", {"overwritten": True}, base_revision=2)


def test_revisions_travel_with_export_and_import(tmp_path: Path) -> None:
    source = VersionedStore("prompt", db=tmp_path / "a.db")
    source.create("p", {})
    source.update_draft("p", {"n": 1})
    records = source.export_records()
    assert records[0]["draft"]["revision"] == 2
    target = VersionedStore("prompt", db=tmp_path / "b.db")
    target.import_records(records)
    assert target.draft("p").revision == 2
    # An export written before revisions existed imports as revision 1.
    old = {**records[0], "name": "q", "draft": {"body": {}, "updated_at": "t"}}
    target.import_records([old])
    assert target.draft("q").revision == 1


def test_a_database_from_before_revisions_is_upgraded(tmp_path: Path) -> None:
    from tessera.llm import _db
    from tessera.llm._versioned._schema import MIGRATIONS

    path = tmp_path / "old.db"
    conn = _db.connect(path)
    _db.migrate(conn, "versioned", MIGRATIONS[:1])
    conn.execute("INSERT INTO versioned_items VALUES ('prompt', 'p', '', '[]', '{}', 't')")
    conn.execute("INSERT INTO versioned_counters VALUES ('prompt', 'p', 4)")
    conn.close()
    store = VersionedStore("prompt", db=path)
    assert store.draft("p").revision == 1
    assert store.update_draft("p", {"n": 1}, base_revision=1).revision == 2
    assert store.commit("p", base_revision=2).number == 5


# -- the database file -----------------------------------------------------------------


def test_database_and_home_are_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import stat

    from tessera.llm import _db

    home = tmp_path / "home" / "tessera"
    monkeypatch.setenv("TESSERA_HOME", str(home))
    previous = os.umask(0)  # the modes must not depend on a careful umask
    try:
        store = VersionedStore("prompt")
        store.create("p", {})
        conn = _db.connect()  # an open connection keeps the -wal and -shm files
        conn.execute("SELECT * FROM versioned_items").fetchall()
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [home, *sorted(home.iterdir())]}
        conn.close()
        elsewhere = tmp_path / "new-folder" / "custom.db"
        VersionedStore("prompt", db=elsewhere)
        custom = stat.S_IMODE(elsewhere.stat().st_mode)
        folder = stat.S_IMODE(elsewhere.parent.stat().st_mode)
    finally:
        os.umask(previous)
    assert modes == {
        "tessera": 0o700,
        "tessera.db": 0o600,
        "tessera.db-shm": 0o600,
        "tessera.db-wal": 0o600,
    }
    assert (custom, folder) == (0o600, 0o700)


def test_an_existing_database_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    path.touch(mode=0o640)
    path.chmod(0o640)
    VersionedStore("prompt", db=path).create("p", {})
    assert path.stat().st_mode & 0o777 == 0o640


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


def test_threads_editing_with_revisions_lose_nothing(tmp_path: Path) -> None:
    """Two editors (threads, each with its own store object) write their own text on the
    revision they read and commit that revision, redoing a round on ConflictError: every
    acknowledged commit is a version with exactly its text, and no other version exists."""
    setup = VersionedStore("prompt", db=tmp_path / "shared.db")
    setup.create("hot", {"text": "seed"})

    def edit(editor: str) -> list[tuple[int, str]]:
        store = VersionedStore("prompt", db=tmp_path / "shared.db")
        acknowledged = []
        for round_ in range(40):
            mine = f"{editor} {round_}"
            for _attempt in range(1000):
                try:
                    read = store.draft("hot").revision
                    written = store.update_draft("hot", {"text": mine}, base_revision=read)
                    version = store.commit("hot", mine, base_revision=written.revision)
                except ConflictError:
                    continue
                assert version.body == {"text": mine}
                acknowledged.append((version.number, mine))
                break
            else:
                raise AssertionError(f"{editor}: round {round_} never landed")
        return acknowledged

    with ThreadPoolExecutor(2) as pool:
        results = [pair for found in pool.map(edit, ["ann", "bob"]) for pair in found]
    stored = setup.versions("hot")
    assert sorted((v.number, v.body["text"]) for v in stored) == sorted(results)
    assert len(stored) == 80 and all(v.body["text"] == v.message for v in stored)


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
        self.revision = 1
        # Two editors and the draft revision each last read.
        self.read_by = {"ann": 1, "bob": 1}

    def teardown(self) -> None:
        self.folder.cleanup()

    @rule(n=st.integers(0, 9))
    def edit(self, n: int) -> None:
        self.store.update_draft("p", {"n": n})
        self.draft = n
        self.revision += 1

    @rule()
    def commit(self) -> None:
        self.last += 1
        assert self.store.commit("p").number == self.last
        self.versions[self.last] = self.draft

    @rule(editor=st.sampled_from(["ann", "bob"]))
    def read(self, editor: str) -> None:
        self.read_by[editor] = self.store.draft("p").revision

    @rule(editor=st.sampled_from(["ann", "bob"]), n=st.integers(10, 19))
    def edit_what_was_read(self, editor: str, n: int) -> None:
        base = self.read_by[editor]
        if base != self.revision:
            with pytest.raises(ConflictError, match=f"at revision {self.revision}"):
                self.store.update_draft("p", {"n": n}, base_revision=base)
            return
        written = self.store.update_draft("p", {"n": n}, base_revision=base)
        self.revision += 1
        assert written.revision == self.revision and written.body == {"n": n}
        self.draft = n
        self.read_by[editor] = written.revision

    @rule(editor=st.sampled_from(["ann", "bob"]))
    def commit_what_was_read(self, editor: str) -> None:
        base = self.read_by[editor]
        if base != self.revision:
            with pytest.raises(ConflictError, match=f"at revision {self.revision}"):
                self.store.commit("p", editor, base_revision=base)
            return
        self.last += 1
        version = self.store.commit("p", editor, base_revision=base)
        # Exactly the text of the revision the editor read.
        assert (version.number, version.body) == (self.last, {"n": self.draft})
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
        assert self.store.draft("p").revision == self.revision


TestStoreMachine = StoreMachine.TestCase
TestStoreMachine.settings = settings(max_examples=25, stateful_step_count=15)
