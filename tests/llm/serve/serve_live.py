"""Helpers of the serve tests: a real server on loopback (uvicorn in a thread, port 0),
keys of every scope, and a server-sent-events reader. Imported as ``serve_live``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tessera.llm.serve import SCOPES, KeyStore, create_app, start_server


@dataclass
class Live:
    """A running server, its database and one key per scope (``keys["admin"]`` ...)."""

    url: str
    db: Path
    keys: dict[str, str]
    key_ids: dict[str, str]
    app: Any
    clients: list[Any] = field(default_factory=list)

    def client(self, scope: str | None = None, **headers: str) -> Any:
        """An httpx client on the server, sending the key of ``scope`` (none if None)."""
        if scope is not None:
            headers["Authorization"] = f"Bearer {self.keys[scope]}"
        client = httpx.Client(base_url=self.url, headers=headers, timeout=60)
        self.clients.append(client)
        return client


def make_keys(db: Path, scopes: tuple[str, ...] = SCOPES) -> tuple[dict[str, str], dict[str, str]]:
    store = KeyStore(db)
    try:
        made = {scope: store.create(f"test-{scope}", [scope]) for scope in scopes}
    finally:
        store.close()
    return {s: k for s, (_, k) in made.items()}, {s: i for s, (i, _) in made.items()}


def start_live(db: Path, *, models: tuple[str, ...], **options: Any) -> Iterator[Live]:
    log_level = options.pop("log_level", "warning")
    keys, key_ids = make_keys(db)
    app = create_app(db_path=db, models=models, **options)
    server = start_server(app, log_level=log_level)
    live = Live(server.url, db, keys, key_ids, app)
    try:
        yield live
    finally:
        for client in live.clients:
            client.close()
        server.stop()


def sse_events(response: Any) -> list[Any]:
    """The ``data:`` payloads of a server-sent-event response, JSON-decoded ("[DONE]" as is)."""
    events: list[Any] = []
    for line in response.iter_lines():
        if line.startswith("data: "):
            payload = line[len("data: ") :]
            events.append(payload if payload == "[DONE]" else json.loads(payload))
        else:
            assert line == "", f"unexpected line in the event stream: {line!r}"
    return events
