"""Concurrent chats over HTTP: the event loop never waits on a model, streams interleave,
and every answer is the answer the request gets alone (batched decoding)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_live import Live, start_live

from tessera.llm.serve import RateLimit


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, default_runtime: Any) -> Iterator[Live]:
    """A server whose default model is the embedded SmolLM2 (with its Medusa heads)."""
    db = Path(tmp_path_factory.mktemp("serve-concurrency")) / "tessera.db"
    yield from start_live(db, models=("tessera",), rate_limit=RateLimit(1000, burst=1000))


QUESTIONS = [
    "Explain what a rainbow is in two sentences.",
    "Give three tips for learning to cook.",
    "What does a librarian do?",
    "Describe the water cycle briefly.",
]


def _request(question: str, max_tokens: int, stream: bool) -> dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": question}],
        "max_tokens": max_tokens,
        "stream": stream,
    }


class StreamLog:
    """One streamed chat read in a thread: when each event arrived, and the text."""

    def __init__(self, live: Live, question: str, max_tokens: int) -> None:
        self.events: list[tuple[float, Any]] = []
        self.status: int | None = None
        self.first_content = threading.Event()
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(live, question, max_tokens))

    def start(self) -> StreamLog:
        self._thread.start()
        return self

    def _read(self, live: Live, question: str, max_tokens: int) -> None:
        headers = {"Authorization": f"Bearer {live.keys['models:invoke']}"}
        with (
            httpx.Client(base_url=live.url, headers=headers, timeout=120) as client,
            client.stream(
                "POST", "/v1/chat/completions", json=_request(question, max_tokens, True)
            ) as response,
        ):
            self.status = response.status_code
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue
                payload = line[len("data: ") :]
                event = payload if payload == "[DONE]" else json.loads(payload)
                self.events.append((time.monotonic(), event))
                if isinstance(event, dict) and event["choices"]:
                    if event["choices"][0]["delta"].get("content"):
                        self.first_content.set()
        self.first_content.set()
        self.done.set()

    def join(self) -> None:
        self._thread.join(timeout=300)

    @property
    def text(self) -> str:
        return "".join(
            e["choices"][0]["delta"].get("content", "")
            for _, e in self.events
            if isinstance(e, dict) and e["choices"]
        )

    def first_content_time(self) -> float:
        return next(
            t
            for t, e in self.events
            if isinstance(e, dict) and e["choices"] and e["choices"][0]["delta"].get("content")
        )

    def end_time(self) -> float:
        return self.events[-1][0]


def test_two_streams_interleave_and_never_stall_healthz(live: Live) -> None:
    """Before: the second stream waited for the model on the event loop, so /healthz and
    the first stream's tokens stalled until the first answer was complete."""
    first = StreamLog(live, QUESTIONS[0], 96).start()
    assert first.first_content.wait(120)
    second = StreamLog(live, QUESTIONS[1], 96).start()
    assert second.first_content.wait(120)
    # Both streams are open and generating: the loop still answers at once.
    health = httpx.get(f"{live.url}/healthz", timeout=30)
    answered = time.monotonic()
    assert health.status_code == 200
    assert not first.done.is_set() or not second.done.is_set(), "the answers were too short"
    first.join()
    second.join()
    assert first.status == second.status == 200
    assert answered < max(first.end_time(), second.end_time())
    # Each stream's first token came before the other's answer was complete.
    assert first.first_content_time() < second.end_time()
    assert second.first_content_time() < first.end_time()


def test_concurrent_answers_equal_their_solo_answers(live: Live) -> None:
    client = live.client("models:invoke")
    alone = [
        client.post("/v1/chat/completions", json=_request(q, 40, False)).json()["choices"][0][
            "message"
        ]["content"]
        for q in QUESTIONS
    ]
    streams = [StreamLog(live, q, 40).start() for q in QUESTIONS]
    answers: list[Any] = [None] * len(QUESTIONS)

    def ask(i: int) -> None:
        with httpx.Client(base_url=live.url, headers=client.headers, timeout=120) as other:
            body = other.post("/v1/chat/completions", json=_request(QUESTIONS[i], 40, False))
            answers[i] = body.json()["choices"][0]["message"]["content"]

    askers = [threading.Thread(target=ask, args=(i,)) for i in range(len(QUESTIONS))]
    for thread in askers:
        thread.start()
    for thread in askers:
        thread.join(timeout=300)
    for stream in streams:
        stream.join()
    assert [s.text for s in streams] == alone
    assert answers == alone


def test_refused_huge_streams_do_not_block_the_loop(live: Live) -> None:
    """Prompts far over the context are tokenised and refused off the event loop."""
    client = live.client("models:invoke")
    huge = "word " * 180_000  # about 0.9 MB, under the body limit
    results: list[tuple[int, str]] = []

    def send() -> None:
        with httpx.Client(base_url=live.url, headers=client.headers, timeout=120) as other:
            response = other.post("/v1/chat/completions", json=_request(huge, 16, True))
            results.append((response.status_code, response.json()["error"]["message"]))

    senders = [threading.Thread(target=send) for _ in range(3)]
    for thread in senders:
        thread.start()
    health = [httpx.get(f"{live.url}/healthz", timeout=30).status_code for _ in range(5)]
    for thread in senders:
        thread.join(timeout=300)
    assert [status for status, _ in results] == [400, 400, 400]
    assert all("messages=" in message and "context" in message for _, message in results)
    assert health == [200] * 5


def test_clients_leaving_mid_stream_give_their_places_back(live: Live) -> None:
    """More streams than the model serves at once, each abandoned after its first token:
    every one was admitted in turn, and the model answers the next request."""
    client = live.client("models:invoke")
    for i in range(10):
        with client.stream(
            "POST", "/v1/chat/completions", json=_request(QUESTIONS[i % 4], 400, True)
        ) as response:
            assert response.status_code == 200
            next(response.iter_lines())
    after = client.post("/v1/chat/completions", json=_request(QUESTIONS[0], 3, False))
    assert after.status_code == 200
    assert after.json()["usage"]["completion_tokens"] <= 3


def test_waiting_requests_are_admitted_in_arrival_order(tmp_path: Path) -> None:
    """Past the model's places, requests wait on the event loop and enter first in, first out."""
    import asyncio

    from tessera.llm.serve import create_app

    state = create_app(db_path=tmp_path / "tessera.db").state.tessera
    admitted: list[int] = []

    async def scenario() -> None:
        queue = state.model_lock("tessera")
        places = 0
        while not queue.locked():  # take every place the backend serves at once
            await queue.acquire()
            places += 1
        assert places == 8

        async def wait(i: int) -> None:
            async with queue:
                admitted.append(i)
                await asyncio.sleep(0)

        waiting = []
        for i in range(6):
            waiting.append(asyncio.create_task(wait(i)))
            await asyncio.sleep(0)  # arrive one after another
        for _ in range(places):
            queue.release()
        await asyncio.gather(*waiting)

    asyncio.run(scenario())
    assert admitted == list(range(6))
