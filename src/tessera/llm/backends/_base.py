"""What every model backend shares: parameters, results, message checks, stop sequences."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tessera._validation import bad_value
from tessera.llm._sampling import check_max_tokens, check_sampling, check_stop

__all__ = [
    "Backend",
    "ChatResult",
    "ChatStream",
    "GenerationParams",
    "StopCutter",
    "check_messages",
]

#: Roles a chat message may carry.
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class GenerationParams:
    """Inference parameters of one request, the same for every backend.

    The values are checked by :mod:`tessera.llm._sampling`, the one contract that the
    runtime, the HTTP service and the CLI share (OpenAI's ranges).

    Parameters
    ----------
    max_tokens : int, default=256
        Upper bound on generated tokens, >= 1.
    temperature : float, default=0.0
        In [0, 2]: 0 is greedy decoding (so is anything below 1e-5, stored as 0.0);
        above, tokens are sampled.
    top_p : float, default=1.0
        Nucleus sampling threshold, in (0, 1].
    top_k : int or None, default=None
        Sample only among the ``top_k`` (>= 1) most likely tokens.
    stop : tuple of str, default=()
        Generation ends before the first occurrence of any of these strings (at most 4,
        none empty, as in the OpenAI API).
    seed : int or None, default=None
        Seed for sampling, in [0, 2**63 - 1].
    json_schema : dict or None, default=None
        A JSON Schema the reply is decoded under (structured output): the reply parses
        and validates, unless ``max_tokens`` cuts it (finish reason ``"length"``). The
        local backend compiles it before any decoding
        (:func:`tessera.llm.compile_constraint`); an OpenAI-compatible endpoint receives
        it as ``response_format``.

    Raises
    ------
    tessera.errors.InvalidInputError
        Naming the first parameter that breaks its rule.
    """

    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    json_schema: Mapping[str, Any] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        set_field = object.__setattr__  # frozen: normalise the checked values in place
        set_field(self, "max_tokens", check_max_tokens(self.max_tokens))
        temperature, top_p, top_k, seed = check_sampling(
            temperature=self.temperature, top_p=self.top_p, top_k=self.top_k, seed=self.seed
        )
        set_field(self, "temperature", temperature)
        set_field(self, "top_p", top_p)
        set_field(self, "top_k", top_k)
        set_field(self, "seed", seed)
        set_field(self, "stop", check_stop(self.stop))
        if self.json_schema is not None and not isinstance(self.json_schema, Mapping):
            raise bad_value(
                "json_schema",
                self.json_schema,
                "it must be a JSON Schema object (a mapping)",
                'Pass a dict such as {"type": "object", "properties": {...}}.',
            )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> GenerationParams:
        """Build from a mapping (a prompt variant, a request body); unknown keys are errors."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise bad_value(
                "params",
                dict(values),
                f"unknown parameter(s) {unknown}",
                f"Use only {sorted(known)}.",
            )
        data = dict(values)
        if isinstance(data.get("stop"), list):
            data["stop"] = tuple(data["stop"])
        return cls(**data)


@dataclass(frozen=True)
class ChatResult:
    """One completed chat request.

    Attributes
    ----------
    text : str
        The reply (cut before the first stop sequence).
    model : str
        The model id that produced it.
    prompt_tokens, completion_tokens : int
        Token counts (as reported by the backend).
    finish_reason : {"stop", "length"}
        "length" when ``max_tokens`` ended the reply, else "stop".
    seconds : float
        Wall time of the request.
    """

    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class ChatStream(Iterator[str]):
    """The text pieces of one streamed reply; :attr:`result` is filled when it ends.

    Iterate it for the pieces. Once exhausted, :attr:`result` holds the whole reply as a
    :class:`ChatResult` (token counts and finish reason included), so a caller that
    streams still learns why the reply ended. :meth:`close` stops generation early.
    """

    def __init__(self, pieces: Iterator[str], finish: Callable[[str], ChatResult]) -> None:
        self._pieces = pieces
        self._finish = finish
        self._text: list[str] = []
        self.result: ChatResult | None = None

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> str:
        try:
            piece = next(self._pieces)
        except StopIteration:
            if self.result is None:
                self.result = self._finish("".join(self._text))
            raise
        self._text.append(piece)
        return piece

    def close(self) -> None:
        """Stop the generation (releases the model); :attr:`result` stays None."""
        close = getattr(self._pieces, "close", None)
        if close is not None:
            close()


def check_messages(messages: Any) -> list[dict[str, str]]:
    """Validate chat messages and return them as plain ``{"role", "content"}`` dicts."""
    if not isinstance(messages, Sequence) or isinstance(messages, str) or not messages:
        raise bad_value(
            "messages",
            messages,
            "it must be a non-empty list of {'role': ..., 'content': ...} mappings",
            "Pass [{'role': 'user', 'content': 'Hello'}].",
        )
    clean: list[dict[str, str]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise bad_value(f"messages[{i}]", message, "it must be a mapping", "Pass a dict.")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise bad_value(
                f"messages[{i}].role", role, f"it must be one of {list(ROLES)}", "Fix the role."
            )
        if not isinstance(content, str):
            raise bad_value(
                f"messages[{i}].content", content, "it must be a string", "Pass the text."
            )
        clean.append({"role": str(role), "content": content})
    return clean


class StopCutter:
    """Cut a stream of text pieces before the first stop sequence.

    Holds back the tail that could still be the start of a stop sequence, so no piece of
    a stop sequence is ever emitted. :attr:`stopped` tells whether a stop sequence ended
    the text.
    """

    def __init__(self, stop: Iterable[str]) -> None:
        self.stop = tuple(stop)
        self.stopped = False
        self._held = ""

    def feed(self, piece: str) -> str:
        """Return the part of ``piece`` that is safe to emit now."""
        if self.stopped:
            return ""
        text = self._held + piece
        if not self.stop:
            return text
        cut = min((i for i in (text.find(s) for s in self.stop) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            self._held = ""
            return text[:cut]
        keep = 0
        for s in self.stop:
            for n in range(min(len(s) - 1, len(text)), 0, -1):
                if text.endswith(s[:n]):
                    keep = max(keep, n)
                    break
        self._held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep]

    def flush(self) -> str:
        """What is still held back when the stream ends without a stop sequence."""
        held, self._held = ("" if self.stopped else self._held), ""
        return held


class Backend(ABC):
    """A model that answers chat messages: the local runtime or an HTTP endpoint.

    Attributes
    ----------
    model_id : str
        The id it was obtained with (``get_backend(model_id)``).
    max_concurrency : int
        How many requests the backend serves at once; callers that admit requests (the
        HTTP service) queue the others in arrival order.
    """

    model_id: str
    max_concurrency: int = 1

    @abstractmethod
    def chat(self, messages: Sequence[Mapping[str, str]], params: GenerationParams) -> ChatResult:
        """Answer ``messages``; return the whole reply."""

    @abstractmethod
    def stream(self, messages: Sequence[Mapping[str, str]], params: GenerationParams) -> ChatStream:
        """Answer ``messages``; yield text pieces as they are generated.

        The returned :class:`ChatStream` holds the whole :class:`ChatResult` in
        ``.result`` once exhausted.
        """
