"""Batched decoding: the forward passes of concurrent generations run together.

Each generation keeps its own decoding loop (plain or Medusa, in its own thread) and its
own K/V cache. When the loop asks for a forward pass inside :meth:`ForwardBatcher.session`,
the pass is handed to the batcher's engine thread, which waits (briefly) until every
active generation has asked for its next pass and then runs them all as **one** pass of
the model: the tokens of every generation are packed into one sequence, so each weight
matrix is read once for all of them. Attention is the only part that mixes tokens, and
the packed pass runs it per generation, on that generation's own cache and mask. Passes
of decoding size go through the lean pass (:meth:`tessera.llm._step.LeanLlama.forward_segments`)
where it covers the model, others through transformers' forward with a packed attention.

A generation whose next tokens need no decision of its own (plain decoding without a
grammar, or greedy Medusa beside many others, which verifies its root alone) hands its
loop to the engine with :meth:`ForwardBatcher.follow`: after each round the engine
chooses that generation's next token from its logits (the generation's own sampling and
random generator) and queues its next pass at once, so a round never waits for threads
that are busy streaming text (or waiting for the interpreter lock) to come back with a
token the engine could choose itself. The generation reads its tokens from a queue; the
engine runs at most :data:`FOLLOW_AHEAD` tokens ahead of a reader that falls behind and
stops decoding for one that goes away.

Because the kernels are batch-invariant (:mod:`tessera.llm._invariant`: a row's product
does not depend on the other rows, and the attention of a generation sees exactly what it
sees alone), every generation's logits are bit for bit those it gets decoding alone, and
so is its output. Neither llama.cpp's server nor vLLM promise that for batched requests.

The packed pass needs a decoder whose layers go through transformers' attention interface
with the usual ``(hidden, position_embeddings, attention_mask, cache)`` calls (Llama,
SmolLM, Mistral without sliding windows, Qwen2 without sliding windows); for other models
the engine runs the queued passes one after another, which still serves concurrent
requests fairly, one model pass at a time.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tessera.llm._invariant import INVARIANT_MAX_QUERIES, several_generations
from tessera.llm._torch import require

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["FOLLOW_AHEAD", "Followed", "ForwardBatcher", "current_batcher", "packed_attention"]

#: Models whose decoder the packed pass is known to reproduce exactly (checked by tests).
PACKABLE_DECODERS = frozenset({"LlamaModel"})

#: The keyword that carries a packed pass into the attention function.
PACKED_KWARG = "tessera_packed"
#: Tokens the engine may decode for a followed generation (:meth:`ForwardBatcher.follow`)
#: that its reader has not taken yet; beyond, it waits for the reader.
FOLLOW_AHEAD = 8

_local = threading.local()


def current_batcher(model: Any) -> ForwardBatcher | None:
    """The batcher this thread decodes under for ``model`` (None: decode alone)."""
    batcher: ForwardBatcher | None = getattr(_local, "batcher", None)
    if batcher is not None and batcher.model is model:
        return batcher
    return None


@dataclass
class _Pass:
    """One generation's forward pass, waiting for (then holding) its result."""

    tokens: Tensor
    cache: Any
    positions: Tensor | None
    mask: Tensor | None
    all_logits: bool
    done: bool = False
    hidden: Tensor | None = None
    logits: Tensor | None = None
    error: BaseException | None = None
    follow: _Follow | None = None


@dataclass(frozen=True)
class Followed:
    """Where the engine stopped decoding a followed generation without ending it: the
    hidden states and logits of its last pass (the generation chooses the next token)."""

    hidden: Tensor
    logits: Tensor


@dataclass(eq=False)
class _Follow:
    """A generation the engine decodes on its own (:meth:`ForwardBatcher.follow`)."""

    cache: Any
    choose: Callable[[Tensor], int]
    greedy: bool
    eos: frozenset[int]
    room: int
    until_drafting: bool
    #: tokens (int) not yet read, then possibly the Followed state
    items: deque[int | Followed]
    finished: bool = False
    cancelled: bool = False
    #: the next pass, held back while the reader is FOLLOW_AHEAD tokens behind
    parked: _Pass | None = None
    error: BaseException | None = None


@dataclass
class _Packed:
    """What the attention layers need to run a packed pass per generation."""

    caches: list[Any]
    masks: list[Any]
    sizes: list[int]


