"""``/v1/guardrails``: the guardrail registry, the standalone apply, and guarded chat completions.

Besides the versioned-store routes (:mod:`._store_routes`; every body is validated as a
:class:`~tessera.llm.guard.GuardrailConfig` and stored in its normal form),
``POST /v1/guardrails/apply`` runs a stored or inline guardrail over one text, as Amazon
Bedrock's ApplyGuardrail. :func:`guarded_completion` answers ``POST /v1/chat/completions``
requests that carry the tessera extension field ``guardrail`` (as Bedrock's Converse with
``guardrailConfig``): the last user message is checked before the model is called (a
blocked one is answered with the guardrail's blocked-input message and the model is not
called; an anonymised one is sent masked) and the answer after it (masked, or replaced by
the blocked-output message, ``finish_reason: "content_filter"``).

Scopes: ``guardrails:read`` and ``guardrails:write`` for the registry,
``guardrails:apply`` to apply one (an inline configuration also needs
``guardrails:write``: its regular expressions run on the server unreviewed), and a
guarded chat completion needs ``models:invoke`` and ``guardrails:apply``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from tessera.llm._versioned import Draft, Version, VersionedStore
from tessera.llm.serve._http import ApiError, ServiceState, require, service
from tessera.llm.serve._keys import KeyRecord
from tessera.llm.serve._store_routes import add_store_routes

__all__ = [
    "ApplyBody",
    "ChatGuardrail",
    "GuardrailStore",
    "guarded_completion",
    "open_guardrails",
    "router",
]

router = APIRouter(prefix="/v1/guardrails", tags=["guardrails"])
ApplyKey = Annotated[KeyRecord, require("guardrails:apply")]


class GuardrailStore(VersionedStore):
    """Guardrail configurations (a :class:`VersionedStore` of kind ``"guardrail"``), every
    body validated on the way in and stored in its normal form."""

    def __init__(self, db: str | Path | None = None) -> None:
        super().__init__("guardrail", db)

    def create(
        self,
        name: str,
        body: dict[str, Any],
        *,
        description: str = "",
        tags: Sequence[str] = (),
    ) -> Draft:
        """Create a guardrail whose draft is ``body`` (validated; no version yet)."""
        return super().create(name, _normal(body), description=description, tags=tags)

    def update_draft(
        self, name: str, body: dict[str, Any], *, base_revision: int | None = None
    ) -> Draft:
        """Replace the draft (validated); versions are untouched (``base_revision``: see
        :meth:`VersionedStore.update_draft`)."""
        return super().update_draft(name, _normal(body), base_revision=base_revision)

    def config(self, ref: str) -> tuple[Any, int | None]:
        """The configuration ``ref`` names, and its version number (None for the draft)."""
        from tessera.llm.guard import GuardrailConfig

        found = self.resolve(ref)
        number = found.number if isinstance(found, Version) else None
        return GuardrailConfig.from_mapping(found.body), number


def _normal(body: Mapping[str, Any]) -> dict[str, Any]:
    from tessera.llm.guard import GuardrailConfig

    normal: dict[str, Any] = GuardrailConfig.from_mapping(body).to_mapping()
    return normal


def open_guardrails(state: ServiceState) -> GuardrailStore:
    """The service's guardrail store (made once, in the service's database)."""
    found = state.extras.get("guardrails")
    if found is None:
        found = state.extras.setdefault("guardrails", GuardrailStore(state.db_path))
    assert isinstance(found, GuardrailStore)
    return found


class ApplyBody(BaseModel):
    """``POST /v1/guardrails/apply``: which guardrail, the text, its side, grounding inputs."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    guardrail: str | dict[str, Any] = Field(
        description="A reference (NAME, NAME@3, NAME@label, NAME@draft) or an inline configuration."
    )
    text: str
    source: Literal["input", "output"] = "input"
    grounding_source: str | None = Field(None, alias="groundingSource")
    query: str | None = None


