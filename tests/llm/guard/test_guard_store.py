"""save_guardrail under concurrent writers: every committed version holds its saver's body."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from tessera.errors import ConflictError
from tessera.llm._versioned import Version, VersionedStore
from tessera.llm.guard import GuardrailConfig, load_guardrail, save_guardrail

#: Saves per writer; every one of them races the other writer's.
ROUNDS = 40


def config(writer: str, round_: int) -> dict[str, Any]:
    """A configuration only this writer's save number ``round_`` holds."""
    return {"words": {"words": [f"{writer}word{round_}"]}}


def test_two_writers_never_commit_each_others_body(tmp_path: Path) -> None:
    db = tmp_path / "tessera.db"
    start = threading.Barrier(2)
    saved: dict[str, list[tuple[int, Version]]] = {"alpha": [], "beta": []}
    refused: dict[str, list[int]] = {"alpha": [], "beta": []}
    failures: list[BaseException] = []

    def write(writer: str) -> None:
        try:
            start.wait()  # both first saves race to create the guardrail too
            for round_ in range(ROUNDS):
                try:
                    version = save_guardrail(
                        "shared", config(writer, round_), message=f"{writer} {round_}", db=db
                    )
                except ConflictError:  # told, and nothing of it committed: allowed
                    refused[writer].append(round_)
                else:
                    saved[writer].append((round_, version))
        except BaseException as exc:  # handed to the test thread
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(name,)) for name in saved]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures

    store = VersionedStore("guardrail", db)
    stored = {version.number: version for version in store.versions("shared")}
    expected_bodies = {}
    for writer, versions in saved.items():
        for round_, version in versions:
            body = GuardrailConfig.from_mapping(config(writer, round_)).to_mapping()
            # What save returned, and what the store holds under that number, is its body.
            assert version.body == body, (writer, round_, version.number)
            assert stored[version.number].body == body
            assert stored[version.number].message == f"{writer} {round_}"
            assert load_guardrail(
                f"shared@{version.number}", db=db
            ) == GuardrailConfig.from_mapping(body)
            expected_bodies[version.number] = body
    # Every version is one acknowledged save: none committed twice, none from a refused one.
    assert sorted(stored) == sorted(expected_bodies)
    assert len(stored) == sum(len(v) for v in saved.values())
    assert len(stored) + sum(len(r) for r in refused.values()) == 2 * ROUNDS
    for writer in saved:
        rounds = [round_ for round_, _ in saved[writer]]
        assert sorted(rounds + refused[writer]) == list(range(ROUNDS))
        numbers = [version.number for _, version in saved[writer]]
        assert numbers == sorted(numbers)  # one writer's versions in the order it saved them


def test_a_save_after_a_concurrent_create_updates_the_draft(tmp_path: Path) -> None:
    db = tmp_path / "tessera.db"
    store = VersionedStore("guardrail", db)
    # Another writer created the guardrail (and left a draft of its own) without committing.
    store.create("late", GuardrailConfig.from_mapping(config("other", 0)).to_mapping())
    version = save_guardrail("late", config("mine", 0), db=db)
    assert version.number == 1
    assert load_guardrail("late@1", db=db) == GuardrailConfig.from_mapping(config("mine", 0))
