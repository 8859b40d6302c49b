"""The local backend: tessera's own runtime (:func:`tessera.llm.load`), in this process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from tessera._validation import check_positive_int
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

    The model loads on first use, once per backend. Concurrent requests (from several
    threads) decode together: on a batch-invariant model
    (:func:`tessera.llm.make_batch_invariant`, the default of :func:`tessera.llm.load`) each
    generation's forward passes join the others' in shared passes of the model
    (:class:`~tessera.llm._batching.ForwardBatcher`), and every answer is bit for bit the
    answer it gets alone. Other models decode one request at a time.

    Parameters
    ----------
    model_id : str
        The id this backend answers to (``"tessera"`` or ``"tessera:<model>"``).
    model : str or None
        What :func:`tessera.llm.load` gets: None for the embedded default model, a model
        folder or a ``.gguf`` file.
    max_batch : int, default=8
        How many requests may decode at once (:attr:`max_concurrency`); callers that
        admit requests (the HTTP service) queue the rest in arrival order.
    """

    def __init__(self, model_id: str, model: str | None, *, max_batch: int = 8) -> None:
        self.model_id = model_id
        self.model = model
        self.max_concurrency = check_positive_int("max_batch", max_batch)
        self._runtime: Any = None
        self._batcher: Any = None
        self._load_lock = threading.Lock()
        self._serial = threading.RLock()

    @property
    def runtime(self) -> Any:
        """The loaded :class:`tessera.llm.Runtime` (loads it on first access)."""
        with self._load_lock:
            if self._runtime is None:
                from tessera.llm import load
                from tessera.llm._attention import precompile
                from tessera.llm._batching import ForwardBatcher
                from tessera.llm._invariant import is_batch_invariant
                from tessera.llm._step import lean_model

                runtime = load(self.model)
                if is_batch_invariant(runtime.model):
                    self._batcher = ForwardBatcher(runtime.model)
                if lean_model(runtime.model) is not None:
                    # load the compiled attention now, not in the first request's steps
                    precompile()
                self._runtime = runtime
            return self._runtime

    @contextmanager
    def _decoding(self) -> Iterator[None]:
        """Decode in this thread beside the other requests (or alone, in turn)."""
        if self._batcher is not None:
            with self._batcher.session():
                yield
        else:
            with self._serial:
                yield

    def _steps(
        self,
        messages: list[dict[str, str]],
        params: GenerationParams,
        counts: dict[str, int],
        constraint: Any = None,
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
            constraint=constraint,
        )

        def counted() -> Iterator[list[int]]:
            for step in steps:
                counts["completion_tokens"] += len(step)
                counts["prompt_tokens"] = stats.prompt_tokens
                yield step

        cutter = StopCutter(params.stop)
        with self._decoding():
            for piece in runtime.text_pieces(counted()):
                safe = cutter.feed(piece)
                if safe:
                    yield safe
                if cutter.stopped:
                    counts["stopped"] = 1
                    return
        if getattr(stats, "finish_reason", "") == "stop":  # EOS, or the constraint's match
            counts["stopped"] = 1
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
        # A constraint is compiled here, so that a schema it cannot enforce fails now.
        constraint = None
        if params.json_schema is not None:
            constraint = runtime.constraint(json_schema=dict(params.json_schema))
        counts = {"prompt_tokens": prompt_tokens, "completion_tokens": 0, "stopped": 0}
        return self._steps(clean, params, counts, constraint), counts

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
        pieces, counts = self._generate(messages, params)
        text = "".join(pieces)
        return self._result(text, counts, params, start)

    def stream(self, messages: Sequence[Mapping[str, str]], params: GenerationParams) -> ChatStream:
        """Yield text pieces as the local model produces them; see :class:`Backend`."""
        start = time.perf_counter()
        # Validate now (not at the first next()), so bad input fails where it is passed.
        pieces, counts = self._generate(messages, params)
        return ChatStream(pieces, lambda text: self._result(text, counts, params, start))
