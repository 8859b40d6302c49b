"""AWS-style credentials for API keys, so that boto3 can sign requests with SigV4.

SigV4 is a shared-secret scheme: to check a signature the server needs the secret itself,
not a hash of it. So a key's AWS secret is stored encrypted (Fernet: AES-128-CBC with an
HMAC-SHA256, from the ``cryptography`` package) under a key file next to the database,
created with mode 0600 on first use: a copy of the database alone holds nothing that
signs a request. Secrets are never logged and never shown again after they are issued.

Each credential belongs to one API key: it carries that key's scopes, and stops working
when the key is revoked (read from the database on every request) or when it is itself
deleted.
"""

from __future__ import annotations

import os
import secrets
import string
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera._validation import bad_value
from tessera.errors import MissingExtraError, NotFoundError
from tessera.llm import _db

__all__ = ["AwsCredentialStore", "AwsCredentials", "issue_aws_credentials", "key_file_of"]

#: Access key ids read ``TSKA`` and 16 upper-case letters and digits (20 characters, as AWS's).
ACCESS_PREFIX = "TSKA"
_ALPHABET = string.ascii_uppercase + string.digits
_KEY_FILE = "aws-secrets.key"

_COMPONENT = "aws_credentials"
_MIGRATIONS = [
    """
    CREATE TABLE aws_credentials (
        access_key_id TEXT PRIMARY KEY,
        key_id TEXT NOT NULL,
        secret_encrypted TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX aws_credentials_key ON aws_credentials (key_id);
    """
]


@dataclass(frozen=True)
class AwsCredentials:
    """An access key id and its secret (what ``boto3.client(...)`` takes).

    Attributes
    ----------
    key_id : str
        The tessera API key whose scopes the credentials carry.
    access_key_id : str
        ``aws_access_key_id``.
    secret_access_key : str
        ``aws_secret_access_key``; shown once.
    """

    key_id: str
    access_key_id: str
    secret_access_key: str = ""

    def __repr__(self) -> str:  # the secret stays out of logs and tracebacks
        return f"AwsCredentials(key_id={self.key_id!r}, access_key_id={self.access_key_id!r})"


def key_file_of(db_path: str | Path | None) -> Path:
    """The key file that encrypts the secrets of the database at ``db_path``."""
    db = Path(db_path) if db_path is not None else _db.database_path()
    return db.parent / _KEY_FILE


