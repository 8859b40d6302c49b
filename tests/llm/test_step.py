"""The lean decoding pass (``tessera.llm._step``) against transformers' forward, bit for bit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tessera.llm._invariant import INVARIANT_MAX_QUERIES  # noqa: E402
from tessera.llm._step import lean_forward, lean_model  # noqa: E402
from tessera.llm.medusa._decode import _new_cache, _transformers_forward  # noqa: E402


def transformers_pass(model: Any, tokens: Any, cache: Any, positions: Any, mask: Any) -> Any:
    """The same pass through transformers' forward (the decoder's fallback)."""
    return _transformers_forward(model, tokens, cache, positions, mask)


def tree_pass(n: int, past: int, seed: int) -> tuple[Any, Any]:
    """Positions and additive mask of a random n-node tree (root first) after ``past`` tokens."""
    rng = np.random.default_rng(seed)
    parents = [-1] + [int(rng.integers(0, i)) for i in range(1, n)]
    attention = np.eye(n, dtype=bool)
    depths = [0] * n
    for i in range(1, n):
        attention[i] = attention[parents[i]]
        attention[i, i] = True
        depths[i] = depths[parents[i]] + 1
    mask = torch.zeros((1, 1, n, past + n), dtype=torch.bfloat16)
    blocked = torch.finfo(torch.bfloat16).min
    mask[0, 0, :, past:] = torch.where(torch.from_numpy(attention), 0.0, blocked)
    return torch.tensor(depths) + past, mask


def assert_same_passes(model: Any, vocab: int, prompt: int, steps: list[int], seed: int) -> None:
    """A prompt, then decoding steps (1 or 2 tokens) and trees (more): hidden states and caches
    of the lean pass equal transformers' bit for bit."""
    generator = torch.Generator().manual_seed(seed)
    ours, theirs = _new_cache(model), _new_cache(model)
    with torch.inference_mode():
        tokens = torch.randint(0, vocab, (prompt,), generator=generator)
        hidden = lean_forward(model, tokens, ours)
        assert hidden is not None, "the lean pass must cover this model"
        assert torch.equal(hidden, transformers_pass(model, tokens, theirs, None, None))
        for i, n in enumerate(steps):
            tokens = torch.randint(0, vocab, (n,), generator=generator)
            positions, mask = (None, None) if n <= 2 else tree_pass(n, ours.get_seq_length(), i)
            hidden = lean_forward(model, tokens, ours, positions, mask)
            assert hidden is not None
            expected = transformers_pass(model, tokens, theirs, positions, mask)
            assert torch.equal(hidden, expected), f"step {i} ({n} tokens)"
            for mine, reference in zip(ours.layers, theirs.layers, strict=True):
                assert torch.equal(mine.keys, reference.keys)
                assert torch.equal(mine.values, reference.values)


def fresh_tiny(tiny_llama: Any, **options: Any) -> Any:
    """The tiny Llama in bf16 as load_model reads it (batch-invariant unless told)."""
    from tessera.llm._model import load_model

    return load_model(tiny_llama.folder, **options).model


@pytest.fixture(scope="module")
def tiny_bf16(tiny_llama: Any) -> Any:
    return fresh_tiny(tiny_llama)


@settings(max_examples=15, deadline=None)
@given(
    prompt=st.integers(1, INVARIANT_MAX_QUERIES),
    steps=st.lists(st.integers(1, 12), min_size=1, max_size=4),
    seed=st.integers(0, 2**16),
)
def test_lean_pass_equals_transformers_on_a_tiny_llama(
    tiny_bf16: Any, prompt: int, steps: list[int], seed: int
) -> None:
    assert_same_passes(tiny_bf16, tiny_bf16.config.vocab_size, prompt, steps, seed)


def test_lean_pass_covers_only_batch_invariant_llamas_in_inference(
    tiny_llama: Any, tiny_bf16: Any
) -> None:
    assert lean_model(tiny_bf16) is not None
    assert lean_model(tiny_llama.model) is None  # stock linears and attention, float32
    assert lean_model(fresh_tiny(tiny_llama, batch_invariant=False)) is None
    trained = fresh_tiny(tiny_llama).train()
    assert lean_model(trained) is None
    tokens = torch.zeros(INVARIANT_MAX_QUERIES + 1, dtype=torch.long)
    with torch.inference_mode():
        assert lean_forward(tiny_bf16, tokens, _new_cache(tiny_bf16)) is None  # prefill
    assert lean_forward(tiny_bf16, tokens[:4], _new_cache(tiny_bf16)) is None  # gradients on


