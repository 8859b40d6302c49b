"""The operator's policy in the Python API: what Code nodes may call, what retrieval may read.

Issue 17, defects 2 and 9: ``mod:*`` allowed every attribute of ``mod`` (names it merely
imported, private helpers), and a Retrieval node read any folder, ``../..`` included.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from _flowdocs import code_flow, data, put_module, search_flow
from tessera.errors import InvalidInputError
from tessera.llm.flows import (
    FlowRegistry,
    FlowValidationError,
    RunContext,
    code_allowed,
    get_node_type,
    knowledge_base,
    load_flow,
    run_batch,
    run_flow,
    validate_flow,
)
from tessera.llm.flows._policy import check_allowed_code, check_retrieval_roots, code_refusal
from tessera.llm.flows.examples import EXAMPLE_CODE, faq_folder

STEPS = "tessera_test_policy_steps"

STEPS_SOURCE = '''
"""Steps for Code nodes, beside a shell runner it imports and a private helper."""

from math import sqrt
from subprocess import run


class Shouter:
    def __init__(self, text):
        self.text = text.upper()


def public(text):
    return text.upper()


def _private(text):
    return text[::-1]


public_alias = public
'''


@pytest.fixture
def steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A real module file on ``sys.path``; returns its name."""
    put_module(tmp_path / "code", STEPS, STEPS_SOURCE, monkeypatch)
    return STEPS


# -- Code: one rule for wildcards and exact names ------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("run", "imported there from 'subprocess'"),
        ("sqrt", "imported there from 'math'"),
        ("_private", "'_private' is private"),
        ("Shouter", "is a class"),
        ("missing", "defines no function 'missing'"),
    ],
)
def test_a_wildcard_refuses_imports_private_names_and_classes(
    steps: str, name: str, reason: str
) -> None:
    refusal = code_refusal(f"{steps}:{name}", [f"{steps}:*"])
    assert refusal is not None and reason in refusal
    assert not code_allowed(f"{steps}:{name}", [f"{steps}:*"])


def test_a_wildcard_admits_the_public_functions_defined_in_the_module(steps: str) -> None:
    assert code_allowed(f"{steps}:public", [f"{steps}:*"])
    # An alias of a function defined here is that function: admitted under its other name.
    assert code_allowed(f"{steps}:public_alias", [f"{steps}:*"])
    assert code_allowed(f"{steps}:public", [f"{steps}:pub*"])
    assert not code_allowed(f"{steps}:public", [f"{steps}:r*"])
    assert not code_allowed(f"{steps}:run", [f"{steps}:r*"])  # a pattern is a wildcard too


def test_an_exact_name_is_the_operators_explicit_choice(steps: str) -> None:
    for name in ("run", "_private", "Shouter"):
        assert code_allowed(f"{steps}:{name}", [f"{steps}:{name}"])
    assert not code_allowed(f"{steps}:run", [f"{steps}:public"])
    assert code_allowed("operator:eq", ["operator:eq"])  # defined in _operator: named, so fine


def test_the_shipped_example_wildcard_admits_its_functions_only() -> None:
    assert code_allowed("tessera.llm.flows.examples:support_category", [EXAMPLE_CODE])
    for name in ("_data_path", "Path", "re"):
        assert not code_allowed(f"tessera.llm.flows.examples:{name}", [EXAMPLE_CODE])


@pytest.mark.parametrize("entry", ["*", "os", "os.*:*", "*:system", "os:", "os:sys tem"])
def test_malformed_allow_list_entries_are_refused(entry: str) -> None:
    with pytest.raises(InvalidInputError, match=r"allowed_code=.* is invalid: each entry is"):
        check_allowed_code([entry])
    with pytest.raises(InvalidInputError, match="allowed_code="):
        validate_flow(code_flow("os:system"), allowed_code=[entry])


