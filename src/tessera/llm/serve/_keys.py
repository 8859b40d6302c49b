"""API keys for the HTTP service: created once, stored hashed, checked on every request.

A key reads ``tsk_<id>_<secret>``: ``<id>`` is 12 hexadecimal digits that find the key's
row without scanning, ``<secret>`` 43 URL-safe characters (256 random bits). Only the
argon2id hash of the whole key is stored, so the database never holds anything that
works as a key. The key itself is shown once, when it is created.

The hash uses OWASP's argon2id settings (19 MiB, 2 passes, 1 lane) rather than
argon2-cffi's password defaults (64 MiB, 3 passes, 4 lanes): a key has 256 random bits,
so no amount of hashing cost is what protects it, and the lighter settings make one
check several times cheaper on a busy two-core machine.

That is still too slow, and too big, to pay on every request or to let anyone make the
server pay at will:

- Checks run on a :class:`~tessera.llm.serve._ratelimit.BoundedPool` of two threads of
  their own with a bounded queue, so at most two hashes (2 x 19 MiB) are ever in
  memory; an argon2 check on every thread of a large pool is what made a flood of wrong
  secrets grow the server by hundreds of megabytes, since the C allocator keeps each
  thread's 19 MiB after the check.
- A key that passed is remembered for a while under an HMAC-SHA256 of the whole key (a
  random per-process HMAC key), so later requests with it cost a digest and one indexed
  read, whatever else is going on. Revocation is read from the database on every
  request, so a key revoked by another process stops working at once.
- An unknown key id is checked against a dummy hash, and malformed, unknown and wrong
  keys all get one message: an answer never tells which key ids exist.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from tessera._validation import bad_value
from tessera.errors import NotFoundError, TesseraError
from tessera.llm import _db
from tessera.llm.serve._ratelimit import BoundedPool

__all__ = [
    "SCOPES",
    "AuthenticationError",
    "KeyRecord",
    "KeyStore",
    "authenticate",
    "contains_key",
    "create_key",
    "list_keys",
    "key_id_of",
    "parse_scopes",
    "redact_keys",
    "revoke_key",
]

#: Every scope a key may hold. ``admin`` grants all of them; ``<area>:write`` grants
#: ``<area>:read``.
SCOPES: tuple[str, ...] = (
    "admin",
    "flows:invoke",
    "flows:read",
    "flows:write",
    "guardrails:apply",
    "guardrails:read",
    "guardrails:write",
    "models:invoke",
    "prompts:read",
    "prompts:write",
)

PREFIX = "tsk"
_KEY = re.compile(r"^tsk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_NAME = re.compile(r"^[\w .:@/-]{1,64}$")
_CREATE_HINT = "Create a key with `tessera keys create NAME --scopes models:invoke`."
#: One answer for a malformed key, an unknown key id and a wrong secret, so that no
#: answer tells which key ids exist.
INVALID_KEY = (
    "the API key is not valid: it is malformed, not a key of this server, or its secret "
    "is wrong (keys read tsk_<12 hex digits>_<43 characters>). Send the whole key as "
    f"printed by `tessera keys create`. {_CREATE_HINT}"
)
#: Anything shaped like a key, percent-encoded or not, in text that may be logged.
_KEY_IN_TEXT = re.compile(r"tsk(?:_|%5[Ff])([0-9A-Fa-f]{12})(?:_|%5[Ff])[A-Za-z0-9_%-]+")
#: A key that passed is remembered this long after its last use (seconds), at most this
#: many keys (the least recently used are forgotten first).
_CACHE_SECONDS = 600.0
_CACHE_SIZE = 4096

_COMPONENT = "api_keys"
_MIGRATIONS = [
    """
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        scopes TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );
    """
]


class AuthenticationError(TesseraError):
    """A key is missing, malformed, unknown, wrong or revoked (HTTP 401).

    The message never contains the key.
    """


@dataclass(frozen=True)
class KeyRecord:
    """A stored key, without its secret.

    Attributes
    ----------
    id : str
        The 12 hexadecimal digits after ``tsk_``.
    name : str
        What the key is for (free text).
    scopes : tuple of str
        Sorted scopes from :data:`SCOPES`.
    created_at : str
        ISO 8601 UTC.
    revoked_at : str or None
        When it was revoked; None while it is valid.
    """

    id: str
    name: str
    scopes: tuple[str, ...]
    created_at: str
    revoked_at: str | None = None

    def allows(self, scope: str) -> bool:
        """Whether this key grants ``scope`` (``admin`` grants all; write grants read)."""
        if "admin" in self.scopes or scope in self.scopes:
            return True
        area, _, action = scope.partition(":")
        return action == "read" and f"{area}:write" in self.scopes


def parse_scopes(scopes: str | Iterable[str]) -> tuple[str, ...]:
    """Check scopes and return them sorted without duplicates.

    Parameters
    ----------
    scopes : str or iterable of str
        Scope names, or one comma-separated string (``"prompts:read,flows:invoke"``).
    """
    items = scopes.split(",") if isinstance(scopes, str) else list(scopes)
    cleaned = {s.strip() for s in items if isinstance(s, str) and s.strip()}
    unknown = sorted(cleaned - set(SCOPES)) + [s for s in items if not isinstance(s, str)]
    if unknown or not cleaned:
        rule = f"unknown scope(s) {unknown}" if unknown else "a key needs at least one scope"
        raise bad_value(
            "scopes", scopes, f"{rule}; scopes are {', '.join(SCOPES)}", "Pass e.g. 'prompts:read'."
        )
    return tuple(sorted(cleaned))


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise bad_value(
            "name",
            name,
            "a key name is 1-64 letters, digits, spaces or . _ : @ / -",
            "Pass a short label such as 'ci-bot'.",
        )
    return name


def key_id_of(key: str | None) -> str:
    """The key id of a well-formed key; :class:`AuthenticationError` otherwise.

    A missing key says so; a malformed one gets the same message as an unknown or a
    wrong key.
    """
    return _parse(key)[1]


def _parse(key: str | None) -> tuple[str, str]:
    """``(key, key_id)`` of a well-formed key."""
    if not key:
        raise AuthenticationError(f"no API key was sent. {_CREATE_HINT}")
    match = _KEY.match(key) if isinstance(key, str) else None
    if match is None:
        raise AuthenticationError(INVALID_KEY)
    return key, match.group(1)


def contains_key(text: str) -> bool:
    """Whether ``text`` holds something shaped like a key (percent-encoded or not)."""
    return _KEY_IN_TEXT.search(text) is not None


def redact_keys(text: str) -> str:
    """``text`` with the secret of anything shaped like a key replaced (for logs).

    >>> redact_keys("/v1/models?api_key=tsk_0123456789ab_" + "s" * 43)
    '/v1/models?api_key=tsk_0123456789ab_[redacted]'
    """
    return _KEY_IN_TEXT.sub(lambda m: f"tsk_{m.group(1)}_[redacted]", text)


class KeyStore:
    """API keys in the tessera database (``$TESSERA_HOME/tessera.db`` by default).

    Parameters
    ----------
    path : str or Path or None, default=None
        The database file; None for :func:`tessera.llm._db.database_path`.
    hash_threads : int, default=2
        argon2 checks that run at once, on threads of the store's own; each holds 19 MiB.
    hash_queue : int, default=32
        Checks from :meth:`submit` that may wait for a thread; more are refused at once
        (:class:`~tessera.llm.serve._ratelimit.BusyError`).

    Attributes
    ----------
    verifications : int
        argon2 checks made so far (dummy ones for unknown key ids included): a number to
        watch, since every one costs a core tens of milliseconds and 19 MiB while it runs.

    Notes
    -----
    Thread-safe: one connection, used under a lock.
    """

    def __init__(
        self, path: str | Path | None = None, *, hash_threads: int = 2, hash_queue: int = 32
    ) -> None:
        from argon2 import PasswordHasher

        self._pool = BoundedPool(hash_threads, hash_queue, name="tessera-argon2")
        self._conn = _db.connect(path)
        self._lock = threading.Lock()
        self._hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
        self._dummy_hash: str | None = None
        self._mac_key = secrets.token_bytes(32)
        # HMAC of a whole key that passed -> (its id, when it was last used), under a lock
        # of its own that is never held across I/O (an event loop may take it).
        self._verified: OrderedDict[bytes, tuple[str, float]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.verifications = 0
        _db.migrate(self._conn, _COMPONENT, _MIGRATIONS)

    @property
    def connection(self) -> sqlite3.Connection:
        """The store's connection (share it only under your own lock)."""
        return self._conn

    def close(self) -> None:
        """Close the connection and stop the hashing threads."""
        self._pool.shutdown()
        with self._lock:
            self._conn.close()

    def create(self, name: str, scopes: str | Iterable[str]) -> tuple[str, str]:
        """Create a key; return ``(key_id, key)``. The key is not stored and not shown again."""
        name = _check_name(name)
        granted = parse_scopes(scopes)
        key_id = secrets.token_hex(6)
        key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        hashed = self._pool.call(self._hasher.hash, key)
        with self._lock, _db.transaction(self._conn):
            self._conn.execute(
                "INSERT INTO api_keys (id, name, scopes, secret_hash, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (key_id, name, " ".join(granted), hashed, _db.now()),
            )
        return key_id, key

    def list(self, *, include_revoked: bool = True) -> list[KeyRecord]:
        """Every key, oldest first (revoked ones too unless ``include_revoked=False``)."""
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        with self._lock:
            rows = self._conn.execute(
                f"SELECT * FROM api_keys{where} ORDER BY created_at, id"
            ).fetchall()
        return [_record(row) for row in rows]

    def get(self, key_id: str) -> KeyRecord:
        """The key with this id; :class:`~tessera.errors.NotFoundError` if there is none."""
        with self._lock:
            row = self._conn.execute("SELECT * FROM api_keys WHERE id = ?", (key_id,)).fetchone()
        if row is None:
            raise NotFoundError(
                f"key_id={key_id!r} is invalid: no such API key. "
                "List the keys with `tessera keys list`."
            )
        return _record(row)

    def revoke(self, key_id: str) -> KeyRecord:
        """Revoke a key (it stays listed, with its revocation time); return its record.

        Revoking a revoked key is an error, so a typo cannot pass silently. The key stops
        working at once, here and in every other process using the database.
        """
        record = self.get(key_id)
        if record.revoked_at is not None:
            raise bad_value(
                "key_id",
                key_id,
                f"the key was already revoked at {record.revoked_at}",
                "Nothing to do; `tessera keys list` shows the valid keys.",
            )
        with self._lock, _db.transaction(self._conn):
            self._conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (_db.now(), key_id),
            )
        with self._cache_lock:
            for mac in [m for m, (known, _) in self._verified.items() if known == key_id]:
                del self._verified[mac]
        return self.get(key_id)

    def authenticate(self, key: str | None) -> KeyRecord:
        """The record of a valid key; :class:`AuthenticationError` otherwise.

        Parameters
        ----------
        key : str or None
            The whole key, ``tsk_<id>_<secret>`` (as sent in ``Authorization: Bearer``).

        Notes
        -----
        A malformed key, an unknown key id and a wrong secret get one message; a revoked
        key says so only to whoever holds its secret. The same as :meth:`cached`, then
        :meth:`verify` on the store's hashing threads (waiting for one if need be).
        """
        record = self.cached(key)
        if record is not None:
            return record
        return self._pool.call(self.verify, key)

    def knows(self, key: str) -> bool:
        """Whether ``key`` passed recently (an HMAC and a lookup in memory: no I/O).

        For an event loop deciding whether :meth:`cached` (a database read) is worth a
        worker thread; a key it does not know needs :meth:`submit`.
        """
        return self._remembered(self._mac(key), touch=False)

    def cached(self, key: str | None) -> KeyRecord | None:
        """The record of a key that passed recently, without argon2; None if not known.

        :class:`AuthenticationError` for a missing or malformed key, and for a known key
        that has been revoked since (read from the database every time).
        """
        key, key_id = _parse(key)
        mac = self._mac(key)
        if not self._remembered(mac, touch=True):
            return None
        with self._lock:
            row = self._conn.execute("SELECT * FROM api_keys WHERE id = ?", (key_id,)).fetchone()
        if row is None:
            return None
        return self._admit(_record(row), mac)

    def _remembered(self, mac: bytes, *, touch: bool) -> bool:
        now = time.monotonic()
        with self._cache_lock:
            known = self._verified.get(mac)
            if known is None:
                return False
            if now - known[1] > _CACHE_SECONDS:
                del self._verified[mac]
                return False
            if touch:
                self._verified[mac] = (known[0], now)
                self._verified.move_to_end(mac)
            return True

    def submit(self, key: str) -> Future[KeyRecord]:
        """Queue :meth:`verify` on the store's hashing threads (for servers).

        Raises
        ------
        AuthenticationError
            At once, for a missing or malformed key (no hashing needed).
        BusyError
            At once, when ``hash_threads + hash_queue`` checks are running or waiting.
        """
        key_id_of(key)
        return self._pool.submit(self.verify, key)

    def verify(self, key: str | None) -> KeyRecord:
        """Check ``key`` with argon2 in this thread; remember it if it passes.

        An unknown key id is checked against a dummy hash, so that it costs what a wrong
        secret costs. Prefer :meth:`authenticate`, which runs this on the store's own
        threads only when :meth:`cached` does not know the key.
        """
        key, key_id = _parse(key)
        with self._lock:
            row = self._conn.execute("SELECT * FROM api_keys WHERE id = ?", (key_id,)).fetchone()
        if row is None:
            self._verify(self._dummy(), key)
            raise AuthenticationError(INVALID_KEY)
        if not self._verify(row["secret_hash"], key):
            raise AuthenticationError(INVALID_KEY)
        mac = self._mac(key)
        with self._cache_lock:
            self._verified[mac] = (key_id, time.monotonic())
            self._verified.move_to_end(mac)
            while len(self._verified) > _CACHE_SIZE:
                self._verified.popitem(last=False)
        return self._admit(_record(row), mac)

    def _admit(self, record: KeyRecord, mac: bytes) -> KeyRecord:
        if record.revoked_at is not None:
            with self._cache_lock:
                self._verified.pop(mac, None)
            raise AuthenticationError(
                f"the API key {record.id} was revoked at {record.revoked_at}. {_CREATE_HINT}"
            )
        return record

    def _mac(self, key: str) -> bytes:
        return hmac.new(self._mac_key, key.encode("utf-8"), hashlib.sha256).digest()

    def _dummy(self) -> str:
        """A hash with the real settings, of a key nobody holds (made once, on first need)."""
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(32))
        return self._dummy_hash

    def _verify(self, hashed: str, key: str) -> bool:
        from argon2.exceptions import InvalidHashError, VerificationError

        with self._lock:
            self.verifications += 1
        try:
            return bool(self._hasher.verify(hashed, key))
        except (VerificationError, InvalidHashError):
            return False