def packed_attention(
    attention: Any,
    module: Any,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    packed: _Packed,
    scaling: float,
    dropout: float,
    kwargs: dict[str, Any],
) -> tuple[Tensor, None]:
    """Attention of a packed pass: each generation's queries against its own cache.

    ``query``, ``key`` and ``value`` hold the new tokens of every generation side by side
    (``(1, heads, tokens, dim)``); each slice is appended to its generation's cache and
    attended with its own mask by ``attention`` (the single-generation function).
    """
    torch = require("torch")
    outputs = []
    start = 0
    for cache, mask, size in zip(packed.caches, packed.masks, packed.sizes, strict=True):
        stop = start + size
        keys, values = cache.update(
            key[:, :, start:stop].contiguous(),
            value[:, :, start:stop].contiguous(),
            module.layer_idx,
        )
        out, _ = attention(
            module,
            query[:, :, start:stop],
            keys,
            values,
            mask,
            scaling=scaling,
            dropout=dropout,
            **kwargs,
        )
        outputs.append(out)
        start = stop
    return torch.cat(outputs, dim=1), None


def _rows_of(generations: int) -> AbstractContextManager[None]:
    """Where a pass carries several generations' rows, every product is cut into parts in
    which the kernels give each row the bits it gets alone
    (:func:`tessera.llm._invariant.several_generations`)."""
    return several_generations() if generations > 1 else nullcontext()