def test_one_rule_for_validate_run_node_and_batch(steps: str) -> None:
    allowed = [f"{steps}:*"]
    for function in (f"{steps}:run", "tessera.llm.flows.examples:_data_path"):
        flow = code_flow(function)
        problems = validate_flow(flow, allowed_code=[*allowed, EXAMPLE_CODE])
        assert [(p.node, p.field) for p in problems] == [("step", "configuration.function")]
        assert "only if you trust it" in problems[0].message
        with pytest.raises(FlowValidationError):
            run_flow(flow, "hi", allowed_code=[*allowed, EXAMPLE_CODE], trace=False)
    # The node refuses on its own when it runs (a context validation never saw).
    spec = load_flow(code_flow(f"{steps}:run"))
    node, code = spec.node("step"), get_node_type("Code")
    assert node is not None and code is not None
    ctx = RunContext(run_id="x", flow=spec, allowed_code=tuple(allowed))
    with pytest.raises(InvalidInputError, match="imported there from 'subprocess'"):
        code.run(node, {"text": "x"}, ctx)
    # A function evaluator of a batch follows the same rule.
    public = code_flow(f"{steps}:public")
    records = [{"input": "a", "expected": "A"}]
    with pytest.raises(InvalidInputError, match=r"evaluator=.* imported there from 'math'"):
        run_batch(public, records, evaluator=f"{steps}:sqrt", allowed_code=allowed, trace=False)
    # What the wildcard does admit runs.
    assert run_flow(public, "hi", allowed_code=allowed, trace=False).outputs == {"out": "HI"}


def test_a_do_while_body_is_held_to_the_same_rule(steps: str) -> None:
    body = code_flow(f"{steps}:run")
    body["nodes"][0]["outputs"][0]["type"] = "Object"
    body["nodes"][1]["inputs"][0]["expression"] = "$.data.text"
    loop = {
        "name": "loop",
        "nodes": [
            {"name": "in", "type": "Input", "outputs": [{"name": "document", "type": "String"}]},
            {
                "name": "loop",
                "type": "DoWhile",
                "configuration": {"body": body, "maxIterations": 1, "exitWhen": "true"},
                "inputs": [{"name": "text", "type": "String"}],
                "outputs": [{"name": "text", "type": "String"}],
            },
            {"name": "out", "type": "Output", "inputs": [{"name": "document", "type": "String"}]},
        ],
        "connections": [
            data("in", "document", "loop", "text"),
            data("loop", "text", "out", "document"),
        ],
    }
    where = {(p.node, p.field) for p in validate_flow(loop, allowed_code=[f"{steps}:*"])}
    assert ("loop/step", "configuration.function") in where


# -- Retrieval: folders inside the roots only -----------------------------------------------


@pytest.fixture
def knowledge(tmp_path: Path) -> Path:
    """``tmp_path/kb`` with one document, and a flow file ``tmp_path/flows/search.yaml``."""
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "kettle.md").write_text("# Descaling\n\nUse white vinegar.", encoding="utf-8")
    (tmp_path / "flows").mkdir()
    return kb


@pytest.mark.parametrize("folder", ["../..", "/etc", "~"])
def test_folders_outside_the_roots_are_refused_at_validate_and_run(
    tmp_path: Path, knowledge: Path, folder: str
) -> None:
    flow_file = tmp_path / "flows" / "search.yaml"
    flow_file.write_text(yaml.safe_dump(search_flow(folder)), encoding="utf-8")
    problems = validate_flow(flow_file, retrieval_roots=[knowledge])
    assert [(p.node, p.field) for p in problems] == [("search", "configuration.folder")]
    message = problems[0].message
    assert f"folder={folder!r} is invalid" in message
    assert str(knowledge) in message and "--retrieval-root" in message
    with pytest.raises(FlowValidationError, match="outside the folders retrieval may read"):
        run_flow(flow_file, "vinegar", retrieval_roots=[knowledge], trace=False)