def _record(row: sqlite3.Row) -> KeyRecord:
    return KeyRecord(
        id=row["id"],
        name=row["name"],
        scopes=tuple(row["scopes"].split()),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


def _audit_local(method: str, what: str, path: str | Path | None) -> None:
    """Record a key change made in this process (the command line, a script)."""
    import getpass

    from tessera.llm.serve._audit import AuditLog

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name in this environment
        user = "unknown"
    log = AuditLog(path)
    try:
        log.record(method=method, path=what, status=200, key_name=f"local:{user}")
    finally:
        log.close()


def create_key(
    name: str, scopes: str | Iterable[str], *, path: str | Path | None = None
) -> tuple[str, str]:
    """Create an API key; return ``(key_id, key)``.

    Parameters
    ----------
    name : str
        A label (1-64 characters: letters, digits, spaces, ``. _ : @ / -``).
    scopes : str or iterable of str
        From :data:`SCOPES`; a comma-separated string is accepted.
    path : str or Path or None, default=None
        The database; None for ``$TESSERA_HOME/tessera.db``.

    Returns
    -------
    tuple of str
        The key's id, and the key itself, which is shown only now: store it. The
        creation is recorded in the audit log (who: ``local:<user name>``).
    """
    store = KeyStore(path)
    try:
        key_id, key = store.create(name, scopes)
    finally:
        store.close()
    _audit_local("POST", f"/keys/{key_id}", path)
    return key_id, key


def list_keys(*, path: str | Path | None = None) -> list[KeyRecord]:
    """Every key (revoked ones too), oldest first."""
    store = KeyStore(path)
    try:
        return store.list()
    finally:
        store.close()


def revoke_key(key_id: str, *, path: str | Path | None = None) -> KeyRecord:
    """Revoke a key by id; return its updated record (recorded in the audit log)."""
    store = KeyStore(path)
    try:
        record = store.revoke(key_id)
    finally:
        store.close()
    _audit_local("DELETE", f"/keys/{key_id}", path)
    return record


def authenticate(key: str | None, *, path: str | Path | None = None) -> KeyRecord:
    """Check a key; return its record or raise :class:`AuthenticationError`."""
    store = KeyStore(path)
    try:
        return store.authenticate(key)
    finally:
        store.close()
