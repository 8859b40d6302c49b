"""DocumentStore: round trips, safe keys (no path traversal), atomic writes, clear errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.errors import InvalidInputError, NotFoundError
from tessera.llm.flows._storage import DocumentStore, check_key

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=40)
@given(value=json_values)
def test_json_round_trip(tmp_path_factory: pytest.TempPathFactory, value: object) -> None:
    store = DocumentStore(tmp_path_factory.mktemp("store"))
    store.write("tickets/1042", value)
    assert store.read("tickets/1042") == value
    assert store.keys() == ["tickets/1042"]


def test_text_round_trip_and_overwrite(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path, format="text")
    path = store.write("notes", "first\nline two")
    assert path == tmp_path.resolve() / "notes.txt"
    assert store.read("notes") == "first\nline two"
    store.write("notes", "second")
    assert store.read("notes") == "second"
    assert store.keys() == ["notes"]
    # A json store of the same folder sees its own files only.
    assert DocumentStore(tmp_path).keys() == []


@pytest.mark.parametrize(
    "key",
    [
        "",
        "..",
        "../outside",
        "a/../../outside",
        "a/./b",
        "/etc/passwd",
        "a//b",
        "a/",
        ".hidden",
        "a\\..\\b",
        "C:/windows",
        "tickets/ 1",
        "x" * 201,
        "a\x00b",
        "notes\n",
        "~/notes",
        "\ud800",
        None,
        42,
    ],
)
def test_unsafe_keys_are_refused(tmp_path: Path, key: object) -> None:
    store = DocumentStore(tmp_path)
    with pytest.raises(InvalidInputError, match=r"key=.* is invalid: .* no '\.\.'"):
        store.write(key, {"x": 1})  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="key="):
        store.read(key)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


@settings(max_examples=100)
@given(key=st.text(alphabet="ab./\\-_~: \x00", max_size=12))
def test_any_accepted_key_stays_inside_the_folder(
    tmp_path_factory: pytest.TempPathFactory, key: str
) -> None:
    root = tmp_path_factory.mktemp("store")
    store = DocumentStore(root / "docs")
    try:
        check_key(key)
    except InvalidInputError:
        return
    path = store.write(key, "x")
    assert path.is_relative_to((root / "docs").resolve())
    assert store.read(key) == "x"


def test_a_symbolic_link_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = tmp_path / "store"
    folder.mkdir()
    (folder / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InvalidInputError, match="resolves outside the storage folder"):
        DocumentStore(folder).write("link/secret", {"x": 1})
    assert list(outside.iterdir()) == []


def test_a_failed_write_keeps_the_old_document_and_leaves_no_temporary_file(
    tmp_path: Path,
) -> None:
    store = DocumentStore(tmp_path)
    store.write("doc", {"version": 1})
    with pytest.raises(InvalidInputError, match=r"content=.* cannot be stored as JSON"):
        store.write("doc", {"version": math.nan})
    with pytest.raises(InvalidInputError, match="cannot be stored as JSON"):
        store.write("doc", {"version": object()})
    assert store.read("doc") == {"version": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.json"]


def test_text_store_takes_only_strings(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="a text store holds strings"):
        DocumentStore(tmp_path, format="text").write("k", {"a": 1})


def test_reading_a_missing_key(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path)
    store.write("present", 1)
    with pytest.raises(
        NotFoundError, match=r"key='absent' .* nothing is stored under it.*1 stored"
    ):
        store.read("absent")


def test_reading_a_corrupt_file(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="is not valid JSON"):
        DocumentStore(tmp_path).read("broken")


def test_bad_format(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="format='yaml' is invalid"):
        DocumentStore(tmp_path, format="yaml")  # type: ignore[arg-type]


def test_stored_json_is_readable_by_other_tools(tmp_path: Path) -> None:
    path = DocumentStore(tmp_path).write("a/b", {"text": "café"})
    assert json.loads(path.read_text(encoding="utf-8")) == {"text": "café"}
