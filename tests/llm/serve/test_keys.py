"""API keys: creation, hashing at rest, authentication, revocation, scopes; the rate limiter."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.errors import InvalidInputError, NotFoundError
from tessera.llm.serve import (
    SCOPES,
    AuditLog,
    AuthenticationError,
    KeyRecord,
    KeyStore,
    RateLimit,
    RateLimiter,
    authenticate,
    create_key,
    list_keys,
    parse_scopes,
    revoke_key,
)
from tessera.llm.serve._keys import INVALID_KEY, contains_key, redact_keys
from tessera.llm.serve._ratelimit import BoundedPool, BusyError, FailedLoginLimiter


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    return KeyStore(tmp_path_factory.mktemp("keys") / "tessera.db")


@pytest.fixture(scope="module")
def made(store: KeyStore) -> tuple[str, str]:
    return store.create("reader", "prompts:read,flows:invoke")


def test_key_format_and_record(store: KeyStore, made: tuple[str, str]) -> None:
    key_id, key = made
    assert key.startswith(f"tsk_{key_id}_") and len(key) == 4 + 12 + 1 + 43
    record = store.authenticate(key)
    assert record.id == key_id and record.name == "reader"
    assert record.scopes == ("flows:invoke", "prompts:read")
    assert record.revoked_at is None
    assert store.get(key_id) == record


def test_only_a_hash_is_stored(tmp_path: Path) -> None:
    db = tmp_path / "tessera.db"
    key_id, key = create_key("ci", ["admin"], path=db)
    secret = key.split("_", 2)[2]
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert key_id.encode() in stored  # the row is there...
    assert secret.encode() not in stored and key.encode() not in stored  # ...not the secret
    assert authenticate(key, path=db).id == key_id
    assert [r.id for r in list_keys(path=db)] == [key_id]
    # Creation and revocation from Python are audited as local actions.
    revoke_key(key_id, path=db)
    log = AuditLog(db)
    entries = log.entries()
    log.close()
    assert [(e.method, e.path) for e in entries] == [
        ("DELETE", f"/keys/{key_id}"),
        ("POST", f"/keys/{key_id}"),
    ]
    assert all(e.key_name and e.key_name.startswith("local:") for e in entries)


@pytest.mark.parametrize(
    ("sent", "says"),
    [
        (None, "no API key was sent"),
        ("", "no API key was sent"),
        ("sk-abc", INVALID_KEY),
        ("tsk_0123456789ab_short", INVALID_KEY),
        ("tsk_0123456789ab_" + "A" * 43, INVALID_KEY),
    ],
)
def test_bad_keys_are_refused_without_echoing_them(
    store: KeyStore, sent: str | None, says: str
) -> None:
    with pytest.raises(AuthenticationError) as info:
        store.authenticate(sent)
    assert says in str(info.value)
    if sent:
        assert sent not in str(info.value) and "0123456789ab" not in str(info.value)
    assert "tessera keys create" in str(info.value)


def test_unknown_wrong_and_malformed_keys_cost_and_say_the_same(
    store: KeyStore, made: tuple[str, str]
) -> None:
    key_id, key = made
    refused: list[str] = []
    for sent, checks in [
        ("tsk_0123456789ab_" + "A" * 43, 1),  # unknown id: checked against a dummy hash
        (key[:-1] + ("A" if key[-1] != "A" else "B"), 1),  # wrong secret
        (key[:-1], 0),  # malformed: nothing to check
    ]:
        before = store.verifications
        with pytest.raises(AuthenticationError) as info:
            store.authenticate(sent)
        assert store.verifications - before == checks
        refused.append(str(info.value))
    assert refused == [INVALID_KEY] * 3 and key_id not in INVALID_KEY


def test_a_checked_key_skips_argon2_until_revoked(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "tessera.db")
    key_id, key = store.create("temp", "models:invoke")
    assert store.cached(key) is None and not store.knows(key)  # never checked here yet
    assert store.authenticate(key).id == key_id
    assert store.knows(key) and not store.knows(key[:-1] + "x")
    checks = store.verifications
    assert [store.authenticate(key).id for _ in range(3)] == [key_id] * 3
    assert store.cached(key) is not None and store.verifications == checks
    store.revoke(key_id)
    with pytest.raises(AuthenticationError, match=f"{key_id} was revoked"):
        store.authenticate(key)
    store.close()


@settings(max_examples=8)
@given(position=st.integers(0, 42), replacement=st.sampled_from("AbZ09-_"))
def test_any_changed_secret_character_is_refused(
    store: KeyStore, made: tuple[str, str], position: int, replacement: str
) -> None:
    key_id, key = made
    head, secret = key[: len(key) - 43], key[len(key) - 43 :]
    if secret[position] == replacement:
        replacement = "x"
    forged = head + secret[:position] + replacement + secret[position + 1 :]
    with pytest.raises(AuthenticationError, match="^the API key is not valid"):
        store.authenticate(forged)
    assert store.authenticate(key).id == key_id  # the real one still works (cached or not)


def test_revocation_is_seen_by_a_store_that_cached_the_key(tmp_path: Path) -> None:
    db = tmp_path / "tessera.db"
    first, second = KeyStore(db), KeyStore(db)
    key_id, key = first.create("temp", "models:invoke")
    assert second.authenticate(key).id == key_id  # now cached in `second`
    revoked = first.revoke(key_id)
    assert revoked.revoked_at is not None
    with pytest.raises(AuthenticationError, match=f"{key_id} was revoked"):
        second.authenticate(key)
    with pytest.raises(InvalidInputError, match="already revoked"):
        first.revoke(key_id)
    with pytest.raises(NotFoundError, match="no such API key"):
        first.revoke("000000000000")
    assert [r.id for r in first.list(include_revoked=False)] == []
    assert [r.id for r in first.list()] == [key_id]
    first.close()
    second.close()


@pytest.mark.parametrize(
    ("scopes", "says"),
    [
        ("", "at least one scope"),
        ([], "at least one scope"),
        ("prompts:reed", r"unknown scope\(s\) \['prompts:reed'\]"),
        (["admin", 3], "unknown scope"),
    ],
)
def test_bad_scopes(scopes: object, says: str) -> None:
    with pytest.raises(InvalidInputError, match=f"scopes=.*{says}.*scopes are admin"):
        parse_scopes(scopes)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", "x" * 65, "a\nb", 7])
def test_bad_names(store: KeyStore, name: object) -> None:
    with pytest.raises(InvalidInputError, match="name=.*a key name is 1-64"):
        store.create(name, "admin")  # type: ignore[arg-type]


def test_parse_scopes_sorts_and_deduplicates() -> None:
    assert parse_scopes(" flows:invoke, admin ,flows:invoke") == ("admin", "flows:invoke")


@given(held=st.sets(st.sampled_from(SCOPES), min_size=1), wanted=st.sampled_from(SCOPES))
def test_scope_rules(held: set[str], wanted: str) -> None:
    record = KeyRecord("0" * 12, "k", tuple(sorted(held)), "now")
    area, _, action = wanted.partition(":")
    expected = "admin" in held or wanted in held or (action == "read" and f"{area}:write" in held)
    assert record.allows(wanted) is expected
    # Metamorphic: adding admin grants everything; a key always grants what it holds.
    assert KeyRecord("0" * 12, "k", (*record.scopes, "admin"), "now").allows(wanted)
    assert all(record.allows(s) for s in held)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_burst_then_refill() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(per_second=2, burst=3), clock=clock)
    assert [limiter.acquire("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.acquire("k")
    assert wait == pytest.approx(0.5)
    assert limiter.acquire("other") == 0.0  # buckets are per name
    clock.now += wait
    assert limiter.acquire("k") == 0.0
    assert limiter.acquire("k") > 0
    clock.now += 100  # a long idle refills to the burst, no more
    assert [limiter.acquire("k") for _ in range(4)][-1] > 0


@given(
    rate=st.floats(0.5, 50),
    burst=st.integers(1, 20),
    gaps=st.lists(st.floats(0, 0.5), min_size=1, max_size=200),
)
def test_token_bucket_never_grants_more_than_burst_plus_refill(
    rate: float, burst: int, gaps: list[float]
) -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(per_second=rate, burst=burst), clock=clock)
    granted = 0
    for gap in gaps:
        clock.now += gap
        wait = limiter.acquire("k")
        granted += wait == 0.0
        assert wait >= 0.0
    assert granted <= burst + rate * clock.now + 1e-9
    # After waiting as long as it says, a refused caller is served.
    wait = limiter.acquire("k")
    while wait == 0.0:
        wait = limiter.acquire("k")
    clock.now += wait
    assert limiter.acquire("k") == 0.0


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"per_second": 0}, "per_second=0 is invalid"),
        ({"per_second": float("inf")}, "finite"),
        ({"burst": 0}, "burst=0 is invalid"),
        ({"burst": 2.5}, "burst=2.5 is invalid"),
    ],
)
def test_bad_rate_limits(kwargs: dict[str, float], says: str) -> None:
    with pytest.raises(InvalidInputError, match=says):
        RateLimit(**kwargs)  # type: ignore[arg-type]


def test_refund_gives_back_one_token_up_to_the_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(per_second=1, burst=2), clock=clock)
    assert [limiter.acquire("k") for _ in range(2)] == [0.0, 0.0]
    assert limiter.acquire("k") > 0
    limiter.refund("k")
    assert limiter.acquire("k") == 0.0 and limiter.acquire("k") > 0
    for _ in range(5):
        limiter.refund("k")
    assert [limiter.acquire("k") == 0.0 for _ in range(3)] == [True, True, False]


def test_buckets_stay_bounded_forgetting_the_least_recently_used() -> None:
    from tessera.llm.serve._ratelimit import _MAX_BUCKETS

    limiter = RateLimiter(RateLimit(per_second=1e-6, burst=1), clock=FakeClock())
    for n in range(_MAX_BUCKETS):  # every bucket is empty, none can be dropped as full
        assert limiter.acquire(str(n)) == 0.0
    assert limiter.acquire("1") > 0  # touched: now the most recently used
    assert limiter.acquire("newcomer") == 0.0  # past the bound: "0" is forgotten
    assert limiter.acquire("0") == 0.0  # a fresh bucket (and "2" went to make room)
    assert limiter.acquire("1") > 0 and limiter.acquire(str(_MAX_BUCKETS - 1)) > 0


def test_failed_logins_are_limited_per_address_and_per_key_id() -> None:
    limiter = FailedLoginLimiter(RateLimit(per_second=1e-6, burst=2), clock=FakeClock())
    assert limiter.acquire("10.0.0.1", "a" * 12) == (0.0, "")
    assert limiter.acquire("10.0.0.1", "b" * 12) == (0.0, "")
    wait, what = limiter.acquire("10.0.0.1", "c" * 12)
    assert wait > 0 and what == "from this address"
    assert limiter.acquire("10.0.0.2", "a" * 12) == (0.0, "")
    wait, what = limiter.acquire("10.0.0.3", "a" * 12)
    assert wait > 0 and what == f"for key {'a' * 12}"
    # The refused attempt took nothing from 10.0.0.3's bucket; a success gives both back.
    assert limiter.acquire("10.0.0.3", "d" * 12) == (0.0, "")
    limiter.refund("10.0.0.1", "a" * 12)
    assert limiter.acquire("10.0.0.1", "a" * 12) == (0.0, "")


def test_bounded_pool_refuses_past_its_queue_and_recovers() -> None:
    pool = BoundedPool(threads=1, queue=1)
    release = threading.Event()
    running = pool.submit(release.wait)
    waiting = pool.submit(lambda: 7)
    with pytest.raises(BusyError, match="the server is busy: 2 costly checks"):
        pool.submit(lambda: 8)
    # A trusted caller waits past the bound instead (here from a thread of its own).
    called: list[int] = []
    caller = threading.Thread(target=lambda: called.append(pool.call(lambda: 9)))
    caller.start()
    while pool.admitted < 3:
        release.wait(0.001)
    release.set()
    caller.join()
    assert running.result() is True and waiting.result() == 7 and called == [9]
    assert pool.submit(lambda: 10).result() == 10
    pool.shutdown()
    assert pool.admitted == 0


@pytest.mark.parametrize(
    ("kwargs", "says"), [({"threads": 0}, "threads=0"), ({"queue": -1}, "queue=-1")]
)
def test_bad_pool_sizes(kwargs: dict[str, int], says: str) -> None:
    with pytest.raises(InvalidInputError, match=says):
        BoundedPool(**kwargs)  # type: ignore[arg-type]


def test_keys_are_found_and_redacted_in_text() -> None:
    key = "tsk_0123456789ab_" + "s-_" * 14 + "x"
    for text in (key, f"/v1/x?api_key={key}&b=1", key.replace("_", "%5F"), f"a {key} b {key}"):
        assert contains_key(text)
        redacted = redact_keys(text)
        assert "s-_" not in redacted and "tsk_0123456789ab_[redacted]" in redacted
        assert redact_keys(redacted) == redacted and not contains_key(redacted)
    assert not contains_key("tsk_0123_short /v1/keys key_id=0123456789ab")
