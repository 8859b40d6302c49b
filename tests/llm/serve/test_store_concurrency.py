"""Versioned stores over HTTP against a live server: draft revisions (ETag, If-Match) and
concurrent writers, numbers past SQLite's integers, and names that are not names."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any

import pytest
from serve_live import Live, start_live

from tessera.llm.serve import RateLimit

#: Rounds each of the two writers commits (each round retried until it lands).
ROUNDS = 60
#: 2**63, the first integer SQLite cannot store, and the numbers from issue 17.
HUGE = ["9223372036854775808", "99999999999999999999999", str(10**30), str(2**70)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A server that loads no model (no chat here) and limits no rate."""
    db = tmp_path_factory.mktemp("store-concurrency") / "tessera.db"
    yield from start_live(db, models=("tessera",), rate_limit=RateLimit(10_000, burst=10_000))


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def echo_flow(name: str) -> dict[str, Any]:
    """The smallest flow: its input is its output."""
    return {
        "name": name,
        "nodes": [
            {"name": "in", "type": "Input", "outputs": [{"name": "document", "type": "Object"}]},
            {
                "name": "out",
                "type": "Output",
                "inputs": [{"name": "document", "type": "Object", "expression": "$.data"}],
            },
        ],
        "connections": [
            {
                "type": "Data",
                "source": "in",
                "target": "out",
                "configuration": {"data": {"sourceOutput": "document", "targetInput": "document"}},
            }
        ],
    }