def test_lean_pass_forgets_replaced_linears(tiny_llama: Any) -> None:
    model = fresh_tiny(tiny_llama)
    assert lean_model(model) is not None
    model.model.layers[0].mlp.down_proj = torch.nn.Linear(64, 32, bias=False).to(torch.bfloat16)
    assert lean_model(model) is not None  # kept until told
    model.__dict__.pop("_tessera_lean")
    assert lean_model(model) is None  # a plain Linear is not batch-invariant


@pytest.mark.parametrize("weights", ["bf16", "q4_1"])
def test_lean_pass_equals_transformers_on_the_default_model(
    default_gguf: Path, weights: str
) -> None:
    from tessera.llm._model import load_model

    loaded = load_model(weights=weights)
    vocab = loaded.model.config.vocab_size
    found = lean_model(loaded.model)
    assert found is not None
    fused = [part is not None for layer in found[0].fused for part in layer]
    assert all(fused) if weights == "q4_1" else not any(fused)  # q,k,v and gate,up as one
    assert_same_passes(loaded.model, vocab, 37, [1, 1, 7, 2, 13, 1], seed=5)
    assert_same_passes(loaded.model, vocab, INVARIANT_MAX_QUERIES, [1, 25], seed=6)
    if weights == "bf16":  # q, k, v (and gate, up) in one bf16 product each
        layer = loaded.model.model.layers[0]
        assert "_tessera_bf16_qkv" in layer.self_attn.__dict__
        assert "_tessera_bf16_gate_up" in layer.mlp.__dict__


