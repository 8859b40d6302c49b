"""AWS Signature Version 4, verified on the server (what boto3 and the AWS CLI send).

A signed request carries::

    Authorization: AWS4-HMAC-SHA256
        Credential=<access key id>/<yyyymmdd>/<region>/<service>/aws4_request,
        SignedHeaders=host;x-amz-date, Signature=<64 hex digits>
    X-Amz-Date: 20261206T120000Z

or, presigned (botocore's ``generate_presigned_url``), the same in the query string:
``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``, ``X-Amz-Expires`` (seconds,
at most 7 days), ``X-Amz-SignedHeaders`` and ``X-Amz-Signature`` (the canonical query
is every parameter but the signature). A presigned request is refused once its date
plus its lifetime has passed, however often it was used before.

The server rebuilds the canonical request from what it received (method, the path as
sent, the query string, the signed headers, the SHA-256 of the body), derives the signing
key from the secret it holds, and compares signatures in constant time. The functions here
are pure: :mod:`tessera.llm.serve._aws_credentials` holds the secrets and
:mod:`tessera.llm.serve._bedrock_auth` applies this to a request.

References: AWS's "Create a signed AWS API request" (Signature Version 4); the canonical
forms below follow botocore's ``SigV4Auth`` (paths normalised, then percent-encoded again
keeping ``/`` and ``~``; query pairs encoded with ``-_.~`` kept, sorted; header values
trimmed with inner runs of spaces collapsed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote

__all__ = [
    "ALGORITHM",
    "MAX_CLOCK_SKEW",
    "SignatureError",
    "SignedRequest",
    "canonical_request",
    "parse_authorization",
    "parse_presigned",
    "presigned_time",
    "Presigned",
    "request_time",
    "sign",
    "signature_of",
    "signing_key",
]

ALGORITHM = "AWS4-HMAC-SHA256"
#: A request dated further than this from the server's clock is refused (AWS: 15 minutes).
MAX_CLOCK_SKEW = dt.timedelta(minutes=15)
#: The longest lifetime a presigned URL may ask for (AWS: 7 days).
MAX_EXPIRES = 604_800
_PRESIGN_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)

_CREDENTIAL = re.compile(
    r"^(?P<access>[A-Za-z0-9]{4,128})/(?P<date>\d{8})/(?P<region>[a-z0-9-]{1,32})/"
    r"(?P<service>[a-z0-9-]{1,64})/aws4_request$"
)
_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")
_HEADER_NAME = re.compile(r"^[a-z0-9!#$%&'*+.^_`|~-]{1,128}$")
_TIMESTAMP = "%Y%m%dT%H%M%SZ"


class SignatureError(Exception):
    """A signature that cannot be accepted.

    Attributes
    ----------
    code : str
        AWS's error code for the case: ``IncompleteSignatureException`` (a malformed
        header), ``InvalidSignatureException`` (a wrong signature, an expired or future
        date) or ``UnrecognizedClientException`` (an unknown access key id).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class SignedRequest:
    """The parts of a SigV4 ``Authorization`` header.

    Attributes
    ----------
    access_key_id, date, region, service : str
        The credential scope (``date`` is ``yyyymmdd``).
    signed_headers : tuple of str
        Lower-case header names, in the order sent (sorted by the signer).
    signature : str
        64 hexadecimal digits.
    """

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> str:
        """``yyyymmdd/region/service/aws4_request``."""
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


def _incomplete(message: str) -> SignatureError:
    return SignatureError(
        "IncompleteSignatureException",
        f"{message}. Sign the request with SigV4 (boto3 does: pass aws_access_key_id and "
        "aws_secret_access_key from `tessera keys aws KEY_ID`).",
    )


def parse_authorization(header: str) -> SignedRequest:
    """Parse ``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``.

    Raises
    ------
    SignatureError
        ``IncompleteSignatureException`` naming what is missing or malformed.
    """
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _incomplete(
            f"the Authorization header's algorithm is {algorithm[:30]!r}, not {ALGORITHM!r}"
        )
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            fields[name.strip()] = value.strip()
    missing = [n for n in ("Credential", "SignedHeaders", "Signature") if n not in fields]
    if missing:
        raise _incomplete(f"the Authorization header lacks {', '.join(missing)}")
    credential = _CREDENTIAL.match(fields["Credential"])
    if credential is None:
        raise _incomplete(
            "Credential is malformed: it reads <access key id>/<yyyymmdd>/<region>/<service>"
            "/aws4_request"
        )
    if not _SIGNATURE.match(fields["Signature"]):
        raise _incomplete("Signature must be 64 lower-case hexadecimal digits")
    headers = tuple(fields["SignedHeaders"].split(";"))
    if not all(_HEADER_NAME.match(h) for h in headers) or len(headers) > 64:
        raise _incomplete("SignedHeaders must be lower-case header names separated by ';'")
    if "host" not in headers:
        raise _incomplete("SignedHeaders must include host")
    return SignedRequest(
        access_key_id=credential["access"],
        date=credential["date"],
        region=credential["region"],
        service=credential["service"],
        signed_headers=headers,
        signature=fields["Signature"],
    )