def _fernet(key_file: Path, *, create: bool) -> Any:
    try:
        from cryptography.fernet import Fernet
    except ImportError:  # pragma: no cover - cryptography ships with the llm extra
        raise MissingExtraError(
            "AWS credentials need the cryptography package: pip install 'tessera[llm]'"
        ) from None
    if not key_file.exists():
        if not create:
            return None
        key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(key_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            pass
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(Fernet.generate_key())
    return Fernet(key_file.read_bytes().strip())


class AwsCredentialStore:
    """AWS credentials of API keys, their secrets encrypted at rest.

    Parameters
    ----------
    path : str or Path or None, default=None
        The database; None for ``$TESSERA_HOME/tessera.db``.
    key_file : str or Path or None, default=None
        The encryption key; None for ``aws-secrets.key`` beside the database. Created
        (mode 0600) when the first credentials are issued.
    """

    def __init__(self, path: str | Path | None = None, *, key_file: str | Path | None = None):
        self._conn = _db.connect(path)
        self._lock = threading.Lock()
        self.key_file = Path(key_file) if key_file is not None else key_file_of(path)
        self._cipher: Any = None
        _db.migrate(self._conn, _COMPONENT, _MIGRATIONS)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def _key_row(self, key_id: str) -> Any:
        with self._lock:
            row = self._conn.execute(
                "SELECT id, revoked_at FROM api_keys WHERE id = ?", (key_id,)
            ).fetchone()
        if row is None:
            raise NotFoundError(
                f"key_id={key_id!r} is invalid: no such API key. List the keys with "
                "`tessera keys list`."
            )
        if row["revoked_at"] is not None:
            raise bad_value(
                "key_id",
                key_id,
                f"the key was revoked at {row['revoked_at']}",
                "Create another key with `tessera keys create NAME --scopes ...`.",
            )
        return row

    def issue(self, key_id: str) -> AwsCredentials:
        """New credentials for API key ``key_id`` (its scopes); the secret is shown only now."""
        if not isinstance(key_id, str):
            raise bad_value("key_id", key_id, "it must be a str", "Pass the id from `keys list`.")
        self._key_row(key_id)
        if self._cipher is None:
            self._cipher = _fernet(self.key_file, create=True)
        access = ACCESS_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(16))
        secret = secrets.token_urlsafe(30)  # 40 characters, as AWS's secrets
        token = self._cipher.encrypt(secret.encode("utf-8")).decode("ascii")
        with self._lock, _db.transaction(self._conn):
            self._conn.execute(
                "INSERT INTO aws_credentials (access_key_id, key_id, secret_encrypted,"
                " created_at) VALUES (?, ?, ?, ?)",
                (access, key_id, token, _db.now()),
            )
        return AwsCredentials(key_id, access, secret)

    def list(self, key_id: str | None = None) -> list[AwsCredentials]:
        """Issued credentials (without secrets), oldest first; only ``key_id``'s if given."""
        query = "SELECT access_key_id, key_id FROM aws_credentials"
        args: tuple[str, ...] = ()
        if key_id is not None:
            query, args = query + " WHERE key_id = ?", (key_id,)
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY created_at", args).fetchall()
        return [AwsCredentials(row["key_id"], row["access_key_id"]) for row in rows]

    def delete(self, access_key_id: str) -> None:
        """Delete credentials: they stop working at once (the API key keeps working)."""
        with self._lock, _db.transaction(self._conn):
            gone = self._conn.execute(
                "DELETE FROM aws_credentials WHERE access_key_id = ?", (access_key_id,)
            ).rowcount
        if not gone:
            raise NotFoundError(
                f"access_key_id={access_key_id!r} is invalid: no such credentials. "
                "`tessera keys aws-list` lists them."
            )

    def secret(self, access_key_id: str) -> tuple[str, str] | None:
        """``(key_id, secret)`` of an access key id; None when unknown or undecryptable."""
        with self._lock:
            row = self._conn.execute(
                "SELECT key_id, secret_encrypted FROM aws_credentials WHERE access_key_id = ?",
                (access_key_id,),
            ).fetchone()
        if row is None:
            return None
        if self._cipher is None:
            self._cipher = _fernet(self.key_file, create=False)
            if self._cipher is None:
                return None
        from cryptography.fernet import InvalidToken

        try:
            secret = self._cipher.decrypt(row["secret_encrypted"].encode("ascii"))
        except InvalidToken:  # another key file: these credentials cannot be checked
            return None
        return str(row["key_id"]), secret.decode("utf-8")


def issue_aws_credentials(
    key_id: str, *, path: str | Path | None = None, key_file: str | Path | None = None
) -> AwsCredentials:
    """Issue AWS credentials (access key id and secret) for an API key.

    Parameters
    ----------
    key_id : str
        The API key (``tessera keys list``); the credentials carry its scopes and stop
        working when it is revoked.
    path : str or Path or None, default=None
        The database; None for ``$TESSERA_HOME/tessera.db``.
    key_file : str or Path or None, default=None
        The file whose key encrypts the secret; None for ``aws-secrets.key`` beside the
        database (created with mode 0600).

    Returns
    -------
    AwsCredentials
        Pass ``access_key_id`` and ``secret_access_key`` to boto3; the secret is not
        shown again.
    """
    from tessera.llm.serve._keys import _audit_local

    store = AwsCredentialStore(path, key_file=key_file)
    try:
        issued = store.issue(key_id)
    finally:
        store.close()
    _audit_local("POST", f"/keys/{key_id}/aws-credentials", path)
    return issued
