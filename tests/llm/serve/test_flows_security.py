"""The flow routes hold a flows:write key to the operator's policy (issue 17, defects 2, 3, 9).

A real server on loopback, started with ``allowed_code=("<steps module>:*", ...)`` and one
retrieval root. Validate, save (and commit) and invoke all refuse:

* a Code node calling a name the steps module merely imports (``from subprocess import
  run``) or a private helper (``tessera.llm.flows.examples:_data_path``);
* a Code node calling ``os:system`` (``POST /v1/flows/save`` used to store it: 201);
* a Retrieval folder outside the roots (``../..``, ``/etc``), also through a draft whose
  ``baseDir`` points into the root.

while the public functions defined in the steps module and the folders inside the root
work.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serve_live import Live, start_live

from tessera.llm.serve import KeyStore, RateLimit

STEPS = "tessera_test_served_steps"

STEPS_SOURCE = '''
"""Steps the server's flows may call; it also imports a shell runner."""

from subprocess import run


class Shouter:
    def __init__(self, text):
        self.text = text


def public(text):
    return text.upper()


def _private(text):
    return text[::-1]
'''


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Live, Path]]:
    """The server, and its retrieval root (``root/kb`` holds one document)."""
    base = tmp_path_factory.mktemp("flows-security")
    code = base / "code"
    code.mkdir()
    (code / f"{STEPS}.py").write_text(textwrap.dedent(STEPS_SOURCE), encoding="utf-8")
    root = base / "root"
    (root / "kb").mkdir(parents=True)
    (root / "kb" / "kettle.md").write_text("# Descaling\n\nUse white vinegar.", encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(code))
        patch.delitem(sys.modules, STEPS, raising=False)
        for live in start_live(
            base / "tessera.db",
            models=("tessera",),
            rate_limit=RateLimit(1000, burst=1000),
            allowed_code=(f"{STEPS}:*", "tessera.llm.flows.examples:*"),
            retrieval_roots=(root,),
        ):
            store = KeyStore(live.db)
            try:
                _, live.keys["write+invoke"] = store.create(
                    "writer", ["flows:write", "flows:invoke"]
                )
            finally:
                store.close()
            yield live, root


def _data(source: str, output: str, target: str, port: str) -> dict[str, Any]:
    return {
        "name": f"{source}-{target}",
        "type": "Data",
        "source": source,
        "target": target,
        "configuration": {"data": {"sourceOutput": output, "targetInput": port}},
    }


def code_flow(name: str, function: str) -> dict[str, Any]:
    """Input (String) -> Code ``step`` calling ``function(text=...)`` -> Output ``out``."""
    return {
        "name": name,
        "nodes": [
            {"name": "in", "type": "Input", "outputs": [{"name": "document", "type": "String"}]},
            {
                "name": "step",
                "type": "Code",
                "configuration": {"function": function},
                "inputs": [{"name": "text", "type": "String"}],
                "outputs": [{"name": "text", "type": "String"}],
            },
            {"name": "out", "type": "Output", "inputs": [{"name": "document", "type": "String"}]},
        ],
        "connections": [
            _data("in", "document", "step", "text"),
            _data("step", "text", "out", "document"),
        ],
    }


def search_flow(name: str, folder: str) -> dict[str, Any]:
    """Input (String) -> Retrieval ``search`` over ``folder`` -> Output ``out``."""
    return {
        "name": name,
        "nodes": [
            {"name": "in", "type": "Input", "outputs": [{"name": "document", "type": "String"}]},
            {
                "name": "search",
                "type": "Retrieval",
                "configuration": {"folder": folder, "top_k": 2},
                "inputs": [{"name": "retrievalQuery", "type": "String"}],
                "outputs": [{"name": "retrievalResults", "type": "Array"}],
            },
            {"name": "out", "type": "Output", "inputs": [{"name": "document", "type": "Array"}]},
        ],
        "connections": [
            _data("in", "document", "search", "retrievalQuery"),
            _data("search", "retrievalResults", "out", "document"),
        ],
    }


def _refused_everywhere(live: Live, document: dict[str, Any], field: str) -> list[str]:
    """Validate, save, inline invoke and draft-then-commit-then-invoke all refuse ``document``.

    Returns the problems' messages (from validate).
    """
    writer = live.client("write+invoke")
    name = document["name"]
    report = writer.post("/v1/flows/validate", json={"document": document}).json()
    assert report["valid"] is False
    assert [(p["node"], p["field"]) for p in report["problems"]] == [(_node(document), field)]
    saved = writer.post("/v1/flows/save", json={"document": document})
    assert saved.status_code == 422, saved.text
    assert saved.json()["error"]["problems"] == report["problems"]
    assert writer.get(f"/v1/flows/{name}").status_code == 404
    inline = writer.post("/v1/flows/invoke", json={"document": document, "inputs": "x"})
    assert inline.status_code == 422 and inline.json()["error"]["problems"] == report["problems"]
    # A draft is only shape-checked; committing it and running it check the policy.
    assert writer.post("/v1/flows", json={"name": name, "body": document}).status_code == 201
    committed = writer.post(f"/v1/flows/{name}/versions", json={})
    assert committed.status_code == 422 and committed.json()["error"]["problems"]
    assert writer.get(f"/v1/flows/{name}/versions").json() == []
    ran = writer.post(f"/v1/flows/{name}@draft/invoke", json={"inputs": "x"})
    assert ran.status_code == 422 and ran.json()["error"]["problems"] == report["problems"]
    assert writer.get("/v1/flows/traces", params={"flow": name}).json() == []
    assert writer.delete(f"/v1/flows/{name}").status_code == 200
    return [p["message"] for p in report["problems"]]


def _node(document: dict[str, Any]) -> str:
    return str(document["nodes"][1]["name"])


@pytest.mark.parametrize(
    ("function", "reason"),
    [
        (f"{STEPS}:run", "imported there from 'subprocess'"),
        (f"{STEPS}:_private", "'_private' is private"),
        (f"{STEPS}:Shouter", "is a class"),
        ("tessera.llm.flows.examples:_data_path", "'_data_path' is private"),
        ("tessera.llm.flows.examples:Path", "is a class"),
        ("os:system", "not in the allow-list"),
    ],
)
def test_code_outside_the_allow_list_is_refused_everywhere(
    secure: tuple[Live, Path], function: str, reason: str
) -> None:
    live, _ = secure
    messages = _refused_everywhere(live, code_flow("shell", function), "configuration.function")
    assert reason in messages[0]


def test_the_public_functions_defined_in_the_module_run(secure: tuple[Live, Path]) -> None:
    live, _ = secure
    writer = live.client("write+invoke")
    flow = code_flow("shout", f"{STEPS}:public")
    assert writer.post("/v1/flows/validate", json={"document": flow}).json()["valid"] is True
    assert writer.post("/v1/flows/save", json={"document": flow}).status_code == 201
    ran = writer.post("/v1/flows/shout/invoke", json={"inputs": "hello"})
    assert ran.status_code == 200 and ran.json()["outputs"] == {"out": "HELLO"}


def test_save_reports_every_problem_and_stores_nothing(secure: tuple[Live, Path]) -> None:
    live, _ = secure
    writer = live.client("flows:write")
    flow = code_flow("two-problems", "os:system")
    search = search_flow("x", "/etc")["nodes"][1]
    flow["nodes"].append(search)
    flow["nodes"].append(
        {"name": "found", "type": "Output", "inputs": [{"name": "document", "type": "Array"}]}
    )
    flow["connections"] += [
        _data("in", "document", "search", "retrievalQuery"),
        _data("search", "retrievalResults", "found", "document"),
    ]
    saved = writer.post("/v1/flows/save", json={"document": flow})
    assert saved.status_code == 422
    error = saved.json()["error"]
    assert {(p["node"], p["field"]) for p in error["problems"]} == {
        ("step", "configuration.function"),
        ("search", "configuration.folder"),
    }
    assert writer.get("/v1/flows/two-problems").status_code == 404
    assert "two-problems" not in {f["name"] for f in writer.get("/v1/flows").json()}


@pytest.mark.parametrize("folder", ["../..", "/etc", "ROOT/kb/../.."])
def test_folders_outside_the_roots_are_refused_everywhere(
    secure: tuple[Live, Path], folder: str
) -> None:
    live, root = secure
    folder = folder.replace("ROOT", str(root))
    messages = _refused_everywhere(live, search_flow("escape", folder), "configuration.folder")
    assert f"folder={folder!r} is invalid" in messages[0]
    assert "--retrieval-root" in messages[0]


def test_a_base_dir_smuggled_into_a_draft_does_not_widen_the_roots(
    secure: tuple[Live, Path],
) -> None:
    live, root = secure
    writer = live.client("write+invoke")
    body = {**search_flow("smuggled", "../../../../../../../etc"), "baseDir": str(root / "kb")}
    assert writer.post("/v1/flows", json={"name": "smuggled", "body": body}).status_code == 201
    assert writer.post("/v1/flows/smuggled/versions", json={}).status_code == 422
    ran = writer.post("/v1/flows/smuggled@draft/invoke", json={"inputs": "x"})
    assert ran.status_code == 422
    assert ran.json()["error"]["problems"][0]["field"] == "configuration.folder"


def test_a_folder_inside_a_root_is_searched(secure: tuple[Live, Path]) -> None:
    live, root = secure
    writer = live.client("write+invoke")
    flow = search_flow("kettle", str(root / "kb"))
    assert writer.post("/v1/flows/save", json={"document": flow}).status_code == 201
    ran = writer.post("/v1/flows/kettle/invoke", json={"inputs": "vinegar"}).json()
    assert [p["source"] for p in ran["outputs"]["out"]] == ["kettle.md"]
    # The shipped knowledge folder is always a root (the support-ticket example reads it).
    from tessera.llm.flows.examples import faq_folder

    faq = search_flow("faq", str(faq_folder()))
    assert writer.post("/v1/flows/validate", json={"document": faq}).json()["valid"] is True


def test_tessera_serve_takes_retrieval_roots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    import tessera.llm.serve
    from tessera.cli import _serve  # noqa: F401  (registers the commands on the app)
    from tessera.cli._app import app

    served: list[Any] = []
    # Capture the application instead of running uvicorn until Ctrl-C.
    monkeypatch.setattr(
        tessera.llm.serve, "serve", lambda application, **_: served.append(application)
    )
    db = str(tmp_path / "tessera.db")
    runner = CliRunner()
    args = ["serve", "--db", db, "--allow-code", f"{STEPS}:*"]
    result = runner.invoke(app, [*args, "--retrieval-root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    state = served[0].state.tessera
    assert state.retrieval_roots[-1] == tmp_path.resolve()
    assert state.allowed_code == (f"{STEPS}:*",)
    missing = runner.invoke(app, [*args, "--retrieval-root", str(tmp_path / "missing")])
    assert missing.exit_code == 1 and "retrieval_roots=" in missing.stderr
    bare = runner.invoke(app, ["serve", "--db", db, "--allow-code", "*"])
    assert bare.exit_code == 1 and "allowed_code='*' is invalid" in bare.stderr
    assert len(served) == 1