@dataclass(frozen=True)
class Presigned:
    """A presigned request's parts (see :func:`parse_presigned`).

    Attributes
    ----------
    signed : SignedRequest
        The credential scope, signed headers and signature, as from a header.
    amz_date : str
        ``X-Amz-Date``.
    expires : int
        ``X-Amz-Expires``, in seconds.
    unsigned_query : str
        The query string as sent, without ``X-Amz-Signature`` (what was signed).
    """

    signed: SignedRequest
    amz_date: str
    expires: int
    unsigned_query: str


def parse_presigned(raw_query: str) -> Presigned:
    """Parse the ``X-Amz-*`` parameters of a presigned request's query string.

    Raises
    ------
    SignatureError
        ``IncompleteSignatureException`` naming the parameter missing or malformed.
    """
    found: dict[str, str] = {}
    kept: list[str] = []
    for part in raw_query.split("&") if raw_query else []:
        key, _, value = part.partition("=")
        name = unquote(key)
        if name in found and name in _PRESIGN_PARAMS:
            raise _incomplete(f"the query string holds {name} twice")
        if name in _PRESIGN_PARAMS:
            found[name] = unquote(value)
        if name != "X-Amz-Signature":
            kept.append(part)
    missing = [n for n in _PRESIGN_PARAMS if n not in found]
    if missing:
        raise _incomplete(f"the presigned URL lacks {', '.join(missing)}")
    if found["X-Amz-Algorithm"] != ALGORITHM:
        raise _incomplete(f"X-Amz-Algorithm={found['X-Amz-Algorithm'][:30]!r} is not {ALGORITHM!r}")
    expires = found["X-Amz-Expires"]
    if not (expires.isascii() and expires.isdigit() and 1 <= int(expires[:7]) <= MAX_EXPIRES):
        raise _incomplete(
            f"X-Amz-Expires={expires[:20]!r} must be a whole number of seconds from 1 to "
            f"{MAX_EXPIRES} (7 days)"
        )
    header = (
        f"{ALGORITHM} Credential={found['X-Amz-Credential']}, "
        f"SignedHeaders={found['X-Amz-SignedHeaders']}, Signature={found['X-Amz-Signature']}"
    )
    return Presigned(parse_authorization(header), found["X-Amz-Date"], int(expires), "&".join(kept))


def _scoped_date(amz_date: str, signed: SignedRequest) -> dt.datetime:
    """``X-Amz-Date`` parsed, and checked to be the credential scope's date."""
    try:
        when = dt.datetime.strptime(amz_date, _TIMESTAMP).replace(tzinfo=dt.UTC)
    except ValueError:
        raise _incomplete(f"X-Amz-Date={amz_date[:20]!r} is not yyyymmddThhmmssZ") from None
    if amz_date[:8] != signed.date:
        raise SignatureError(
            "InvalidSignatureException",
            f"the credential scope's date {signed.date} is not the date of X-Amz-Date "
            f"{amz_date}. Sign with the request's own date.",
        )
    return when


def presigned_time(presigned: Presigned, now: dt.datetime) -> dt.datetime:
    """A presigned request's date, checked: not past its lifetime, not in the future.

    Raises
    ------
    SignatureError
        As :func:`request_time` for the date; ``InvalidSignatureException`` ("Request has
        expired") once ``X-Amz-Date`` plus ``X-Amz-Expires`` has passed.
    """
    amz_date = presigned.amz_date
    if not amz_date:
        raise _incomplete("X-Amz-Date is empty")
    when = _scoped_date(amz_date, presigned.signed)
    until = when + dt.timedelta(seconds=presigned.expires)
    if now > until:
        raise SignatureError(
            "InvalidSignatureException",
            f"Request has expired: the presigned URL was valid until "
            f"{until.strftime(_TIMESTAMP)} ({presigned.expires} s from {amz_date}); the "
            f"server's time is {now.strftime(_TIMESTAMP)}. Presign it again.",
        )
    if when - now > MAX_CLOCK_SKEW:
        raise SignatureError(
            "InvalidSignatureException",
            f"X-Amz-Date {amz_date} is more than 15 minutes after the server's time "
            f"{now.strftime(_TIMESTAMP)}. Check the client's clock and presign again.",
        )
    return when