async def _resolve(
    state: ServiceState, key: KeyRecord, guardrail: str | dict[str, Any]
) -> tuple[Any, str, int | None]:
    """The configuration, how answers name it (the ref or "inline"), its version."""
    if isinstance(guardrail, str):
        config, number = await run_in_threadpool(open_guardrails(state).config, guardrail)
        return config, guardrail, number
    if not key.allows("guardrails:write"):
        raise ApiError(
            403,
            f"key {key.id} may apply stored guardrails only: an inline configuration also "
            "needs 'guardrails:write' (its regular expressions run unreviewed). Store it "
            "(POST /v1/guardrails) and apply it by name.",
            param="guardrail",
        )
    from tessera.llm.guard import GuardrailConfig

    return GuardrailConfig.from_mapping(guardrail), "inline", None


@router.post("/apply", summary="Apply a guardrail to one text (Bedrock's ApplyGuardrail)")
async def apply(body: ApplyBody, request: Request, key: ApplyKey) -> dict[str, Any]:
    """Scope ``guardrails:apply`` (an inline configuration also needs ``guardrails:write``).

    Answers ``{guardrail, version, action, text, source, assessments}``: ``action`` is
    ``"INTERVENED"`` when the text was blocked or anonymised, ``text`` the text to use.
    """
    from tessera.llm.guard import apply_guardrail

    config, name, number = await _resolve(service(request), key, body.guardrail)
    result = await run_in_threadpool(
        apply_guardrail,
        config,
        body.text,
        source=body.source,
        grounding_source=body.grounding_source,
        query=body.query,
    )
    return {"guardrail": name, "version": number, **result.to_dict()}


add_store_routes(router, open_guardrails, "guardrails:read", "guardrails:write")


