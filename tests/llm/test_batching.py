"""Batched decoding: concurrent generations share forward passes and keep their outputs.

Every generation decoded beside others under one :class:`ForwardBatcher` must produce the
tokens it produces alone, bit for bit: plain and Medusa, greedy and seeded sampling, with
prompts long enough to take the prefill kernel, on a bf16 model whose one-row products
round differently (the case batch invariance exists for) and on the embedded model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from tessera.llm import make_batch_invariant  # noqa: E402
from tessera.llm._batching import ForwardBatcher, current_batcher  # noqa: E402
from tessera.llm.backends import GenerationParams, LocalBackend  # noqa: E402
from tessera.llm.medusa import MedusaConfig, MedusaHeads  # noqa: E402
from tessera.llm.medusa._decode import Sampling, medusa_generate, plain_generate  # noqa: E402
from tessera.llm.medusa._tree import MedusaTree  # noqa: E402

VOCAB = 97
TREE = MedusaTree.from_paths([(0,), (1,), (2,), (0, 0), (0, 1), (1, 0), (0, 0, 0)])
PROMPTS = [
    [1, 5, 9, 13],
    [2, 40, 3, 3, 7, 22, 8],
    [17],
    [(7 * i) % VOCAB for i in range(90)],  # longer than a decoding pass: the prefill kernel
    [4, 4, 4, 4, 4, 4],
]


@pytest.fixture(scope="module")
def model() -> Any:
    """A small random bf16 Llama (1536-wide MLP, as SmolLM2's) with batch-invariant kernels."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=64,
        intermediate_size=1536,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
    )
    built = transformers.LlamaForCausalLM(config).eval().to(torch.bfloat16)
    built.requires_grad_(False)
    return make_batch_invariant(built)


@pytest.fixture(scope="module")
def heads() -> MedusaHeads:
    torch.manual_seed(1)
    made = MedusaHeads(MedusaConfig(hidden_size=64, vocab_size=VOCAB, num_heads=3))
    for block in made.blocks:
        torch.nn.init.normal_(block[0].linear.weight, std=0.5)
    return made.eval().to(torch.bfloat16)


Decode = Callable[[list[int], int], list[int]]