def request_time(amz_date: str | None, signed: SignedRequest, now: dt.datetime) -> dt.datetime:
    """The request's ``X-Amz-Date``, checked against the credential scope and the clock.

    Raises
    ------
    SignatureError
        A missing or malformed date (``IncompleteSignatureException``), a date that is not
        the scope's, or one more than :data:`MAX_CLOCK_SKEW` from ``now``
        (``InvalidSignatureException``, as AWS's "Signature expired").
    """
    if not amz_date:
        raise _incomplete("the request has no X-Amz-Date header")
    when = _scoped_date(amz_date, signed)
    if abs(now - when) > MAX_CLOCK_SKEW:
        raise SignatureError(
            "InvalidSignatureException",
            f"Signature expired: {amz_date} is more than 15 minutes from the server's time "
            f"{now.strftime(_TIMESTAMP)}. Sign the request again (check the client's clock).",
        )
    return when


def _canonical_path(raw_path: str) -> str:
    # botocore: quote(normalize_url_path(path), safe="/~") on the path as sent, where
    # normalising removes dot segments and empty ones (RFC 3986 5.2.4, plus "//").
    if not raw_path:
        return "/"
    kept: list[str] = []
    for segment in raw_path.split("/"):
        if segment == "..":
            if kept:
                kept.pop()
        elif segment and segment != ".":
            kept.append(segment)
    first = "/" if raw_path.startswith("/") else ""
    last = "/" if raw_path.endswith("/") and kept else ""
    return quote(first + "/".join(kept) + last, safe="/~")


def _canonical_query(raw_query: str) -> str:
    pairs = []
    for part in raw_query.split("&") if raw_query else []:
        key, _, value = part.partition("=")
        pairs.append((quote(unquote(key), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonical_request(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, Sequence[str]],
    signed_headers: Sequence[str],
    payload_sha256: str,
) -> str:
    """The canonical request SigV4 signs.

    Parameters
    ----------
    method : str
        The HTTP method.
    raw_path, raw_query : str
        The path and query string exactly as sent (still percent-encoded).
    headers : mapping of str to sequence of str
        Every value received for each lower-case header name.
    signed_headers : sequence of str
        The names the signer listed.
    payload_sha256 : str
        The SHA-256 of the body, in hex.
    """
    lines = []
    for name in sorted(set(signed_headers)):
        values = headers.get(name, ())
        lines.append(f"{name}:" + ",".join(" ".join(v.split()) for v in values))
    return "\n".join(
        [
            method.upper(),
            _canonical_path(raw_path),
            _canonical_query(raw_query),
            "\n".join(lines) + "\n",
            ";".join(sorted(set(signed_headers))),
            payload_sha256,
        ]
    )


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The key derived from a secret for one day, region and service."""
    k_date = _hmac(f"AWS4{secret}".encode(), date)
    return _hmac(_hmac(_hmac(k_date, region), service), "aws4_request")


def signature_of(secret: str, signed: SignedRequest, amz_date: str, canonical: str) -> str:
    """The signature a holder of ``secret`` computes for ``canonical``."""
    to_sign = "\n".join(
        [ALGORITHM, amz_date, signed.scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = signing_key(secret, signed.date, signed.region, signed.service)
    return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def sign(
    secret: str,
    access_key_id: str,
    *,
    method: str,
    path: str,
    query: str = "",
    headers: Mapping[str, str],
    body: bytes = b"",
    region: str = "us-east-1",
    service: str = "bedrock",
) -> str:
    """An ``Authorization`` header for a request (for tests and clients without botocore).

    ``headers`` must hold ``host`` and ``x-amz-date`` (lower-case names); every header
    given is signed.
    """
    amz_date = headers["x-amz-date"]
    names = tuple(sorted(headers))
    signed = SignedRequest(access_key_id, amz_date[:8], region, service, names, "0" * 64)
    canonical = canonical_request(
        method,
        path,
        query,
        {k: [v] for k, v in headers.items()},
        names,
        hashlib.sha256(body).hexdigest(),
    )
    signature = signature_of(secret, signed, amz_date, canonical)
    return (
        f"{ALGORITHM} Credential={access_key_id}/{signed.scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
