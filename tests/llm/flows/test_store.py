"""FlowRegistry: validate on save, versions and labels, idempotent saves, refs that run."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from _flowdocs import echo_flow as echo
from tessera.errors import InvalidInputError, NotFoundError
from tessera.llm.flows import FlowRegistry, FlowValidationError, run_flow
from tessera.llm.flows.examples import support_flow_path


@pytest.fixture
def flows(tmp_path: Path) -> FlowRegistry:
    return FlowRegistry(db=tmp_path / "flows.db")


def test_save_versions_labels_and_refs(flows: FlowRegistry) -> None:
    first = flows.save(echo(), message="first", label="production")
    assert (first.number, first.labels) == (1, ("latest", "production"))
    changed = echo(description="second")
    second = flows.save(changed, message="second")
    assert second.number == 2
    assert [v.message for v in flows.versions("echo")] == ["first", "second"]
    assert flows.flow("echo@production").description == ""
    assert flows.flow("echo").description == "second"
    assert flows.stored("echo@1").version == 1
    assert flows.stored("echo@draft").version is None
    flows.set_label("echo", "production", 2)
    assert flows.flow("echo@production").description == "second"
    assert run_flow(flows.flow("echo@production"), "hi", trace=False).outputs == {"out": "hi"}


def test_saving_an_unchanged_flow_adds_no_version(flows: FlowRegistry) -> None:
    flows.save(echo())
    again = flows.save(yaml.safe_dump(echo()), label="staging")
    assert again.number == 1
    assert "staging" in again.labels
    assert len(flows.versions("echo")) == 1


def test_an_invalid_flow_is_never_stored(flows: FlowRegistry) -> None:
    broken = echo()
    broken["connections"] = []  # the Output's input is fed by nothing
    with pytest.raises(FlowValidationError, match="problem"):
        flows.save(broken)
    assert flows.names() == []
    flows.save(echo())
    with pytest.raises(FlowValidationError):
        flows.save(broken)
    assert len(flows.versions("echo")) == 1


def test_drafts_are_shape_checked_and_commits_fully_checked(flows: FlowRegistry) -> None:
    flows.create("echo", echo())
    broken = echo()
    broken["connections"] = []
    flows.update_draft("echo", broken)  # a draft may be unfinished ...
    with pytest.raises(FlowValidationError):
        flows.commit("echo")  # ... a version may not
    with pytest.raises(InvalidInputError, match="nodes"):
        flows.update_draft("echo", {"name": "echo", "nodes": "none"})
    with pytest.raises(InvalidInputError, match=r"body.name='other' is invalid"):
        flows.update_draft("echo", echo("other"))


def test_a_saved_file_keeps_its_folder_for_relative_paths(
    flows: FlowRegistry, tmp_path: Path
) -> None:
    copy_dir = tmp_path / "shipped" / "flows"
    copy_dir.mkdir(parents=True)
    flow_file = copy_dir / "support-ticket.yaml"
    flow_file.write_text(support_flow_path().read_text(encoding="utf-8"), encoding="utf-8")
    flows.save(flow_file)
    stored = flows.flow("support-ticket")
    assert stored.base_dir == copy_dir.resolve()
    assert stored.node("search") is not None
    # The document itself round-trips without the stored folder key.
    assert "baseDir" not in stored.to_dict()


def test_unknown_refs(flows: FlowRegistry) -> None:
    with pytest.raises(NotFoundError):
        flows.flow("nothing")
    flows.save(echo())
    with pytest.raises(NotFoundError):
        flows.flow("echo@7")
    with pytest.raises(NotFoundError):
        flows.flow("echo@production")
    with pytest.raises(InvalidInputError, match="ref="):
        flows.flow("echo@")


def test_flows_and_prompts_do_not_share_names(tmp_path: Path) -> None:
    from tessera.llm._versioned import VersionedStore

    db = tmp_path / "shared.db"
    FlowRegistry(db).save(echo())
    assert VersionedStore("prompt", db).names() == []
    assert copy.deepcopy(FlowRegistry(db).names()) == ["echo"]


@pytest.mark.parametrize("name", ["traces", "validate", "save", "invoke"])
def test_names_of_the_services_routes_are_reserved(flows: FlowRegistry, name: str) -> None:
    """GET /v1/flows/traces lists runs: a flow of that name could never be read over HTTP."""
    with pytest.raises(InvalidInputError, match=rf"^name='{name}' is invalid: .*reserved"):
        flows.save(echo(name))
    with pytest.raises(InvalidInputError, match="reserved"):
        flows.create(name, echo(name))
    assert name not in flows.names()