class ForwardBatcher:
    """Runs the forward passes of concurrent generations of one model as one pass.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        A batch-invariant causal LM (:func:`tessera.llm._invariant.make_batch_invariant`).
    max_wait : float, default=0.005
        Seconds the engine waits, after the first pass of a round arrives, for the other
        active generations' passes before it runs the ones it has.
    draft_limit : int, default=2
        Greedy Medusa generations draft (verify a tree of candidates) only while at most
        this many generations are active; beyond, each verifies its next token alone
        (the same output: greedy Medusa output is plain greedy output), because the other
        generations' rows already fill the products that drafted rows would ride on.
    """

    def __init__(self, model: Any, *, max_wait: float = 0.005, draft_limit: int = 2) -> None:
        self.model = model
        self.max_wait = max_wait
        self.draft_limit = draft_limit
        self._cond = threading.Condition()
        self._active = 0
        #: followed generations that send no pass now (finished, or waiting for a reader)
        self._quiet = 0
        self._follows: set[_Follow] = set()
        self._pending: list[_Pass] = []
        self._closed = False
        self.rounds = 0
        self.passes = 0
        from tessera.llm.medusa._decode import _backbone

        self._backbone = _backbone(model)
        self._lm_head = model.get_output_embeddings()
        self.packable = type(self._backbone).__name__ in PACKABLE_DECODERS
        self._thread = threading.Thread(target=self._run, name="tessera-batcher", daemon=True)
        self._thread.start()

    @property
    def active(self) -> int:
        """Generations currently decoding under this batcher."""
        return self._active

    @property
    def drafting(self) -> bool:
        """Whether greedy generations should draft now (see ``draft_limit``)."""
        return self._active <= self.draft_limit

    @contextmanager
    def session(self) -> Iterator[None]:
        """Decode under this batcher in the calling thread for the duration of the block."""
        previous = getattr(_local, "batcher", None)
        with self._cond:
            self._active += 1
        _local.batcher = self
        try:
            yield
        finally:
            _local.batcher = previous
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    def forward(
        self,
        tokens: Tensor,
        cache: Any,
        positions: Tensor | None,
        mask: Tensor | None,
        *,
        logits: str = "last",
    ) -> tuple[Tensor, Tensor]:
        """Hidden states of ``tokens`` (appended to ``cache``) and the logits of the last
        row (``logits="last"``) or of every row (``"all"``), computed in the next round."""
        item = _Pass(tokens.view(-1), cache, positions, mask, logits == "all")
        with self._cond:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            self._pending.append(item)
            self._cond.notify_all()
            while not item.done:
                self._cond.wait()
        if item.error is not None:
            raise item.error
        assert item.hidden is not None and item.logits is not None
        return item.hidden, item.logits

    def follow(
        self,
        token: int,
        cache: Any,
        choose: Callable[[Tensor], int],
        *,
        greedy: bool,
        eos: frozenset[int],
        room: int,
        until_drafting: bool,
    ) -> Generator[int | Followed, None, None]:
        """Let the engine decode this generation on its own from ``token`` on.

        The engine runs the pass of ``token`` (appended to ``cache``), chooses the next
        token with ``choose`` (one row of logits in, a token out; ``greedy``: it is the
        argmax, which the engine takes for several generations at once) and goes on, one
        pass per round, each queued as soon as the round before ends. It stops after a
        token in ``eos``, after ``room`` tokens, or (``until_drafting``) as soon as few
        enough generations are active for drafting (:attr:`drafting`).

        Yields
        ------
        int or Followed
            The chosen tokens in order; when the engine stops before the generation
            ends (drafting), a last :class:`Followed` with the last pass's outputs.
            Closing the iterator early stops the engine decoding for it.
        """
        torch = require("torch")
        state = _Follow(cache, choose, greedy, eos, room, until_drafting, deque())
        with self._cond:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            self._follows.add(state)
            self._pending.append(
                _Pass(torch.tensor([token]), cache, None, None, False, follow=state)
            )
            self._cond.notify_all()
        try:
            while True:
                with self._cond:
                    while not state.items and state.error is None:
                        self._cond.wait()
                    if state.error is not None:
                        raise state.error
                    item = state.items.popleft()
                    parked = state.parked
                    if parked is not None and len(state.items) < FOLLOW_AHEAD:
                        state.parked = None
                        self._quiet -= 1
                        self._pending.append(parked)
                        self._cond.notify_all()
                yield item
                if isinstance(item, Followed):
                    return
                with self._cond:
                    if state.finished and not state.items:
                        return
        finally:
            with self._cond:
                self._follows.discard(state)
                if not state.cancelled:
                    state.cancelled = True
                    if state.finished or state.parked is not None:
                        self._quiet -= 1
                    state.parked = None
                    self._pending = [item for item in self._pending if item.follow is not state]
                    self._cond.notify_all()

    def close(self) -> None:
        """Stop the engine thread (passes still queued fail, and so do followed
        generations)."""
        with self._cond:
            self._closed = True
            for state in self._follows:
                state.error = RuntimeError("the batcher is closed")
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def _take_round(self) -> list[_Pass] | None:
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            if self._closed:
                for item in self._pending:
                    item.error = RuntimeError("the batcher is closed")
                    item.done = True
                    if item.follow is not None:
                        item.follow.error = item.error
                self._pending = []
                self._cond.notify_all()
                return None
            deadline = time.monotonic() + self.max_wait
            # every active generation sends a pass, except followed ones that are quiet
            while len(self._pending) < self._active - self._quiet and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            batch, self._pending = self._pending, []
            return batch

    def _run(self) -> None:
        torch = require("torch")
        while True:
            batch = self._take_round()
            if batch is None:
                return
            try:
                with torch.inference_mode():
                    # a prompt's prefill longer than a decoding pass runs alone, as it does
                    # without the engine (one product per linear: tessera.llm._invariant)
                    short = [i for i in batch if i.tokens.shape[0] <= INVARIANT_MAX_QUERIES]
                    alone = [i for i in batch if i.tokens.shape[0] > INVARIANT_MAX_QUERIES]
                    if self.packable and (len(short) > 1 or (short and short[0].follow)):
                        with _rows_of(len(short)):
                            hidden = self._packed(short)
                        for item, rows in zip(short, hidden, strict=True):
                            item.hidden = rows
                    else:
                        alone = batch
                    for item in alone:
                        item.hidden = self._alone(item)
                    with _rows_of(len(batch)):
                        self._logits(batch)
                    chosen = self._choose_followed(batch)
            except BaseException as exc:  # every waiting generation learns of the failure
                for item in batch:
                    item.error = exc
                chosen = {}
            self.rounds += 1
            self.passes += len(batch)
            with self._cond:
                for item in batch:
                    item.done = True
                    if item.follow is not None:
                        self._advance(item, chosen.get(id(item)))
                self._cond.notify_all()

    def _choose_followed(self, batch: list[_Pass]) -> dict[int, int]:
        """The next token of every followed pass of the round (greedy ones in one argmax),
        by ``id`` of the pass; none for passes that failed or stop here."""
        torch = require("torch")
        chosen: dict[int, int] = {}
        greedy: list[_Pass] = []
        for item in batch:
            state = item.follow
            if state is None or item.error is not None or state.cancelled:
                continue
            if state.until_drafting and self.drafting:
                continue  # handed back: the generation drafts again
            if state.greedy:
                greedy.append(item)
            else:
                assert item.logits is not None
                chosen[id(item)] = state.choose(item.logits[-1])
        if greedy:
            rows = torch.cat([item.logits[-1:] for item in greedy if item.logits is not None])
            # float32 holds every bf16 value exactly: the argmax (first index of ties) of
            # each row is the one the generation's own greedy choice takes
            for item, token in zip(greedy, rows.float().argmax(dim=-1).tolist(), strict=True):
                chosen[id(item)] = int(token)
        return chosen

    def _advance(self, item: _Pass, token: int | None) -> None:
        """After a round (under the lock): hand a followed generation its next token and
        queue its next pass, or stop following it."""
        torch = require("torch")
        from tessera.llm._step import settle

        state = item.follow
        assert state is not None
        if state.cancelled:
            return
        if item.error is not None:
            state.error = item.error
        elif token is None:  # drafting again: the generation takes over from this pass
            assert item.hidden is not None and item.logits is not None
            settle(state.cache)
            state.items.append(Followed(item.hidden, item.logits))
        else:
            state.items.append(token)
            state.room -= 1
            if state.room > 0 and token not in state.eos:
                following = _Pass(torch.tensor([token]), state.cache, None, None, False)
                following.follow = state
                if len(state.items) < FOLLOW_AHEAD:
                    self._pending.append(following)
                else:
                    state.parked = following
                    self._quiet += 1
                return
            settle(state.cache)
        state.finished = True
        self._quiet += 1

    def _logits(self, batch: list[_Pass]) -> None:
        """One product with the output embeddings for every pass's wanted rows."""
        torch = require("torch")
        rows: list[Tensor] = []
        for item in batch:
            assert item.hidden is not None
            rows.append(item.hidden if item.all_logits else item.hidden[-1:])
        sizes = [int(r.shape[0]) for r in rows]
        logits = self._lm_head(torch.cat(rows))
        for item, part in zip(batch, torch.split(logits, sizes), strict=True):
            item.logits = part

    def _alone(self, item: _Pass) -> Tensor:
        from tessera.llm.medusa._decode import _forward

        hidden: Tensor = _forward(self.model, item.tokens, item.cache, item.positions, item.mask)
        return hidden

    def _packed(self, batch: list[_Pass]) -> list[Tensor]:
        torch = require("torch")
        from transformers.masking_utils import create_causal_mask

        from tessera.llm._step import Segment, lean_segments, settle

        sizes = [int(item.tokens.shape[0]) for item in batch]
        # the lean pass (tessera.llm._step), each generation's attention on its own cache;
        # a followed generation's cache layers are brought up to date when it stops
        segments = [
            Segment(item.tokens, item.cache, item.positions, item.mask, item.follow is not None)
            for item in batch
        ]
        lean = lean_segments(self.model, segments)
        if lean is not None:
            return list(torch.split(lean, sizes))
        for item in batch:  # transformers' forward reads the cache layers
            settle(item.cache)
        config = self.model.config
        dtype = next(self.model.parameters()).dtype
        width = config.hidden_size
        positions: list[Tensor] = []
        masks: list[Any] = []
        for item in batch:
            size = item.tokens.shape[0]
            if item.positions is None:
                past = item.cache.get_seq_length()
                pos = torch.arange(past, past + size)
            else:
                pos = item.positions.view(-1)
            positions.append(pos)
            # The mask the model builds for this generation alone (its cache, before the
            # pass appends to it).
            masks.append(
                create_causal_mask(
                    config=config,
                    inputs_embeds=torch.empty((1, size, width), dtype=dtype),
                    attention_mask=item.mask,
                    cache=item.cache,
                    position_ids=pos.view(1, -1),
                )
            )
        packed = _Packed([item.cache for item in batch], masks, sizes)
        # A 4-D placeholder mask makes the model skip building one for the packed sequence;
        # the packed attention uses each generation's own mask instead.
        placeholder = torch.zeros((1, 1, 1, 1), dtype=dtype)
        out = self._backbone(
            input_ids=torch.cat([item.tokens for item in batch]).view(1, -1),
            position_ids=torch.cat(positions).view(1, -1),
            attention_mask=placeholder,
            cache=None,
            use_cache=False,
            **{PACKED_KWARG: packed},
        )
        hidden = out.last_hidden_state[0]
        return list(torch.split(hidden, sizes))
