"""The flow routes hold a flows:write key to the operator's policy (issue 17, defects 2, 3, 9).

A real server on loopback, started with ``allowed_code=("<steps module>:*", ...)`` and one
retrieval root. Validate, save (and commit) and invoke all refuse:

* a Code node calling a name the steps module merely imports (``from subprocess import
  run``) or a private helper (``tessera.llm.flows.examples:_data_path``);
* a Code node calling ``os:system`` (``POST /v1/flows/save`` used to store it: 201);
* a Retrieval folder outside the roots (``../..``, ``/etc``), also through a draft whose
  ``baseDir`` points into the root;
* a Storage folder outside the storage root (the retrieval root included: reading is not
  writing), and a storage key that is a path when the flow runs.

while the public functions defined in the steps module and the folders inside the roots
work. A server started without storage roots refuses every Storage node.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serve_live import Live, start_live

from _flowdocs import code_flow, data, put_module, search_flow, storage_flow
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
    root = base / "root"
    (root / "kb").mkdir(parents=True)
    (base / "store").mkdir()  # the storage root: root.parent / "store"
    (root / "kb" / "kettle.md").write_text("# Descaling\n\nUse white vinegar.", encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        put_module(base / "code", STEPS, STEPS_SOURCE, patch)
        for live in start_live(
            base / "tessera.db",
            models=("tessera",),
            rate_limit=RateLimit(1000, burst=1000),
            allowed_code=(f"{STEPS}:*", "tessera.llm.flows.examples:*"),
            retrieval_roots=(root,),
            storage_roots=(base / "store",),
        ):
            store = KeyStore(live.db)
            try:
                _, live.keys["write+invoke"] = store.create(
                    "writer", ["flows:write", "flows:invoke"]
                )
            finally:
                store.close()
            yield live, root


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
    messages = _refused_everywhere(
        live, code_flow(function, name="shell"), "configuration.function"
    )
    assert reason in messages[0]


def test_the_public_functions_defined_in_the_module_run(secure: tuple[Live, Path]) -> None:
    live, _ = secure
    writer = live.client("write+invoke")
    flow = code_flow(f"{STEPS}:public", name="shout")
    assert writer.post("/v1/flows/validate", json={"document": flow}).json()["valid"] is True
    assert writer.post("/v1/flows/save", json={"document": flow}).status_code == 201
    ran = writer.post("/v1/flows/shout/invoke", json={"inputs": "hello"})
    assert ran.status_code == 200 and ran.json()["outputs"] == {"out": "HELLO"}


def test_save_reports_every_problem_and_stores_nothing(secure: tuple[Live, Path]) -> None:
    live, _ = secure
    writer = live.client("flows:write")
    flow = code_flow("os:system", name="two-problems")
    search = search_flow("/etc", name="x")["nodes"][1]
    flow["nodes"].append(search)
    flow["nodes"].append(
        {"name": "found", "type": "Output", "inputs": [{"name": "document", "type": "Array"}]}
    )
    flow["connections"] += [
        data("in", "document", "search", "retrievalQuery"),
        data("search", "retrievalResults", "found", "document"),
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
    messages = _refused_everywhere(live, search_flow(folder, name="escape"), "configuration.folder")
    assert f"folder={folder!r} is invalid" in messages[0]
    assert "--retrieval-root" in messages[0]


def test_a_base_dir_smuggled_into_a_draft_does_not_widen_the_roots(
    secure: tuple[Live, Path],
) -> None:
    live, root = secure
    writer = live.client("write+invoke")
    body = {**search_flow("../../../../../../../etc", name="smuggled"), "baseDir": str(root / "kb")}
    assert writer.post("/v1/flows", json={"name": "smuggled", "body": body}).status_code == 201
    assert writer.post("/v1/flows/smuggled/versions", json={}).status_code == 422
    ran = writer.post("/v1/flows/smuggled@draft/invoke", json={"inputs": "x"})
    assert ran.status_code == 422
    assert ran.json()["error"]["problems"][0]["field"] == "configuration.folder"


def test_a_folder_inside_a_root_is_searched(secure: tuple[Live, Path]) -> None:
    live, root = secure
    writer = live.client("write+invoke")
    flow = search_flow(str(root / "kb"), name="kettle")
    assert writer.post("/v1/flows/save", json={"document": flow}).status_code == 201
    ran = writer.post("/v1/flows/kettle/invoke", json={"inputs": "vinegar"}).json()
    assert [p["source"] for p in ran["outputs"]["out"]] == ["kettle.md"]
    # The shipped knowledge folder is always a root (the support-ticket example reads it).
    from tessera.llm.flows.examples import faq_folder

    faq = search_flow(str(faq_folder()), name="faq")
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


# -- storage roots ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "folder", ["../..", "/etc", "/tmp", "STORE/../root", "RETRIEVAL", "RETRIEVAL/kb", "~"]
)
def test_storage_folders_outside_the_roots_are_refused_everywhere(
    secure: tuple[Live, Path], folder: str
) -> None:
    live, root = secure
    folder = folder.replace("STORE", str(root.parent / "store"))
    folder = folder.replace("RETRIEVAL", str(root))
    before = sorted(root.rglob("*"))
    messages = _refused_everywhere(
        live, storage_flow(folder, name="write-anywhere"), "configuration.folder"
    )
    assert f"folder={folder!r} is invalid" in messages[0]
    assert "outside the folders Storage nodes may write" in messages[0]
    assert "--storage-root" in messages[0]
    assert sorted(root.rglob("*")) == before  # nothing written into the knowledge folder


def test_a_storage_folder_inside_the_root_is_written_and_read(secure: tuple[Live, Path]) -> None:
    live, root = secure
    store = root.parent / "store"
    writer = live.client("write+invoke")
    for mode in ("write", "read"):
        flow = storage_flow(str(store / "notes"), mode, name=f"notes-{mode}")
        assert writer.post("/v1/flows/save", json={"document": flow}).status_code == 201
    document = {"ticket": 7, "text": "kettle hums"}
    wrote = writer.post(
        "/v1/flows/notes-write/invoke", json={"inputs": {"key": "t/7", "content": document}}
    )
    assert wrote.status_code == 200, wrote.text
    assert wrote.json()["outputs"]["out"] == str((store / "notes" / "t" / "7.json").resolve())
    read = writer.post("/v1/flows/notes-read/invoke", json={"inputs": {"key": "t/7"}})
    assert read.status_code == 200 and read.json()["outputs"]["out"] == document


@pytest.mark.parametrize(
    "key", ["../../escape", "/tmp/escape", "t/../../escape", "a\x00b", "~/escape", ".bashrc"]
)
def test_a_storage_key_that_is_a_path_fails_the_run(secure: tuple[Live, Path], key: str) -> None:
    live, root = secure
    store = root.parent / "store"
    writer = live.client("write+invoke")
    flow = storage_flow(str(store / "keyed"), name="keyed")
    ran = writer.post(
        "/v1/flows/invoke", json={"document": flow, "inputs": {"key": key, "content": {}}}
    )
    assert ran.status_code == 400, ran.text
    assert ran.json()["error"]["message"].startswith("node 'store' failed: key=")
    assert not (store / "keyed").exists()
    assert not any(p.name.startswith("escape") for p in root.parent.rglob("*"))


def test_a_server_without_storage_roots_refuses_every_storage_node(
    tmp_path: Path,
) -> None:
    for live in start_live(tmp_path / "tessera.db", models=("tessera",)):
        writer = live.client("flows:write")
        flow = storage_flow(str(tmp_path / "docs"), name="anywhere")
        report = writer.post("/v1/flows/validate", json={"document": flow}).json()
        assert report["valid"] is False
        [problem] = report["problems"]
        assert problem["field"] == "configuration.folder"
        assert "Storage nodes may write (none)" in problem["message"]
        saved = writer.post("/v1/flows/save", json={"document": flow})
        assert saved.status_code == 422 and saved.json()["error"]["problems"] == [problem]
    assert not (tmp_path / "docs").exists()


def test_tessera_serve_takes_storage_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    import tessera.llm.serve
    from tessera.cli import _serve  # noqa: F401  (registers the commands on the app)
    from tessera.cli._app import app
    from tessera.llm.serve._flows_routes import storage_roots

    served: list[Any] = []
    monkeypatch.setattr(
        tessera.llm.serve, "serve", lambda application, **_: served.append(application)
    )
    db = str(tmp_path / "tessera.db")
    runner = CliRunner()
    assert runner.invoke(app, ["serve", "--db", db]).exit_code == 0
    assert storage_roots(served[0].state.tessera) == ()  # none by default
    result = runner.invoke(app, ["serve", "--db", db, "--storage-root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert storage_roots(served[1].state.tessera) == (tmp_path.resolve(),)
    missing = runner.invoke(app, ["serve", "--db", db, "--storage-root", str(tmp_path / "no")])
    assert missing.exit_code == 1 and "storage_roots=" in missing.stderr
    assert len(served) == 2
