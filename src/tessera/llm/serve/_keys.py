"""API keys for the HTTP service: created once, stored hashed, checked on every request.

A key reads ``tsk_<id>_<secret>``: ``<id>`` is 12 hexadecimal digits that find the key's
row without scanning, ``<secret>`` 43 URL-safe characters (256 random bits). Only the
argon2id hash of the whole key is stored, so the database never holds anything that
works as a key. The key itself is shown once, when it is created.

The hash uses OWASP's argon2id settings (19 MiB, 2 passes, 1 lane) rather than
argon2-cffi's password defaults (64 MiB, 3 passes, 4 lanes): a key has 256 random bits,
so no amount of hashing cost is what protects it, and the lighter settings keep one
check near 40 ms instead of half a second on a busy two-core machine. That is still too
slow to pay on every request: a :class:`KeyStore` verifies a key with argon2 once and
then remembers a SHA-256 digest of it in memory, so later requests with the same key
cost a digest and one indexed read. Revocation is read from the database on every
request, so a key revoked by another process stops working at once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tessera._validation import bad_value
from tessera.errors import NotFoundError, TesseraError
from tessera.llm import _db

__all__ = [
    "SCOPES",
    "AuthenticationError",
    "KeyRecord",
    "KeyStore",
    "authenticate",
    "create_key",
    "list_keys",
    "parse_scopes",
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


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class KeyStore:
    """API keys in the tessera database (``$TESSERA_HOME/tessera.db`` by default).

    Parameters
    ----------
    path : str or Path or None, default=None
        The database file; None for :func:`tessera.llm._db.database_path`.

    Notes
    -----
    Thread-safe: one connection, used under a lock.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        from argon2 import PasswordHasher

        self._conn = _db.connect(path)
        self._lock = threading.Lock()
        self._hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
        self._verified: dict[str, bytes] = {}
        _db.migrate(self._conn, _COMPONENT, _MIGRATIONS)

    @property
    def connection(self) -> sqlite3.Connection:
        """The store's connection (share it only under your own lock)."""
        return self._conn

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def create(self, name: str, scopes: str | Iterable[str]) -> tuple[str, str]:
        """Create a key; return ``(key_id, key)``. The key is not stored and not shown again."""
        name = _check_name(name)
        granted = parse_scopes(scopes)
        key_id = secrets.token_hex(6)
        key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        hashed = self._hasher.hash(key)
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

        Revoking a revoked key is an error, so a typo cannot pass silently.
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
            self._verified.pop(key_id, None)
        return self.get(key_id)

    def authenticate(self, key: str | None) -> KeyRecord:
        """The record of a valid key; :class:`AuthenticationError` otherwise.

        Parameters
        ----------
        key : str or None
            The whole key, ``tsk_<id>_<secret>`` (as sent in ``Authorization: Bearer``).
        """
        if not key:
            raise AuthenticationError(f"no API key was sent. {_CREATE_HINT}")
        match = _KEY.match(key) if isinstance(key, str) else None
        if match is None:
            raise AuthenticationError(
                "the API key is malformed: keys read tsk_<12 hex digits>_<43 characters>. "
                "Send the whole key as printed by `tessera keys create`."
            )
        key_id = match.group(1)
        with self._lock:
            row = self._conn.execute("SELECT * FROM api_keys WHERE id = ?", (key_id,)).fetchone()
            known = self._verified.get(key_id)
        if row is None:
            raise AuthenticationError(f"the API key is invalid (no key {key_id}). {_CREATE_HINT}")
        digest = _digest(key)
        if known is None or not hmac.compare_digest(known, digest):
            if not self._verify(row["secret_hash"], key):
                raise AuthenticationError(
                    f"the API key is invalid (wrong secret for key {key_id}). {_CREATE_HINT}"
                )
            with self._lock:
                self._verified[key_id] = digest
        record = _record(row)
        if record.revoked_at is not None:
            raise AuthenticationError(
                f"the API key {key_id} was revoked at {record.revoked_at}. {_CREATE_HINT}"
            )
        return record

    def _verify(self, hashed: str, key: str) -> bool:
        from argon2.exceptions import InvalidHashError, VerificationError

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
