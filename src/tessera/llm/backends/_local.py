"""The local backend: tessera's own runtime (:func:`tessera.llm.load`), in this process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from tessera.llm.backends._base import (
    Backend,
    ChatResult,
    ChatStream,
    GenerationParams,
    StopCutter,
    check_messages,
)

__all__ = ["LocalBackend"]


class LocalBackend(Backend):
    """Generate with a model loaded in this process (Medusa heads used when present).

    The model loads on first use, once per backend. Calls are serialised by a lock: a
    model holds one KV cache per generation and the CPU is the bottleneck anyway.

    Parameters
    ----------
    model_id : str
        The id this backend answers to (``"tessera"`` or ``"tessera:<model>"``).
    model : str or None
        What :func:`tessera.llm.load` gets: None for the embedded default model, a model
        folder or a ``.gguf`` file.
    """

    def __init__(self, model_id: str, model: str | None) -> None:
        self.model_id = model_id
        self.model = model
        self._runtime: Any = None
        self._lock = threading.RLock()

    @property
    def runtime(self) -> Any:
        """The loaded :class:`tessera.llm.Runtime` (loads it on first access)."""
        with self._lock:
            if self._runtime is None:
                from tessera.llm import load

                self._runtime = load(self.model)
            return self._runtime

    def _steps(
        self, messages: list[dict[str, str]], params: GenerationParams, counts: dict[str, int]
    ) -> Iterator[str]:
        from tessera.llm.medusa._decode import DecodeStats

        runtime = self.runtime
        stats = DecodeStats()
        steps = runtime.token_stream(
            messages,
            max_new_tokens=params.max_tokens,
            temperature=float(params.temperature),
            top_p=float(params.top_p),
            top_k=params.top_k,
            seed=params.seed,
            stats=stats,
        )

        def counted() -> Iterator[list[int]]:
            for step in steps:
                counts["completion_tokens"] += len(step)
                counts["prompt_tokens"] = stats.prompt_tokens
                yield step

        cutter = StopCutter(params.stop)
        for piece in runtime.text_pieces(counted()):
            safe = cutter.feed(piece)
            if safe:
                yield safe
            if cutter.stopped:
                counts["stopped"] = 1
                return
        tail = cutter.flush()
        if tail:
            yield tail

    def _generate(
        self, messages: Sequence[Mapping[str, str]], params: GenerationParams
    ) -> tuple[Iterator[str], dict[str, int]]:
        clean = check_messages(messages)
        runtime = self.runtime
        # Checked up front, naming this API's arguments (the runtime's are max_new_tokens).
        prompt_tokens = len(runtime.encode(clean))
        runtime._check_lengths(
            prompt_tokens, params.max_tokens, prompt_name="messages", budget_name="max_tokens"
        )
        counts = {"prompt_tokens": prompt_tokens, "completion_tokens": 0, "stopped": 0}
        return self._steps(clean, params, counts), counts

    def _result(
        self, text: str, counts: dict[str, int], params: GenerationParams, start: float
    ) -> ChatResult:
        length = not counts["stopped"] and counts["completion_tokens"] >= params.max_tokens
        return ChatResult(
            text=text,
            model=self.model_id,
            prompt_tokens=counts["prompt_tokens"],
            completion_tokens=counts["completion_tokens"],
            finish_reason="length" if length else "stop",
            seconds=time.perf_counter() - start,
        )

    def chat(self, messages: Sequence[Mapping[str, str]], params: GenerationParams) -> ChatResult:
        """Answer ``messages`` with the local model; see :class:`Backend`."""
        start = time.perf_counter()
        with self._lock:
            pieces, counts = self._generate(messages, params)
            text = "".join(pieces)
        return self._result(text, counts, params, start)

    def stream(self, messages: Sequence[Mapping[str, str]], params: GenerationParams) -> ChatStream:
        """Yield text pieces as the local model produces them; see :class:`Backend`."""
        start = time.perf_counter()
        # Validate now (not at the first next()), so bad input fails where it is passed.
        pieces, counts = self._generate(messages, params)

        def locked() -> Iterator[str]:
            with self._lock:
                yield from pieces

        return ChatStream(locked(), lambda text: self._result(text, counts, params, start))