class ChatGuardrail(BaseModel):
    """The ``guardrail`` extension of a chat completion request (object form).

    ``"guardrail": "support-bot@production"`` is short for ``{"ref": ...}``.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    ref: str = Field(description="A stored guardrail: NAME, NAME@3, NAME@label.")
    trace: bool = Field(False, description="Return the assessments of both checks.")
    grounding_source: str | None = Field(
        None,
        alias="groundingSource",
        description="The reference text the answer must be grounded in.",
    )


async def guarded_completion(
    state: ServiceState,
    request_body: Any,
    key: KeyRecord,
    model: str,
    params: Any,
    messages: list[dict[str, str]],
    *,
    enforced: bool = False,
) -> Any:
    """Answer a chat completion request that names a guardrail (see the module notes)."""
    from tessera.llm.backends import get_backend
    from tessera.llm.guard import apply_guardrail

    if not enforced and not key.allows("guardrails:apply"):
        raise ApiError(
            403,
            f"key {key.id} may invoke models but not apply guardrails: a request with "
            "'guardrail' also needs 'guardrails:apply'.",
            param="guardrail",
        )
    option = request_body.guardrail
    if isinstance(option, str):
        option = ChatGuardrail.model_validate({"ref": option})
    config, name, number = await _resolve(state, key, option.ref)
    grounding = config.grounding
    if grounding is not None and grounding.grounding_threshold is not None:
        if option.grounding_source is None:
            raise ApiError(
                400,
                f"guardrail {name!r} checks that answers are grounded, but the request sends "
                "no reference text: pass guardrail.groundingSource, or use a guardrail "
                "whose grounding.grounding_threshold is null.",
                param="guardrail.groundingSource",
            )
    last = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=None)
    if grounding is not None and grounding.relevance_threshold is not None and last is None:
        raise ApiError(
            400,
            f"guardrail {name!r} checks that answers are relevant to the user's question, "
            "but the request has no user message: add one, or use a guardrail whose "
            "grounding.relevance_threshold is null.",
            param="messages",
        )
    checked = None
    if last is not None:
        checked = await run_in_threadpool(
            apply_guardrail, config, messages[last]["content"], source="input"
        )
        messages = list(messages)
        messages[last] = {**messages[last], "content": checked.text}
    answered = None
    if checked is not None and checked.blocked:
        text, finish, usage = checked.text, "content_filter", (0, 0)  # the model is not called
    else:
        backend = get_backend(model)
        async with state.model_lock(model):
            reply = await run_in_threadpool(backend.chat, messages, params)
        answered = await run_in_threadpool(
            apply_guardrail,
            config,
            reply.text,
            source="output",
            grounding_source=option.grounding_source,
            query=messages[last]["content"] if last is not None else None,
        )
        finish = "content_filter" if answered.blocked else reply.finish_reason
        text, usage = answered.text, (reply.prompt_tokens, reply.completion_tokens)
    summary = _summary(name, number, checked, answered, trace=option.trace)
    answer = _Answer(model, text, finish, usage, summary)
    if request_body.stream:
        options = request_body.stream_options
        include_usage = bool(options and options.include_usage)
        return StreamingResponse(
            answer.chunks(include_usage),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )
    return answer.completion()


async def enforced_completion(
    state: ServiceState,
    request_body: Any,
    key: KeyRecord,
    model: str,
    params: Any,
    messages: list[dict[str, str]],
) -> Any:
    """Answer a chat completion on a server that enforces ``state.guardrail``.

    Every key's requests are checked, with no ``guardrails:apply`` scope needed; a request
    may repeat the enforced guardrail (to ask for ``trace``) but not name another.
    """
    enforced = state.guardrail
    option = request_body.guardrail
    if option is None:
        option = ChatGuardrail.model_validate({"ref": enforced})
    elif isinstance(option, str):
        option = ChatGuardrail.model_validate({"ref": option})
    if option.ref != enforced:
        raise ApiError(
            400,
            f"this server checks every chat completion with guardrail {enforced!r}; the "
            f"request names {option.ref!r}. Leave 'guardrail' out, or name {enforced!r}.",
            param="guardrail",
        )
    body = request_body.model_copy(update={"guardrail": option})
    return await guarded_completion(state, body, key, model, params, messages, enforced=True)


def _summary(
    name: str, number: int | None, checked: Any, answered: Any, *, trace: bool
) -> dict[str, Any]:
    """The ``guardrail`` field of the answer: what each side decided (and why, on trace)."""
    sides = {"input": checked, "output": answered}
    intervened = any(r is not None and r.action == "INTERVENED" for r in sides.values())
    summary: dict[str, Any] = {
        "ref": name,
        "version": number,
        "action": "INTERVENED" if intervened else "NONE",
        **{f"{side}_action": r.action if r is not None else None for side, r in sides.items()},
    }
    if trace:
        summary["trace"] = {side: r.to_dict() if r else None for side, r in sides.items()}
    return summary


class _Answer:
    """A guarded answer, as an OpenAI ``chat.completion`` or as its stream of chunks."""

    def __init__(
        self,
        model: str,
        text: str,
        finish: str,
        usage: tuple[int, int],
        summary: dict[str, Any],
    ) -> None:
        self.model, self.text, self.finish, self.summary = model, text, finish, summary
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        prompt, completion = usage
        self.usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def completion(self) -> dict[str, Any]:
        message = {"role": "assistant", "content": self.text}
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish}],
            "usage": self.usage,
            "guardrail": self.summary,
        }

    async def chunks(self, include_usage: bool) -> AsyncIterator[bytes]:
        """The whole checked answer in one content chunk (it is checked before it is sent)."""
        from tessera.llm.serve._chat import _event

        def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
            head = {"id": self.id, "object": "chat.completion.chunk", "created": self.created}
            return _event({**head, "model": self.model, "choices": choices, **extra})

        def delta(content: dict[str, str], finish: str | None = None) -> dict[str, Any]:
            return {"index": 0, "delta": content, "finish_reason": finish}

        yield chunk([delta({"role": "assistant", "content": ""})])
        if self.text:
            yield chunk([delta({"content": self.text})])
        yield chunk([delta({}, self.finish)], guardrail=self.summary)
        if include_usage:
            yield chunk([], usage=self.usage)
        yield _event("[DONE]")
