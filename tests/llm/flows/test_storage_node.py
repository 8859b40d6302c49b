"""The Storage node in real flows: write then read back, checks per mode, unsafe keys, and
the storage roots (issue 17: a Storage node wrote ``<key>.json`` into any folder the flow
named, so a ``flows:write`` key could write wherever the server's user can)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from _flowdocs import storage_flow
from tessera.errors import InvalidInputError
from tessera.llm.flows import (
    FlowRegistry,
    FlowRunError,
    FlowValidationError,
    RunContext,
    get_node_type,
    load_flow,
    run_batch,
    run_flow,
    validate_flow,
)
from tessera.llm.flows._policy import check_storage_roots
from tessera.llm.flows._storage import DocumentStore


def test_write_then_read_back(tmp_path: Path) -> None:
    folder = str(tmp_path / "docs")
    content = {"ticket": 1042, "text": "kettle leaks", "tags": ["returns"]}
    written = run_flow(
        storage_flow(folder, "write"),
        {"key": "tickets/1042", "content": content},
        storage_roots=[tmp_path],
        trace=False,
    )
    assert written.outputs["out"] == str((tmp_path / "docs" / "tickets" / "1042.json").resolve())
    read = run_flow(
        storage_flow(folder, "read"), {"key": "tickets/1042"}, storage_roots=tmp_path, trace=False
    )
    assert read.outputs["out"] == content
    assert DocumentStore(folder).read("tickets/1042") == content


def test_a_traversal_key_fails_the_run_and_writes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    with pytest.raises(FlowRunError, match=r"node 'store' failed: key='\.\./escape' is invalid"):
        run_flow(
            storage_flow(str(folder), "write"),
            {"key": "../escape", "content": {"a": 1}},
            storage_roots=[tmp_path],
            trace=False,
        )
    assert not (tmp_path / "escape.json").exists()
    assert not folder.exists()


def test_reading_a_missing_key_fails_the_run(tmp_path: Path) -> None:
    with pytest.raises(FlowRunError, match="nothing is stored under it"):
        run_flow(
            storage_flow(str(tmp_path), "read"),
            {"key": "absent"},
            storage_roots=[tmp_path],
            trace=False,
        )


def test_ports_are_checked_per_mode(tmp_path: Path) -> None:
    write = storage_flow(str(tmp_path), "write")
    write["nodes"][1]["configuration"]["mode"] = "read"
    fields = {p.field: p.message for p in validate_flow(write) if p.node == "store"}
    assert "mode 'read' takes only ['key']" in fields["inputs.content"]
    assert "needs an output named 'document'" in fields["outputs"]

    read = storage_flow(str(tmp_path), "read")
    read["nodes"][1]["configuration"]["mode"] = "write"
    fields = {p.field: p.message for p in validate_flow(read) if p.node == "store"}
    assert "needs an input named 'content'" in fields["inputs"]
    assert "outputs only ['location']" in fields["outputs.document"]

    bad = storage_flow(str(tmp_path), "read")
    bad["nodes"][1]["configuration"]["mode"] = "append"
    assert any(p.field == "configuration.mode" for p in validate_flow(bad))


# -- storage roots ---------------------------------------------------------------------------


def folder_problems(document: dict[str, Any], **policy: Any) -> list[str]:
    """The messages of the problems on the Storage node's folder."""
    return [
        p.message
        for p in validate_flow(document, **policy)
        if (p.node, p.field) == ("store", "configuration.folder")
    ]


def test_without_storage_roots_a_storage_node_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    for mode in ("write", "read"):
        [message] = folder_problems(storage_flow(str(folder), mode))
        assert message.startswith(f"folder={str(folder)!r} is invalid: it lies outside")
        assert "the folders Storage nodes may write (none)" in message
        assert "storage_roots=[...]" in message and "--storage-root DIR" in message
    with pytest.raises(FlowValidationError, match="configuration.folder"):
        run_flow(storage_flow(str(folder), "write"), {"key": "k", "content": {}}, trace=False)
    assert not folder.exists()


@pytest.mark.parametrize(
    "named",
    [
        "ROOT/../outside",
        "ROOT/docs/../../outside",
        "OUTSIDE",
        "/etc",
        "/",
        "~",
        "../../../../../../../../tmp",
        "ROOT/link/docs",
    ],
)
def test_a_folder_outside_the_roots_is_refused_at_validate_save_and_run(
    tmp_path: Path, named: str
) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    folder = named.replace("ROOT", str(root)).replace("OUTSIDE", str(outside))
    write = storage_flow(folder, "write")
    [message] = folder_problems(write, storage_roots=[root])
    assert f"folder={folder!r} is invalid" in message and str(root) in message
    with pytest.raises(FlowValidationError, match="Storage nodes may write"):
        run_flow(write, {"key": "k", "content": {"a": 1}}, storage_roots=[root], trace=False)
    registry = FlowRegistry(tmp_path / "f.db", storage_roots=[root])
    with pytest.raises(FlowValidationError, match="configuration.folder"):
        registry.save(write)
    assert registry.names() == []
    assert list(outside.iterdir()) == []


