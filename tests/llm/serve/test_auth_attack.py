"""The service under attack on its keys, against a real server on loopback (issue 17).

Wrong secrets are throttled per client address and per key id before any argon2 check,
checks run on two threads of the key store's own with a bounded queue (503 past it),
memory stays flat, a key that passed skips argon2 until it is revoked, a 401 never tells
which key ids exist, and keys sent in URLs are refused and never logged.
"""

from __future__ import annotations

import logging
import secrets
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tessera.llm.serve import KeyStore, RateLimit, create_app, start_server

MODEL = "tessera:/nonexistent-model-never-loaded"


@dataclass
class Server:
    url: str
    app: Any
    admin: str
    reader: str  # models:invoke

    @property
    def keys(self) -> KeyStore:
        store: KeyStore = self.app.state.tessera.keys
        return store

    def get(
        self, key: str, *, address: str = "127.0.0.1", path: str = "/v1/models"
    ) -> httpx.Response:
        """One GET with ``key`` from ``address`` (any 127.x.y.z), on a connection of its own."""
        transport = httpx.HTTPTransport(local_address=address)
        with httpx.Client(base_url=self.url, transport=transport, timeout=120) as client:
            return client.get(path, headers={"Authorization": f"Bearer {key}"})

    def status(self, key: str, *, address: str) -> int:
        """The status of ``GET /v1/models`` with ``key`` from ``address``, over a bare socket.

        Lighter than an HTTP client, so that the memory measured is the server's.
        """
        host, port = self.url.removeprefix("http://").split(":")
        request = (
            f"GET /v1/models HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
            "Connection: close\r\n\r\n"
        )
        with socket.create_connection((host, int(port)), 120, (address, 0)) as sock:
            sock.sendall(request.encode("ascii"))
            return int(sock.recv(64).split()[1])


@contextmanager
def serving(tmp_path: Path, *, log_level: str = "warning", **options: Any) -> Iterator[Server]:
    """A server with two keys (admin, models:invoke), neither checked by it yet."""
    db = tmp_path / "tessera.db"
    store = KeyStore(db)
    try:
        _, admin = store.create("admin", "admin")
        _, reader = store.create("reader", "models:invoke")
    finally:
        store.close()
    app = create_app(db_path=db, models=(MODEL,), **options)
    server = start_server(app, log_level=log_level)
    try:
        yield Server(server.url, app, admin, reader)
    finally:
        server.stop()


def concurrently(count: int, threads: int, attempt: Callable[[int], Any]) -> list[Any]:
    """``attempt(0..count-1)`` from ``threads`` threads released together."""
    results: list[Any] = [None] * count
    start = threading.Barrier(threads)

    def worker(first: int) -> None:
        start.wait()
        for index in range(first, count, threads):
            results[index] = attempt(index)

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return results


def wrong_secret(key: str, n: int) -> str:
    """The same key id, another secret."""
    return key[:-6] + f"{n:06d}"


def random_key() -> str:
    return f"tsk_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def _error(response: httpx.Response, status: int, error_type: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["type"] == error_type
    message: str = body["message"]
    return message


def test_wrong_secrets_are_throttled_before_any_hashing(tmp_path: Path) -> None:
    # A request limit that refills only 0.01 per second makes the failed-login buckets
    # (the tighter of it and 1/s, bursts of 10) refill too slowly to matter here.
    with serving(tmp_path, rate_limit=RateLimit(0.01, burst=1000)) as server:
        assert server.get(server.reader).status_code == 200  # checked once, now remembered
        checks = server.keys.verifications
        during: list[int] = []

        def attempt(n: int) -> int:
            during.append(server.get(server.reader).status_code)  # the valid key, meanwhile
            response = server.get(wrong_secret(server.reader, n))
            if response.status_code == 429:
                assert "failed authentications" in _error(response, 429, "rate_limit_error")
                assert int(response.headers["Retry-After"]) >= 1
            return response.status_code

        statuses = Counter(concurrently(40, 16, attempt))
        # Ten attempts were checked and failed; thirty were refused before hashing.
        assert statuses == {401: 10, 429: 30}
        assert server.keys.verifications - checks == 10
        assert set(during) == {200}
        # A key this server has not checked yet, from another address: checked, admitted.
        _, newcomer = server.keys.create("newcomer", "models:invoke")
        assert server.get(newcomer, address="127.0.0.2").status_code == 200
        # From the throttled address, even a valid unchecked key waits its turn (429,
        # no hashing); a checked key is never throttled this way.
        _, late = server.keys.create("late", "models:invoke")
        assert server.get(late).status_code == 429
        assert server.get(server.reader).status_code == 200


def test_concurrent_checks_are_bounded_and_memory_stays_flat(tmp_path: Path) -> None:
    # Every attempt from an address of its own with an unknown key id: no bucket refuses
    # them, so all 40 are checked (against a dummy hash), two at a time.
    with serving(tmp_path, rate_limit=RateLimit(1000, burst=1000)) as server:
        assert server.get(server.reader).status_code == 200
        checks, before = server.keys.verifications, rss_mb()
        statuses = concurrently(
            40, 16, lambda n: server.status(random_key(), address=f"127.3.0.{n + 1}")
        )
        grown = rss_mb() - before
        assert set(statuses) == {401}
        assert server.keys.verifications - checks == 40
        # argon2 holds 19 MiB per check; on 16 threads at once this grew by ~300 MB.
        assert grown < 150, f"RSS grew by {grown:.0f} MB"
        assert server.get(server.reader).status_code == 200