def concurrently(batcher: ForwardBatcher, decode: Decode, jobs: list[tuple[list[int], int]]) -> Any:
    """Run ``decode(prompt, i)`` for every job in its own thread under ``batcher``."""
    results: list[Any] = [None] * len(jobs)
    start = threading.Barrier(len(jobs))

    def work(i: int) -> None:
        start.wait()
        with batcher.session():
            results[i] = decode(*jobs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return results


def _flat(steps: Any) -> list[int]:
    return [token for step in steps for token in step]


def sampling_for(i: int) -> Sampling:
    """Greedy for even jobs, seeded sampling for odd ones."""
    return Sampling() if i % 2 == 0 else Sampling(temperature=0.8, top_k=20, seed=i)


@pytest.mark.parametrize("medusa", [False, True])
def test_concurrent_generations_equal_their_solo_runs(
    model: Any, heads: MedusaHeads, medusa: bool
) -> None:
    def decode(prompt: list[int], i: int) -> list[int]:
        if medusa:
            steps = medusa_generate(
                model,
                heads,
                TREE,
                prompt,
                max_new_tokens=30,
                sampling=sampling_for(i),
                lookup_tokens=4,
            )
        else:
            steps = plain_generate(model, prompt, max_new_tokens=30, sampling=sampling_for(i))
        return _flat(steps)

    jobs = [(prompt, i) for i, prompt in enumerate(PROMPTS)]
    alone = [decode(prompt, i) for prompt, i in jobs]
    # A long wait makes every round hold every active generation: the test does not
    # depend on how the threads happen to be scheduled.
    batcher = ForwardBatcher(model, max_wait=30.0, draft_limit=len(jobs))
    try:
        together = concurrently(batcher, decode, jobs)
    finally:
        batcher.close()
    assert together == alone
    assert batcher.rounds < batcher.passes  # passes were shared


def test_greedy_medusa_beside_many_verifies_alone_with_the_same_output(
    model: Any, heads: MedusaHeads
) -> None:
    def decode(prompt: list[int], _: int) -> list[int]:
        return _flat(
            medusa_generate(model, heads, TREE, prompt, max_new_tokens=25, lookup_tokens=4)
        )

    jobs = [(prompt, i) for i, prompt in enumerate(PROMPTS[:3])]
    alone = [decode(prompt, i) for prompt, i in jobs]
    batcher = ForwardBatcher(model, max_wait=30.0, draft_limit=1)
    try:
        together = concurrently(batcher, decode, jobs)
    finally:
        batcher.close()
    assert together == alone
    # No drafting beside others: one pass per token after the prefill.
    assert batcher.passes == sum(len(tokens) for tokens in together)


def test_a_session_is_per_thread_and_per_model(model: Any) -> None:
    batcher = ForwardBatcher(model)
    try:
        assert current_batcher(model) is None
        seen: list[Any] = []
        with batcher.session():
            assert current_batcher(model) is batcher
            assert current_batcher(object()) is None
            other = threading.Thread(target=lambda: seen.append(current_batcher(model)))
            other.start()
            other.join()
            assert batcher.active == 1
        assert seen == [None]
        assert current_batcher(model) is None
        assert batcher.active == 0
    finally:
        batcher.close()


def test_a_closed_batcher_refuses_passes(model: Any) -> None:
    batcher = ForwardBatcher(model)
    batcher.close()
    with batcher.session(), pytest.raises(RuntimeError, match="closed"):
        _flat(plain_generate(model, [1, 2, 3], max_new_tokens=2))


def test_local_backend_answers_concurrent_chats_as_it_answers_them_alone(
    tiny_llama: Any,
) -> None:
    backend = LocalBackend("tessera:tiny", str(tiny_llama.folder))
    questions = [
        f"question number {i} about {'cats dogs birds fish'.split()[i % 4]}" for i in range(6)
    ]
    params = GenerationParams(max_tokens=24)
    alone = [backend.chat([{"role": "user", "content": q}], params).text for q in questions]
    answers: list[str | None] = [None] * len(questions)

    def ask(i: int) -> None:
        answers[i] = backend.chat([{"role": "user", "content": questions[i]}], params).text

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(questions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert answers == alone
    assert backend.max_concurrency == 8


def test_embedded_model_concurrent_medusa_equals_solo(default_runtime: Any) -> None:
    from tessera.llm.medusa import heldout_prompts

    runtime = default_runtime
    prompts = heldout_prompts(12)[:3]

    def decode(prompt: Any, _: int) -> list[int]:
        return _flat(runtime.token_stream(prompt, max_new_tokens=40))

    jobs = [(prompt, i) for i, prompt in enumerate(prompts)]
    alone = [decode(prompt, i) for prompt, i in jobs]
    batcher = ForwardBatcher(runtime.model, max_wait=30.0, draft_limit=len(jobs))
    try:
        together = concurrently(batcher, decode, jobs)
    finally:
        batcher.close()
    assert together == alone
    assert batcher.rounds < batcher.passes


@settings(max_examples=12, deadline=None)
@given(
    prompts=st.lists(st.integers(1, 40), min_size=2, max_size=5),
    steps=st.lists(st.integers(1, 9), min_size=2, max_size=5),
    seed=st.integers(0, 2**16),
)
def test_the_lean_packed_pass_gives_each_generation_its_solo_states(
    model: Any, prompts: list[int], steps: list[int], seed: int
) -> None:
    """Generations' passes (steps of 1 token, Medusa-like trees) packed into one lean pass:
    every hidden state and cache equals the generation's own pass, bit for bit."""
    from tessera.llm._step import Segment, lean_forward, lean_model
    from tessera.llm.medusa._decode import _new_cache

    found = lean_model(model)
    assert found is not None, "the lean pass must cover the test model"
    lean, kinds = found
    generator = torch.Generator().manual_seed(seed)
    alone, packed = [], []
    with torch.inference_mode():
        for length in prompts:
            tokens = torch.randint(0, VOCAB, (length,), generator=generator)
            for caches in (alone, packed):
                cache = _new_cache(model)
                lean_forward(model, tokens, cache)
                caches.append(cache)
        for n in steps:
            segments = []
            for i, cache in enumerate(alone):
                size = 1 if (i + n) % 2 else n
                past = cache.get_seq_length()
                positions = mask = None
                if size > 1:  # a chain drawn as a tree: each node sees the prefix and itself
                    positions = torch.arange(past, past + size)
                    mask = torch.zeros((1, 1, size, past + size), dtype=torch.bfloat16)
                    blocked = torch.finfo(torch.bfloat16).min
                    mask[0, 0, :, past:] = torch.where(
                        torch.eye(size, dtype=torch.bool), 0.0, blocked
                    )
                tokens = torch.randint(0, VOCAB, (size,), generator=generator)
                segments.append((tokens, positions, mask))
            expected = [
                lean_forward(model, tokens, cache, positions, mask)
                for (tokens, positions, mask), cache in zip(segments, alone, strict=True)
            ]
            together = lean.forward_segments(
                [
                    Segment(tokens, cache, positions, mask)
                    for (tokens, positions, mask), cache in zip(segments, packed, strict=True)
                ],
                kinds,
            )
            sizes = [int(tokens.shape[0]) for tokens, _, _ in segments]
            assert_same_states(together, sizes, expected)
        assert_same_caches(packed, alone)


def assert_same_states(together: Any, sizes: list[int], expected: list[Any]) -> None:
    """A packed pass's hidden states, split per segment, equal each segment's own pass."""
    for mine, reference in zip(torch.split(together, sizes), expected, strict=True):
        assert reference is not None
        assert torch.equal(mine, reference)


def assert_same_caches(caches: list[Any], references: list[Any]) -> None:
    """Every layer's keys and values equal the reference caches', bit for bit."""
    for mine, reference in zip(caches, references, strict=True):
        for a, b in zip(mine.layers, reference.layers, strict=True):
            assert torch.equal(a.keys, b.keys) and torch.equal(a.values, b.values)


def run_to_end(batcher: ForwardBatcher, *targets: Callable[[], None]) -> None:
    """Run every target in its own thread to its end (two minutes at most), then close
    the batcher."""
    threads = [threading.Thread(target=target) for target in targets]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
            assert not thread.is_alive(), "a generation stalled"
    finally:
        batcher.close()


def _stepper(
    model: Any, prompt: list[int], tokens: int, medusa: Any = None, seed: int | None = None
) -> Any:
    """A generation's step iterator: greedy (plain, or Medusa with ``medusa`` heads), or
    plain seeded sampling (``seed``)."""
    if seed is not None:
        sampling = Sampling(temperature=0.8, top_k=20, seed=seed)
        return plain_generate(model, prompt, max_new_tokens=tokens, sampling=sampling)
    if medusa is None:
        return plain_generate(model, prompt, max_new_tokens=tokens)
    return medusa_generate(model, medusa, TREE, prompt, max_new_tokens=tokens, lookup_tokens=4)


@pytest.mark.parametrize("medusa", [False, True])
def test_a_reader_that_falls_behind_stalls_nobody_and_loses_nothing(
    model: Any, heads: MedusaHeads, medusa: bool
) -> None:
    """The engine decodes a followed generation at most FOLLOW_AHEAD tokens ahead of its
    reader; the others' rounds go on meanwhile (a round never waits for the slow one:
    with a 30 s wait a stall would show), and the slow one's output is its solo output.
    (``draft_limit=0``: greedy Medusa verifies its roots alone, so is followed, from the
    start; a generation that drafts decodes in its own thread and a round waits
    ``max_wait`` for it.)"""
    from tessera.llm._batching import FOLLOW_AHEAD

    slow_prompt, fast_prompts = PROMPTS[0], PROMPTS[1:3]
    decode = lambda prompt: _flat(_stepper(model, prompt, 40, heads if medusa else None))  # noqa: E731
    alone = [decode(prompt) for prompt in [slow_prompt, *fast_prompts]]
    batcher = ForwardBatcher(model, max_wait=30.0, draft_limit=0)
    paused, resume = threading.Event(), threading.Event()
    results: list[Any] = [None] * 3

    def slow() -> None:
        with batcher.session():
            steps = _stepper(model, slow_prompt, 40, heads if medusa else None)
            tokens = list(next(steps)) + list(next(steps))
            paused.set()
            assert resume.wait(timeout=120)
            results[0] = tokens + _flat(steps)

    def fast(i: int) -> None:
        assert paused.wait(timeout=120)
        with batcher.session():
            results[i] = decode(fast_prompts[i - 1])

    threads = [threading.Thread(target=slow)] + [
        threading.Thread(target=fast, args=(i,)) for i in (1, 2)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads[1:]:
            thread.join(timeout=120)
            assert not thread.is_alive(), "a generation stalled behind a slow reader"
        # the slow generation's prefill, its first token's pass, then the engine ran at
        # most FOLLOW_AHEAD passes past what it read
        fast_passes = sum(1 + len(tokens) - 1 for tokens in results[1:])
        assert batcher.passes - fast_passes <= 2 + FOLLOW_AHEAD
        resume.set()
        threads[0].join(timeout=120)
    finally:
        resume.set()
        batcher.close()
    assert results == alone


def test_a_reader_that_goes_away_stops_its_decoding(model: Any) -> None:
    """Closing a followed generation's steps early stops the engine decoding for it; the
    generation beside it runs to its end with its solo output."""
    batcher = ForwardBatcher(model, max_wait=30.0)
    alone = _flat(_stepper(model, PROMPTS[1], 60))
    results: dict[str, Any] = {}
    both = threading.Barrier(2)

    def leaver() -> None:
        with batcher.session():
            steps = _stepper(model, PROMPTS[0], 60)
            both.wait()
            results["leaver"] = list(next(steps)) + list(next(steps))
            steps.close()
        results["left"] = batcher.passes

    def stayer() -> None:
        with batcher.session():
            both.wait()
            results["stayer"] = _flat(_stepper(model, PROMPTS[1], 60))

    run_to_end(batcher, leaver, stayer)
    assert results["stayer"] == alone
    assert results["leaver"] == _flat(_stepper(model, PROMPTS[0], 60))[:2]
    # once the leaver left, every pass was the stayer's: its prefill and 59 token passes,
    # the leaver's prefill and at most FOLLOW_AHEAD + 1 passes of its own
    from tessera.llm._batching import FOLLOW_AHEAD

    assert batcher.passes <= 1 + 59 + 1 + FOLLOW_AHEAD + 1


def test_a_followed_generation_outgrows_its_cache_buffer_beside_a_long_prefill(
    model: Any,
) -> None:
    """The engine defers a followed generation's cache layers (``Segment.defer``); its
    buffer doubles past the first capacity, and another request's prompt, long enough to
    go through transformers' forward (which reads the layers), joins mid-way: both answers
    are their solo answers (seeded sampling: the random model's greedy answers repeat one
    token, whatever the cache holds)."""
    from tessera.llm._step import _FIRST_CAPACITY

    long_run = (PROMPTS[1], _FIRST_CAPACITY + 60, None, 5)
    late = (PROMPTS[3], 20, None, 6)  # 90 tokens: the prefill kernel
    alone = [_flat(_stepper(model, *job)) for job in (long_run, late)]
    batcher = ForwardBatcher(model, max_wait=30.0)
    started = threading.Event()
    results: list[Any] = [None, None]

    def first() -> None:
        with batcher.session():
            steps = _stepper(model, *long_run)
            tokens = []
            for step in steps:
                tokens += step
                if len(tokens) == _FIRST_CAPACITY + 10:  # grown while deferred
                    started.set()
            results[0] = tokens

    def second() -> None:
        assert started.wait(timeout=120)
        with batcher.session():
            results[1] = _flat(_stepper(model, *late))

    run_to_end(batcher, first, second)
    assert results == alone


@settings(max_examples=15, deadline=None)
@given(
    stem=st.lists(st.integers(0, VOCAB - 1), min_size=0, max_size=20),
    tails=st.lists(st.lists(st.integers(0, VOCAB - 1), max_size=8), min_size=2, max_size=5),
    cut=st.integers(0, 4),
)
def test_prompts_that_start_alike_share_their_rows_and_keep_their_solo_states(
    model: Any, stem: list[int], tails: list[list[int]], cut: int
) -> None:
    """Prompts of one lean pass that start with the same tokens (a shared system prompt)
    compute those rows once (MIN_SHARED_PREFIX or more); every prompt's hidden states and
    cache equal its own prefill, bit for bit, whether its start is shared, whole (a
    prompt that is another's start), or too short to share."""
    from tessera.llm._step import Segment, _shared_prefixes, lean_forward, lean_model
    from tessera.llm.medusa._decode import _new_cache

    found = lean_model(model)
    assert found is not None
    lean, kinds = found
    prompts = [stem + tail for tail in tails]
    prompts.append(stem[: max(0, len(stem) - cut)])  # a prompt that is the others' start
    prompts = [prompt or [3] for prompt in prompts]
    with torch.inference_mode():
        alone, expected = [], []
        for prompt in prompts:
            cache = _new_cache(model)
            expected.append(lean_forward(model, torch.tensor(prompt), cache))
            alone.append(cache)
        caches = [_new_cache(model) for _ in prompts]
        segments = [
            Segment(torch.tensor(prompt), cache)
            for prompt, cache in zip(prompts, caches, strict=True)
        ]
        sources, shared = _shared_prefixes(segments, [0] * len(segments))
        together = lean.forward_segments(segments, kinds)
    if len(stem) - cut >= 9:  # the last prompt shares all but its last token
        assert shared[-1] == len(stem) - cut - 1 and sources[-1] == 0
    assert all(count == 0 or count >= 8 for count in shared)
    assert_same_states(together, [len(prompt) for prompt in prompts], expected)
    assert_same_caches(caches, alone)


def test_closing_the_batcher_fails_a_generation_waiting_for_its_reader(model: Any) -> None:
    """A followed generation whose reader fell behind (the engine waits for it, with no
    pass queued) fails with the batcher's error when the batcher closes, instead of
    waiting forever for a pass that would never run."""
    import time

    batcher = ForwardBatcher(model, max_wait=30.0)
    with batcher.session():
        steps = _stepper(model, PROMPTS[1], 60)
        next(steps), next(steps)  # the engine follows it from here
        before, still = -1, time.monotonic()
        while time.monotonic() - still < 0.5:  # until the engine stops: FOLLOW_AHEAD ahead
            if batcher.passes != before:
                before, still = batcher.passes, time.monotonic()
            time.sleep(0.05)
        batcher.close()
        with pytest.raises(RuntimeError, match="closed"):
            _flat(steps)


def test_a_long_prefill_beside_other_passes_gets_its_solo_bits(default_runtime: Any) -> None:
    """A prompt longer than a decoding pass is prefilled alone in its round, as without the
    engine, while the shorter passes of the round are packed: every pass's hidden states
    equal its solo pass's, bit for bit (on AMX CPUs a bf16 product of more than 32 rows
    rounds differently than the parts the packed pass cuts it into)."""
    from tessera.llm.medusa._decode import _forward, _new_cache

    model = default_runtime.model
    generator = torch.Generator().manual_seed(0)
    vocab = int(model.config.vocab_size)
    prompts = [torch.randint(0, vocab, (n,), generator=generator) for n in (90, 40, 3)]
    with torch.inference_mode():
        solo = [_forward(model, tokens, _new_cache(model)) for tokens in prompts]
    batcher = ForwardBatcher(model, max_wait=30.0)
    ready = threading.Barrier(len(prompts))
    results: list[Any] = [None] * len(prompts)

    def job(index: int) -> Callable[[], None]:
        def run() -> None:
            with batcher.session():
                ready.wait(timeout=60)  # every session open: one round takes all passes
                with torch.inference_mode():
                    results[index] = batcher.forward(prompts[index], _new_cache(model), None, None)[
                        0
                    ]

        return run

    run_to_end(batcher, *(job(index) for index in range(len(prompts))))
    assert batcher.rounds == 1
    for mine, reference in zip(results, solo, strict=True):
        assert torch.equal(mine, reference)