def error_of(response: Any, status: int) -> str:
    """The message of a JSON error answer with ``status``."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.text
    message = response.json()["error"]["message"]
    assert isinstance(message, str) and message
    return message


# -- revisions: ETag, If-Match, base_revision --------------------------------------------


def test_the_draft_carries_its_revision_as_etag(server: Live) -> None:
    writer, reader = server.client("prompts:write"), server.client("prompts:read")
    created = writer.post("/v1/prompts", json={"name": "tagged", "body": text("one")})
    assert (created.status_code, created.headers["ETag"]) == (201, '"1"')
    assert created.json()["revision"] == 1
    draft = reader.get("/v1/prompts/tagged/draft")
    assert draft.headers["ETag"] == '"1"' and draft.json()["revision"] == 1
    assert draft.json()["body"]["text"] == "one"
    shown = reader.get("/v1/prompts/tagged")
    assert shown.headers["ETag"] == '"1"' and shown.json()["draft"]["revision"] == 1

    put = writer.put(
        "/v1/prompts/tagged/draft", json={"body": text("two")}, headers={"If-Match": '"1"'}
    )
    assert (put.status_code, put.headers["ETag"], put.json()["revision"]) == (200, '"2"', 2)
    assert reader.get("/v1/prompts/tagged/draft").headers["ETag"] == '"2"'
    # A commit leaves the draft (and its ETag) as it was.
    commit = writer.post("/v1/prompts/tagged/versions", json={}, headers={"If-Match": '"2"'})
    assert commit.status_code == 201 and commit.json()["body"]["text"] == "two"
    assert reader.get("/v1/prompts/tagged/draft").headers["ETag"] == '"2"'


def test_a_stale_write_or_commit_is_a_409_and_changes_nothing(server: Live) -> None:
    writer, reader = server.client("prompts:write"), server.client("prompts:read")
    writer.post("/v1/prompts", json={"name": "stale", "body": text("base")})
    # Someone else writes revision 2 after we read revision 1.
    assert writer.put("/v1/prompts/stale/draft", json={"body": text("theirs")}).status_code == 200

    mine = {"body": text("mine")}
    for headers, body in (({"If-Match": '"1"'}, mine), ({}, {**mine, "base_revision": 1})):
        message = error_of(writer.put("/v1/prompts/stale/draft", json=body, headers=headers), 409)
        assert "base_revision=1" in message and "revision 2" in message and "Re-read" in message
    for headers, body in (({"If-Match": '"1"'}, {}), ({}, {"base_revision": 1})):
        message = error_of(
            writer.post("/v1/prompts/stale/versions", json=body, headers=headers), 409
        )
        assert "nothing was committed" in message and "revision 2" in message
    assert reader.get("/v1/prompts/stale/draft").json()["body"]["text"] == "theirs"
    assert reader.get("/v1/prompts/stale/versions").json() == []

    # The current revision works, from the header or the body; `*` matches any draft.
    done = writer.post("/v1/prompts/stale/versions", json={"base_revision": 2})
    assert done.status_code == 201 and done.json()["body"]["text"] == "theirs"
    star = writer.put("/v1/prompts/stale/draft", json=mine, headers={"If-Match": "*"})
    assert star.status_code == 200 and star.headers["ETag"] == '"3"'
    bare = writer.put("/v1/prompts/stale/draft", json=mine, headers={"If-Match": "3"})
    assert bare.status_code == 200 and bare.headers["ETag"] == '"4"'


@pytest.mark.parametrize(
    ("headers", "body", "found"),
    [
        ({"If-Match": 'W/"1"'}, {}, "If-Match="),
        ({"If-Match": '"1", "2"'}, {}, "If-Match="),
        ({"If-Match": "banana"}, {}, "If-Match="),
        ({"If-Match": '"1'}, {}, "If-Match="),
        ({"If-Match": '"' + "9" * 25 + '"'}, {}, "If-Match="),
        ({"If-Match": '"9223372036854775808"'}, {}, "int from 1 to 9223372036854775807"),
        ({"If-Match": '"0"'}, {}, "base_revision=0"),
        ({}, {"base_revision": 0}, "base_revision=0"),
        ({}, {"base_revision": 10**30}, "base_revision="),
        ({}, {"base_revision": 2**63}, "int from 1 to"),
        ({"If-Match": '"1"'}, {"base_revision": 2}, "disagree"),
    ],
)
def test_bad_revisions_are_400s(
    server: Live, headers: dict[str, str], body: dict[str, Any], found: str
) -> None:
    writer = server.client("prompts:write")
    if writer.get("/v1/prompts/revs").status_code == 404:
        writer.post("/v1/prompts", json={"name": "revs", "body": text("x")})
    before = writer.get("/v1/prompts/revs/draft").json()
    put = writer.put("/v1/prompts/revs/draft", json={"body": text("y"), **body}, headers=headers)
    assert found in error_of(put, 400)
    commit = writer.post("/v1/prompts/revs/versions", json=body, headers=headers)
    assert found in error_of(commit, 400)
    assert writer.get("/v1/prompts/revs/draft").json() == before
    assert writer.get("/v1/prompts/revs/versions").json() == []


@pytest.mark.parametrize("area", ["flows", "guardrails"])
def test_every_store_has_revisions(server: Live, area: str) -> None:
    writer = server.client(f"{area}:write")
    name = f"rev-{area}"
    if area == "flows":
        first, second = echo_flow(name), {**echo_flow(name), "description": "edited"}
    else:
        first = {"words": {"words": ["foo"]}}
        second = {"words": {"words": ["bar"]}}
    created = writer.post(f"/v1/{area}", json={"name": name, "body": first})
    assert created.status_code == 201 and created.headers["ETag"] == '"1"', created.text
    put = writer.put(f"/v1/{area}/{name}/draft", json={"body": second}, headers={"If-Match": '"1"'})
    assert put.status_code == 200 and put.headers["ETag"] == '"2"', put.text
    stale = writer.put(
        f"/v1/{area}/{name}/draft", json={"body": first}, headers={"If-Match": '"1"'}
    )
    assert "revision 2" in error_of(stale, 409)
    refused = writer.post(f"/v1/{area}/{name}/versions", json={}, headers={"If-Match": '"1"'})
    assert "nothing was committed" in error_of(refused, 409)
    done = writer.post(f"/v1/{area}/{name}/versions", json={}, headers={"If-Match": '"2"'})
    assert done.status_code == 201 and done.json()["body"] == put.json()["body"], done.text


def test_two_writers_never_lose_or_swap_a_commit(server: Live) -> None:
    """Issue 17: with two writers, 135 of 300 commits stored the other writer's draft.

    Each writer puts its own text (If-Match: the ETag it read) and commits it (If-Match:
    the ETag its write got); on 409 it reads the draft again and redoes the round.
    Afterwards every acknowledged commit is a version holding exactly its writer's text,
    and there is no other version.
    """
    setup = server.client("prompts:write")
    created = setup.post("/v1/prompts", json={"name": "contested", "body": text("seed")})
    assert created.status_code == 201
    start = Barrier(2)

    def write(writer: str) -> tuple[list[tuple[int, str]], int]:
        client = server.client("prompts:write")
        acknowledged: list[tuple[int, str]] = []
        conflicts = 0
        start.wait()
        for round_ in range(ROUNDS):
            mine = f"{writer} round {round_}"
            for _attempt in range(1000):
                etag = client.get("/v1/prompts/contested/draft").headers["ETag"]
                put = client.put(
                    "/v1/prompts/contested/draft",
                    json={"body": text(mine)},
                    headers={"If-Match": etag},
                )
                if put.status_code == 409:
                    conflicts += 1
                    continue
                assert put.status_code == 200, put.text
                commit = client.post(
                    "/v1/prompts/contested/versions",
                    json={"message": mine},
                    headers={"If-Match": put.headers["ETag"]},
                )
                if commit.status_code == 409:
                    conflicts += 1
                    continue
                assert commit.status_code == 201, commit.text
                assert commit.json()["body"]["text"] == mine
                acknowledged.append((commit.json()["number"], mine))
                break
            else:
                raise AssertionError(f"{writer}: round {round_} never landed")
        return acknowledged, conflicts

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(write, ["ann", "bob"]))
    acknowledged = [pair for found, _ in results for pair in found]
    stored = setup.get("/v1/prompts/contested/versions").json()

    # Every acknowledged commit is a version with exactly its text, and nothing else is.
    assert len(stored) == len(acknowledged) == 2 * ROUNDS
    assert sorted((v["number"], v["body"]["text"]) for v in stored) == sorted(acknowledged)
    # No version holds a text its committer did not write (the message names the writer).
    assert all(v["body"]["text"] == v["message"] for v in stored)
    for writer in ("ann", "bob"):
        mine = [t for _, t in sorted(acknowledged) if t.startswith(writer)]
        assert mine == [f"{writer} round {r}" for r in range(ROUNDS)]


# -- numbers past SQLite's integers: 4xx, never 500 ------------------------------------


@pytest.fixture(scope="module")
def stored(server: Live) -> Live:
    """The server with prompt ``big``, flow ``big-flow`` and guardrail ``big-guard``, each
    at version 1."""
    admin = server.client("admin")
    assert admin.post("/v1/prompts", json={"name": "big", "body": text("hi")}).status_code == 201
    assert admin.post("/v1/prompts/big/versions", json={}).status_code == 201
    saved = admin.post("/v1/flows/save", json={"document": echo_flow("big-flow")})
    assert saved.status_code == 201, saved.text
    guard = {"words": {"words": ["foo"]}}
    assert (
        admin.post("/v1/guardrails", json={"name": "big-guard", "body": guard}).status_code == 201
    )
    assert admin.post("/v1/guardrails/big-guard/versions", json={}).status_code == 201
    return server


@pytest.mark.parametrize("number", HUGE + ["9" * 5000])
def test_huge_version_numbers_are_404s(stored: Live, number: str) -> None:
    admin = stored.client("admin")
    ref = f"big@{number}"
    as_json, json_type = f'{{"version": {number}}}', {"Content-Type": "application/json"}
    answers = {
        "render": admin.post(f"/v1/prompts/{ref}/render", json={}),
        "run": admin.post(f"/v1/prompts/{ref}/run", json={}),
        "diff": admin.get(f"/v1/prompts/{ref}/diff/big@1"),
        "diff other": admin.get(f"/v1/prompts/big@1/diff/{ref}"),
        "invoke": admin.post(f"/v1/flows/big-flow@{number}/invoke", json={"inputs": {}}),
        "apply": admin.post(
            "/v1/guardrails/apply", json={"guardrail": f"big-guard@{number}", "text": "x"}
        ),
        # The number as JSON text: json= would need int(number), refused past 4300 digits.
        "label": admin.put("/v1/prompts/big/labels/prod", content=as_json, headers=json_type),
        "flow label": admin.put(
            "/v1/flows/big-flow/labels/prod", content=as_json, headers=json_type
        ),
    }
    for area, name in (("prompts", "big"), ("flows", "big-flow"), ("guardrails", "big-guard")):
        answers[f"{area} get"] = admin.get(f"/v1/{area}/{name}/versions/{number}")
        answers[f"{area} delete"] = admin.delete(f"/v1/{area}/{name}/versions/{number}")
    for what, answer in answers.items():
        # A number too long for the int parser of a path or body is a 4xx before any lookup.
        parsed_as_int = "label" in what or what.endswith(("get", "delete"))
        expected = (400, 404, 422) if len(number) > 4000 and parsed_as_int else (404,)
        assert answer.status_code in expected, (what, answer.status_code, answer.text)
        assert error_of(answer, answer.status_code)
    assert admin.get("/v1/prompts/big").json()["versions"] == [1]
    assert admin.get("/v1/prompts/big/labels").json() == {"latest": 1}


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/audit", {"after_id": str(10**23)}),
        ("/v1/audit", {"after_id": "9223372036854775808"}),
        ("/v1/audit", {"limit": str(10**30)}),
        ("/v1/audit", {"limit": "-1"}),
        ("/v1/flows/traces", {"limit": "0"}),
        ("/v1/flows/traces", {"limit": "10001"}),
        ("/v1/flows/traces", {"limit": str(10**30)}),
        ("/v1/flows/traces", {"limit": "9223372036854775808"}),
    ],
)
def test_huge_query_numbers_are_4xx(stored: Live, path: str, params: dict[str, str]) -> None:
    answer = stored.client("admin").get(path, params=params)
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text)
    assert error_of(answer, answer.status_code)


def test_the_largest_integers_are_still_answered(stored: Live) -> None:
    admin = stored.client("admin")
    assert admin.get("/v1/audit", params={"after_id": str(2**63 - 1)}).json() == []
    largest = admin.get(f"/v1/prompts/big/versions/{2**63 - 1}")
    assert "has no version 9223372036854775807" in error_of(largest, 404)


# -- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", [".", "..", "...", ".env", "-rf", "--help", "a/b", "a\\b", "a\x00b", "a\nb", " ", "\t"]
)
def test_names_that_are_not_names_are_400s(server: Live, name: str) -> None:
    writer = server.client("prompts:write")
    created = writer.post("/v1/prompts", json={"name": name, "body": text("x")})
    assert "does not start with '.' or '-'" in error_of(created, 400)
    flows = server.client("flows:write")
    flow = flows.post("/v1/flows", json={"name": name, "body": echo_flow(name)})
    assert 400 <= flow.status_code < 500, flow.text
    assert name not in [entry["name"] for entry in writer.get("/v1/prompts").json()]


@pytest.mark.parametrize("segment", ["%2E", "%2E%2E", "-rf", "%20"])
def test_names_in_paths_are_checked(server: Live, segment: str) -> None:
    reader = server.client("prompts:read")
    answer = reader.get(f"/v1/prompts/{segment}/draft")
    assert "1 to 64 characters" in error_of(answer, 400)