def test_a_folder_inside_a_root_is_read(tmp_path: Path, knowledge: Path) -> None:
    flow_file = tmp_path / "flows" / "search.yaml"
    flow_file.write_text(yaml.safe_dump(search_flow("../kb")), encoding="utf-8")
    assert [p.field for p in validate_flow(flow_file)] == ["configuration.folder"]
    for roots in ([knowledge], [tmp_path], str(tmp_path)):
        assert validate_flow(flow_file, retrieval_roots=roots) == []
    result = run_flow(flow_file, "vinegar", retrieval_roots=[tmp_path], trace=False)
    assert [p["source"] for p in result.outputs["out"]] == ["kettle.md"]


def test_the_shipped_knowledge_folder_needs_no_root() -> None:
    result = run_flow(search_flow(str(faq_folder())), "refund", trace=False)
    assert result.outputs["out"]


def test_the_node_refuses_at_run_time_too(knowledge: Path) -> None:
    spec = load_flow(search_flow(str(knowledge)))
    node, retrieval = spec.node("search"), get_node_type("Retrieval")
    assert node is not None and retrieval is not None
    with pytest.raises(InvalidInputError, match=r"--retrieval-root"):
        retrieval.run(node, {"retrievalQuery": "vinegar"}, RunContext(run_id="x", flow=spec))
    allowed = RunContext(run_id="x", flow=spec, retrieval_roots=(knowledge.resolve(),))
    found = retrieval.run(node, {"retrievalQuery": "vinegar"}, allowed)
    assert [p["source"] for p in found["retrievalResults"]] == ["kettle.md"]


def test_symbolic_links_are_followed_before_the_check(tmp_path: Path, knowledge: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("# Secret\n\nvinegar password", encoding="utf-8")
    (knowledge / "link").symlink_to(outside, target_is_directory=True)
    problems = validate_flow(search_flow(str(knowledge / "link")), retrieval_roots=[knowledge])
    assert [p.field for p in problems] == ["configuration.folder"]
    assert f"resolves to {str(outside.resolve())!r}" in problems[0].message
    # A document linked from inside the folder to outside it is not read either.
    (knowledge / "secret.md").symlink_to(outside / "secret.md")
    sources = {p.source for p in knowledge_base(knowledge).passages}
    assert sources == {"kettle.md"}


def test_roots_must_be_folders(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"retrieval_roots=.* is invalid: each root"):
        check_retrieval_roots([tmp_path / "missing"])
    with pytest.raises(InvalidInputError, match="retrieval_roots="):
        run_flow(search_flow(str(faq_folder())), "refund", retrieval_roots=[tmp_path / "no"])
    assert check_retrieval_roots(str(tmp_path))[-1] == tmp_path.resolve()


# -- The store: permissive for the trusted Python API, strict with a policy -----------------


def test_a_registry_with_a_policy_refuses_what_its_runs_would(
    tmp_path: Path, steps: str, knowledge: Path
) -> None:
    db = tmp_path / "flows.db"
    shell = code_flow("os:system")
    shell["name"] = "shell"
    escape = search_flow("/etc")
    escape["name"] = "escape"
    strict = FlowRegistry(db, allowed_code=[f"{steps}:*"], retrieval_roots=[knowledge])
    for flow, field in ((shell, "configuration.function"), (escape, "configuration.folder")):
        with pytest.raises(FlowValidationError) as info:
            strict.save(flow)
        assert [p.field for p in info.value.problems] == [field]
    assert strict.names() == []
    # A draft is only shape-checked; committing it as a version checks the policy.
    strict.create("shell", shell)
    with pytest.raises(FlowValidationError):
        strict.commit("shell")
    assert strict.versions("shell") == []
    # Without a policy the registry checks the document alone: each run checks the policy.
    assert FlowRegistry(db).save(escape).number == 1
    with pytest.raises(FlowValidationError):
        run_flow(FlowRegistry(db).flow("escape"), "x", trace=False)
    fine = code_flow(f"{steps}:public")
    assert strict.save(fine).number == 1