def test_checks_past_the_queue_get_503_at_once(tmp_path: Path) -> None:
    with serving(tmp_path, rate_limit=RateLimit(1000, burst=1000)) as server:
        # One check at a time and none waiting: concurrent unknown keys overflow it.
        server.app.state.tessera.keys = KeyStore(
            tmp_path / "tessera.db", hash_threads=1, hash_queue=0
        )
        responses = concurrently(
            16, 16, lambda n: server.get(random_key(), address=f"127.4.0.{n + 1}")
        )
        statuses = Counter(r.status_code for r in responses)
        assert set(statuses) <= {401, 503} and statuses[503] > 0, statuses
        busy = next(r for r in responses if r.status_code == 503)
        assert "the server is busy" in _error(busy, 503, "unavailable_error")
        assert busy.headers["Retry-After"] == "1"
        server.keys.close()


def test_one_answer_for_unknown_wrong_and_malformed_keys(tmp_path: Path) -> None:
    with serving(tmp_path, rate_limit=RateLimit(1000, burst=1000)) as server:
        checks = server.keys.verifications
        unknown = server.get(random_key())
        assert server.keys.verifications - checks == 1  # a dummy check: the same work
        wrong = server.get(wrong_secret(server.reader, 1))
        assert server.keys.verifications - checks == 2
        malformed = server.get(server.reader[:-1])
        assert server.keys.verifications - checks == 2  # nothing to check
        answers = [
            (r.status_code, r.json(), r.headers["WWW-Authenticate"])
            for r in (unknown, wrong, malformed)
        ]
        assert answers[0] == answers[1] == answers[2]
        message = _error(unknown, 401, "authentication_error")
        assert "not valid" in message and server.reader[4:16] not in message


def test_a_checked_key_skips_argon2_until_it_is_revoked(tmp_path: Path) -> None:
    with serving(tmp_path, rate_limit=RateLimit(1000, burst=1000)) as server:
        reader_id = server.reader[4:16]
        assert server.get(server.reader).status_code == 200
        checks = server.keys.verifications
        assert [server.get(server.reader).status_code for _ in range(5)] == [200] * 5
        assert server.keys.verifications == checks
        revoked = httpx.delete(
            f"{server.url}/v1/keys/{reader_id}",
            headers={"Authorization": f"Bearer {server.admin}"},
        )
        assert revoked.status_code == 200
        gone = server.get(server.reader)  # the very next request
        assert f"{reader_id} was revoked" in _error(gone, 401, "authentication_error")


def test_403_names_admin_once(tmp_path: Path) -> None:
    with serving(tmp_path, rate_limit=RateLimit(1000, burst=1000)) as server:
        message = _error(server.get(server.reader, path="/v1/keys"), 403, "permission_error")
        assert "this request needs 'admin'. " in message and "(or 'admin')" not in message


#: (method, URL after the server's address, the parameter named in the 400 or None)
def _urls(key: str) -> list[tuple[str, str, str | None]]:
    encoded = key.replace("_", "%5F")
    return [
        ("GET", f"/v1/models?api_key={key}", "api_key"),
        ("GET", f"/healthz?access_token={key}", "access_token"),
        ("POST", f"/v1/prompts?key={key}", "key"),
        ("GET", f"/v1/audit?limit=5&q={encoded}", "q"),
        ("GET", "/v1/models?token=not-even-ours", "token"),
        ("POST", f"/v1/prompts/{key}", None),
    ]


def test_keys_in_urls_are_refused_and_never_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with serving(tmp_path, log_level="info", rate_limit=RateLimit(1000, burst=1000)) as server:
        secret = server.admin.split("_", 2)[2]
        admin = {"Authorization": f"Bearer {server.admin}"}
        for method, url, param in _urls(server.admin):
            # Refused even with a valid key in the header: the URL has leaked it already.
            response = httpx.request(method, f"{server.url}{url}", headers=admin)
            message = _error(response, 400, "invalid_request_error")
            assert "Authorization header" in message and secret not in message
            assert response.json()["error"]["param"] == param
        audit = httpx.get(f"{server.url}/v1/audit", headers=admin).json()
    assert [(e["method"], e["status"]) for e in audit] == [("POST", 400), ("POST", 400)]
    assert secret not in str(audit) and "[redacted]" in audit[0]["path"]
    served = [r for r in caplog.records if r.name.startswith(("uvicorn", "tessera"))]
    access = [r.getMessage() for r in served if r.name == "uvicorn.access"]
    assert len(access) == len(_urls(server.admin)) + 1
    assert sum("[redacted]" in line for line in access) == len(_urls(server.admin))
    assert not [r.getMessage() for r in served if secret in r.getMessage()]