def test_lean_pass_without_stacked_products_equals_transformers_too(
    tiny_llama: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where the once-per-shape check refuses stacking, each linear has its own product.
    from tessera.llm import _step

    asked: list[str] = []

    def refuse(holder: Any, name: str, linears: tuple[Any, ...]) -> None:
        asked.append(name)

    monkeypatch.setattr(_step, "fused_packed_weight", refuse)
    model = fresh_tiny(tiny_llama)
    assert_same_passes(model, model.config.vocab_size, 9, [1, 2, 6, 1], seed=3)
    assert set(asked) == {"_tessera_bf16_qkv", "_tessera_bf16_gate_up"}
    layer = model.model.layers[0]
    assert "_tessera_bf16_qkv" not in layer.self_attn.__dict__


def test_lean_cache_buffers_take_over_a_prefilled_cache_grow_and_follow_pruning(
    tiny_bf16: Any,
) -> None:
    """A prompt filled by transformers' forward (too long for the lean pass), then decoding
    steps and Medusa trees whose accepted paths are kept (``keep_path``) and the rest cropped,
    past the cache buffers' first capacity: the lean pass equals transformers' throughout."""
    from tessera.llm._step import _FIRST_CAPACITY
    from tessera.llm.medusa._verify import keep_path

    model, vocab = tiny_bf16, tiny_bf16.config.vocab_size
    generator = torch.Generator().manual_seed(11)
    rng = np.random.default_rng(11)
    ours, theirs = _new_cache(model), _new_cache(model)
    with torch.inference_mode():
        prompt = torch.randint(0, vocab, (INVARIANT_MAX_QUERIES + 36,), generator=generator)
        for cache in (ours, theirs):
            transformers_pass(model, prompt, cache, None, None)
        step = 0
        while ours.get_seq_length() < _FIRST_CAPACITY + 40:
            n = 6 if step % 4 == 3 else 1
            tokens = torch.randint(0, vocab, (n,), generator=generator)
            prefix = ours.get_seq_length()
            positions, mask = (None, None) if n == 1 else tree_pass(n, prefix, step)
            hidden = lean_forward(model, tokens, ours, positions, mask)
            assert hidden is not None
            assert torch.equal(hidden, transformers_pass(model, tokens, theirs, positions, mask))
            if n > 1:  # accept the path from the root to a random node (its ancestors)
                node = int(rng.integers(0, n))
                chain = [a for a in range(n) if mask[0, 0, node, prefix + a] == 0]
                for cache in (ours, theirs):
                    keep_path(cache, prefix, chain, n)
            for mine, reference in zip(ours.layers, theirs.layers, strict=True):
                assert torch.equal(mine.keys, reference.keys), f"step {step}"
                assert torch.equal(mine.values, reference.values), f"step {step}"
            step += 1


@pytest.fixture(scope="module")
def q4_amx_model(default_gguf: Path) -> Any:
    """The default model on q4_1 weights with every linear on the AMX kernel."""
    from tessera.llm import _amx
    from tessera.llm._model import load_model

    if not _amx.available():
        pytest.skip(f"no AMX kernel here: {_amx.unavailable_reason()}")
    if _amx._vector_exp() is None:
        pytest.skip("this PyTorch exports no Sleef_expf16_u10: the Python pass runs")
    return load_model(weights="q4_1").model


def packed_generations(model: Any, native: bool, seed: int) -> tuple[list[Any], list[Any]]:
    """Hidden states and caches of packed passes of four generations: two prompts that
    start alike (shared rows), then rounds of decoding steps, Medusa-like trees and a
    fresh prompt; on the C pass (``native``) or the Python one."""
    from tessera.llm._step import Segment

    found = lean_model(model)
    assert found is not None
    lean, kinds = found
    kept, lean.native = lean.native, lean.native if native else None
    generator = torch.Generator().manual_seed(seed)
    vocab = model.config.vocab_size
    stem = torch.randint(0, vocab, (12,), generator=generator)
    prompts = [
        torch.cat([stem, torch.randint(0, vocab, (5,), generator=generator)]),
        torch.cat([stem, torch.randint(0, vocab, (9,), generator=generator)]),
        torch.randint(0, vocab, (30,), generator=generator),
    ]
    caches = [_new_cache(model) for _ in range(4)]
    states = []
    try:
        with torch.inference_mode():
            states.append(
                lean.forward_segments(
                    [Segment(p, c) for p, c in zip(prompts, caches[:3], strict=True)], kinds
                )
            )
            for step, sizes in enumerate([(1, 6, 1), (9, 1, 3), (1, 2, 1, 5)]):
                segments = []
                for size, cache in zip(sizes, caches[: len(sizes)], strict=True):
                    tokens = torch.randint(0, vocab, (size,), generator=generator)
                    past = cache.get_seq_length()
                    positions, mask = (None, None) if size == 1 else tree_pass(size, past, step)
                    segments.append(Segment(tokens, cache, positions, mask))
                if step == 1:  # a new generation joins with its prompt
                    prompt = torch.randint(0, vocab, (20,), generator=generator)
                    segments.append(Segment(prompt, caches[3]))
                states.append(lean.forward_segments(segments, kinds))
    finally:
        lean.native = kept
    return states, caches


@pytest.mark.parametrize("threads", [1, 2])
def test_the_c_pass_equals_the_python_pass_bit_for_bit(q4_amx_model: Any, threads: int) -> None:
    """With every linear on the AMX kernel the lean pass runs in C
    (``tessera.llm._amx.LlamaDecoder``): the same hidden states and caches as the Python
    pass on the same kernel, for packed generations with shared prompt rows, trees and
    steps, on one thread and two (its attention splits heads over threads)."""
    found = lean_model(q4_amx_model)
    assert found is not None and found[0].native is not None
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        c_states, c_caches = packed_generations(q4_amx_model, True, seed=threads)
        py_states, py_caches = packed_generations(q4_amx_model, False, seed=threads)
    finally:
        torch.set_num_threads(before)
    for mine, reference in zip(c_states, py_states, strict=True):
        assert torch.equal(mine, reference)
    for mine, reference in zip(c_caches, py_caches, strict=True):
        for a, b in zip(mine.layers, reference.layers, strict=True):
            assert torch.equal(a.keys, b.keys) and torch.equal(a.values, b.values)


def test_the_c_pass_runs_only_where_every_linear_is_on_the_amx_kernel(
    q4_amx_model: Any, default_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tessera.llm._model import load_model

    found = lean_model(q4_amx_model)
    assert found is not None and found[0].native is not None
    monkeypatch.setenv("TESSERA_AMX", "0")  # PyTorch's int4 kernel: the Python pass
    int4 = lean_model(load_model(weights="q4_1").model)
    assert int4 is not None and int4[0].native is None
    monkeypatch.delenv("TESSERA_AMX")
    bf16 = lean_model(load_model().model)
    assert bf16 is not None and bf16[0].native is None
