"""The tessera HTTP service: OpenAI-compatible chat completions, prompts and flows, with keys.

Start it with ``tessera serve`` (or :func:`create_app` under any ASGI server). Every route
but ``/openapi.json`` and ``/healthz`` needs ``Authorization: Bearer <key>``, a key made
by :func:`create_key` (``tessera keys create``) whose scopes allow the route:

=================  ==========================================================
scope              allows
=================  ==========================================================
``models:invoke``  ``GET /v1/models``, ``POST /v1/chat/completions``
``prompts:read``   reading prompts, versions, labels, diffs; rendering
``prompts:write``  creating, editing, committing, labelling, deleting prompts
``flows:read``     reading flows, versions and run traces; validating
``flows:write``    saving, committing, labelling, deleting flows
``flows:invoke``   running flows (stored or inline), with streamed events
``guardrails:*``   ``read``/``write`` guardrails; ``apply`` them (``/apply``, chat)
``admin``          everything, and the keys and audit-log routes
=================  ==========================================================

``<area>:write`` includes ``<area>:read``. Needs the ``llm`` extra (fastapi, uvicorn,
argon2-cffi); importing this package does not import torch.
"""

from __future__ import annotations

from tessera.llm.serve._app import DEFAULT_MAX_BODY_BYTES, create_app
from tessera.llm.serve._audit import AuditEntry, AuditLog
from tessera.llm.serve._keys import (
    SCOPES,
    AuthenticationError,
    KeyRecord,
    KeyStore,
    authenticate,
    create_key,
    list_keys,
    parse_scopes,
    revoke_key,
)
from tessera.llm.serve._ratelimit import RateLimit, RateLimiter
from tessera.llm.serve._server import RunningServer, check_host, is_loopback, serve, start_server

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "SCOPES",
    "AuditEntry",
    "AuditLog",
    "AuthenticationError",
    "KeyRecord",
    "KeyStore",
    "RateLimit",
    "RateLimiter",
    "RunningServer",
    "authenticate",
    "check_host",
    "create_app",
    "create_key",
    "is_loopback",
    "list_keys",
    "parse_scopes",
    "revoke_key",
    "serve",
    "start_server",
]