def test_a_folder_inside_a_root_is_written_relative_to_the_flow_file(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "flows").mkdir(parents=True)
    flow_file = root / "flows" / "store.yaml"
    flow_file.write_text(yaml.safe_dump(storage_flow("../documents", "write")), encoding="utf-8")
    assert folder_problems(str(flow_file), storage_roots=[root]) == []
    result = run_flow(
        flow_file, {"key": "a/b", "content": {"n": 1}}, storage_roots=[root], trace=False
    )
    assert result.outputs["out"] == str((root / "documents" / "a" / "b.json").resolve())
    # The same relative folder from a file outside the root is refused.
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text(flow_file.read_text(encoding="utf-8"), encoding="utf-8")
    assert folder_problems(str(elsewhere), storage_roots=[root])


def test_retrieval_roots_do_not_let_storage_write(tmp_path: Path) -> None:
    """Reading is not writing: a knowledge folder is not a storage root."""
    knowledge = tmp_path / "kb"
    knowledge.mkdir()
    assert folder_problems(storage_flow(str(knowledge), "write"), retrieval_roots=[knowledge])


def test_the_run_checks_the_roots_again(tmp_path: Path) -> None:
    """A run may get a context validation never saw (a stored flow run elsewhere)."""
    spec = load_flow(storage_flow(str(tmp_path / "docs"), "write"))
    node = spec.node("store")
    assert node is not None
    storage = get_node_type("Storage")
    assert storage is not None
    inputs = {"key": "k", "content": {"a": 1}}
    with pytest.raises(InvalidInputError, match="outside the folders Storage nodes may write"):
        storage.run(node, inputs, RunContext(run_id="x", flow=spec))
    assert not (tmp_path / "docs").exists()
    allowed = RunContext(run_id="x", flow=spec, storage_roots=(tmp_path.resolve(),))
    assert storage.run(node, inputs, allowed) == {"location": str(tmp_path / "docs" / "k.json")}


def test_a_registry_with_a_policy_checks_storage_too(tmp_path: Path) -> None:
    write = storage_flow(str(tmp_path / "docs"), "write")
    with pytest.raises(FlowValidationError, match="configuration.folder"):
        FlowRegistry(tmp_path / "f.db", allowed_code=[]).save(write)  # storage default: none
    assert FlowRegistry(tmp_path / "f.db", storage_roots=[tmp_path]).save(write).number == 1
    assert FlowRegistry(tmp_path / "g.db").save(write).number == 1  # no policy: trusted Python


def test_run_batch_takes_storage_roots(tmp_path: Path) -> None:
    records = [{"input": {"key": f"k{i}", "content": {"i": i}}, "expected": "?"} for i in (1, 2)]
    flow = storage_flow(str(tmp_path / "docs"), "write")
    with pytest.raises(FlowValidationError, match="configuration.folder"):
        run_batch(flow, records, evaluator="contains", trace=False)
    run_batch(flow, records, evaluator="contains", storage_roots=[tmp_path], trace=False)
    assert DocumentStore(tmp_path / "docs").keys() == ["k1", "k2"]


@pytest.mark.parametrize("root", ["MISSING", "FILE", 42])
def test_a_storage_root_must_be_an_existing_folder(tmp_path: Path, root: Any) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    root = {"MISSING": tmp_path / "missing", "FILE": tmp_path / "file"}.get(root, root)
    with pytest.raises(InvalidInputError, match=r"^storage_roots=.* is invalid: each root"):
        check_storage_roots([root])
    with pytest.raises(InvalidInputError, match="storage_roots="):
        validate_flow(storage_flow(str(tmp_path), "write"), storage_roots=[root])


@pytest.mark.parametrize(
    "key", ["../escape", "/tmp/escape", "docs/../../escape", "a\x00b", "~/escape", ".env"]
)
def test_a_key_that_is_a_path_fails_the_run_and_writes_nothing(tmp_path: Path, key: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(FlowRunError, match=r"node 'store' failed: key=.* is invalid"):
        run_flow(
            storage_flow(str(root / "docs"), "write"),
            {"key": key, "content": {"a": 1}},
            storage_roots=[root],
            trace=False,
        )
    assert list(root.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]
