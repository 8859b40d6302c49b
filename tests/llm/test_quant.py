"""Int4 linears on a GGUF file's own Q4_1 blocks (``weights="q4_1"``)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
gguf = pytest.importorskip("gguf")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from _q4_blocks import random_q4_1  # noqa: E402
from tessera.errors import InvalidInputError  # noqa: E402
from tessera.llm import _amx  # noqa: E402
from tessera.llm._quant import (  # noqa: E402
    GROUP_SIZE,
    Int4Linear,
    _gguf_tensors,
    _unpermute_rows,
    check_weights,
    read_q4_1,
)


def q4_1_bytes(values: np.ndarray, scales: np.ndarray, minimums: np.ndarray) -> np.ndarray:
    """Q4_1 blocks as ggml writes them (d, m, then 16 bytes: low nibbles first half)."""
    rows, columns = values.shape
    blocks = values.reshape(rows, columns // GROUP_SIZE, GROUP_SIZE).astype(np.uint8)
    nibbles = blocks[..., :16] | (blocks[..., 16:] << 4)
    head = np.concatenate(
        [
            scales.astype(np.float16)[..., None].view(np.uint8),
            minimums.astype(np.float16)[..., None].view(np.uint8),
        ],
        axis=-1,
    )
    return np.concatenate([head, nibbles], axis=-1).reshape(rows, -1)


#: The kernels an int4 linear can run on: PyTorch's int4 layout everywhere, the AMX
#: kernel (tessera.llm._amx, tested in test_amx.py) where the machine has it.
KERNELS = [
    "int4pack",
    pytest.param(
        "amx",
        marks=pytest.mark.skipif(
            not _amx.available(), reason=f"no AMX kernel here: {_amx.unavailable_reason()}"
        ),
    ),
]


def int4(
    values: np.ndarray, scales: np.ndarray, minimums: np.ndarray, kernel: str = "int4pack"
) -> Any:
    """An int4 linear on ``kernel`` (PyTorch's int4 layout unless ``"amx"``)."""
    with pytest.MonkeyPatch.context() as patch:
        if kernel != "amx":
            patch.setenv("TESSERA_AMX", "0")
        layer = Int4Linear(values, scales, minimums, torch.bfloat16)
    assert layer.amx == (kernel == "amx")
    return layer


@settings(max_examples=25, deadline=None)
@given(
    rows=st.integers(1, 6),
    blocks=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
)
def test_read_q4_1_matches_ggufs_own_dequantize(rows: int, blocks: int, seed: int) -> None:
    values, scales, minimums = random_q4_1(rows, blocks * GROUP_SIZE, seed)
    raw = q4_1_bytes(values, scales, minimums)
    got_values, got_scales, got_minimums = read_q4_1(raw, rows, blocks * GROUP_SIZE)
    assert np.array_equal(got_values, values)
    assert np.array_equal(got_scales, scales) and np.array_equal(got_minimums, minimums)
    reference = gguf.quants.dequantize(raw, gguf.GGMLQuantizationType.Q4_1)
    ours = (
        got_values.reshape(rows, blocks, GROUP_SIZE) * got_scales[..., None].astype(np.float32)
        + got_minimums[..., None].astype(np.float32)
    ).reshape(rows, -1)
    assert np.array_equal(ours, reference.reshape(ours.shape))


def test_read_q4_1_refuses_a_partial_block() -> None:
    with pytest.raises(InvalidInputError, match="columns"):
        read_q4_1(np.zeros(40, dtype=np.uint8), 2, 20)


def test_unpermute_rows_is_transformers_reverse_permutation() -> None:
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    rows = np.arange(48 * 3).reshape(48, 3)
    reverse = LlamaTensorProcessor(config={})._reverse_permute_weights
    assert np.array_equal(_unpermute_rows(rows, 4), reverse(rows, 4))


def dequantized_bf16_scales(values: np.ndarray, scales: np.ndarray, minimums: np.ndarray) -> Any:
    """The weights the kernel holds: ``(q - 8) * bf16(d) + bf16(m + 8 d)``, in float64."""
    d = torch.from_numpy(scales.astype(np.float32))
    zero = (torch.from_numpy(minimums.astype(np.float32)) + 8 * d).to(torch.bfloat16).double()
    d = d.to(torch.bfloat16).double()
    q = torch.from_numpy(values.astype(np.float64)).view(values.shape[0], -1, GROUP_SIZE)
    return ((q - 8) * d[..., None] + zero[..., None]).view(values.shape)


@pytest.mark.parametrize("shape", [(64, 64), (96, 192), (576, 1536)])
def test_int4_linear_against_float64_brute_force(shape: tuple[int, int]) -> None:
    torch.set_num_threads(1)
    values, scales, minimums = random_q4_1(*shape, seed=sum(shape))
    layer = int4(values, scales, minimums)
    x = torch.randn(5, shape[1], dtype=torch.bfloat16, generator=torch.Generator().manual_seed(0))
    got = layer(x).double()
    expected = x.double() @ dequantized_bf16_scales(values, scales, minimums).T
    # float32 accumulation, one bf16 rounding of the result (2**-8 relative)
    assert torch.allclose(got, expected, rtol=2**-7, atol=1e-3 * float(expected.abs().max()))
    assert layer(x[None]).shape == (1, 5, shape[0])


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("threads", [1, 2])
@settings(max_examples=15, deadline=None)
@given(count=st.integers(1, 40), seed=st.integers(0, 1000))
def test_a_rows_result_does_not_depend_on_the_other_rows(
    kernel: str, threads: int, count: int, seed: int
) -> None:
    """Batch invariance with no padding: every row alone equals the same row in any batch."""
    torch.set_num_threads(threads)
    try:
        layer = _big_layer(kernel)
        x = torch.randn(
            count, 1536, dtype=torch.bfloat16, generator=torch.Generator().manual_seed(seed)
        )
        together = layer(x)
        for i in range(count):
            assert torch.equal(layer(x[i : i + 1]), together[i : i + 1])
        assert torch.equal(layer(x[: (count + 1) // 2]), together[: (count + 1) // 2])
    finally:
        torch.set_num_threads(1)


_LAYERS: dict[str, Any] = {}


def _big_layer(kernel: str) -> Any:
    """SmolLM2's down_proj shape (1536 in, 576 out), built once per kernel."""
    if kernel not in _LAYERS:
        _LAYERS[kernel] = int4(*random_q4_1(576, 1536, seed=7), kernel=kernel)
    return _LAYERS[kernel]


def test_check_weights_names_the_argument_value_and_fix() -> None:
    assert check_weights("q4_1") == "q4_1"
    with pytest.raises(InvalidInputError, match=r"weights.*'int3'.*one of 'bf16', 'q4_1'.*Pass"):
        check_weights("int3")


def test_load_model_refuses_q4_1_for_a_model_without_a_gguf_file(tiny_llama: Any) -> None:
    from tessera.llm import load_model

    with pytest.raises(InvalidInputError, match=r"weights.*'q4_1'.*not one.*\.gguf"):
        load_model(tiny_llama.folder, weights="q4_1")
    with pytest.raises(InvalidInputError, match=r"dtype.*'float32'.*bfloat16"):
        load_model(tiny_llama.folder, dtype="float32", weights="q4_1")


def test_load_refuses_an_unknown_weight_format() -> None:
    from tessera.llm import load

    with pytest.raises(InvalidInputError, match=r"weights.*'int8'"):
        load(weights="int8")


def test_gguf_header_reader_agrees_with_ggufs_reader(default_gguf: Path) -> None:
    reader = gguf.GGUFReader(str(default_gguf))
    ours = _gguf_tensors(default_gguf)
    assert len(ours) == len(reader.tensors)
    for tensor in reader.tensors:
        kind, dims, offset = ours[tensor.name]
        assert kind == int(tensor.tensor_type)
        assert dims == tuple(int(n) for n in tensor.shape)
        assert offset == int(tensor.data_offset)


@pytest.fixture(scope="module", params=KERNELS)
def q4_runtime(request: pytest.FixtureRequest, default_gguf: Path) -> Any:
    """The default model on q4_1 weights, on each kernel this machine has."""
    from tessera.llm import load

    with pytest.MonkeyPatch.context() as patch:
        if request.param != "amx":
            patch.setenv("TESSERA_AMX", "0")
        return load(threads=1, weights="q4_1")


def test_default_model_q4_1_blocks_are_the_bf16_models_weights(
    q4_runtime: Any, bf16_runtime: Any, default_gguf: Path
) -> None:
    """The blocks read (and un-permuted) de-quantise to exactly the converted bf16 weights."""
    tensors = _gguf_tensors(default_gguf)
    file = np.memmap(default_gguf, dtype=np.uint8, mode="r")
    bf16_model = bf16_runtime.model
    for index in (0, 14, 29):
        for path, name, heads in (
            ("self_attn.q_proj", "attn_q", 9),
            ("self_attn.k_proj", "attn_k", 3),
            ("mlp.down_proj", "ffn_down", None),
        ):
            weight = bf16_model.model.layers[index].get_submodule(path).weight
            _, dims, offset = tensors[f"blk.{index}.{name}.weight"]
            rows, columns = dims[1], dims[0]
            raw = file[offset : offset + rows * columns // GROUP_SIZE * 20]
            parts = read_q4_1(raw, rows, columns)
            if heads:
                parts = tuple(_unpermute_rows(a, heads) for a in parts)
            values, scales, minimums = parts
            w = values.reshape(rows, -1, GROUP_SIZE) * scales[..., None].astype(np.float32)
            w = w + minimums[..., None].astype(np.float32)
            assert torch.equal(
                torch.from_numpy(w.reshape(rows, columns)).to(torch.bfloat16), weight
            )
            # and the int4 module of the q4_1 model computes with those blocks (the AMX
            # kernel's arithmetic is checked on them in test_amx.py)
            layer = q4_runtime.model.model.layers[index].get_submodule(path)
            if layer.amx:
                continue
            x = torch.randn(3, columns, dtype=torch.bfloat16)
            expected = x.double() @ dequantized_bf16_scales(values, scales, minimums).T
            assert torch.allclose(layer(x).double(), expected, rtol=2**-7, atol=1e-3)


def test_q4_1_model_keeps_no_bf16_copy_of_its_linears(q4_runtime: Any) -> None:
    model = q4_runtime.model
    linears = [m for m in model.model.modules() if isinstance(m, torch.nn.Linear)]
    assert linears == []  # all 210 decoder linears are int4
    int4_bytes = sum(b.numel() * b.element_size() for b in model.model.buffers())
    bf16_linear_bytes = 30 * 2 * (576 * 576 * 2 + 576 * 192 * 2 + 3 * 576 * 1536)
    assert int4_bytes < 0.35 * bf16_linear_bytes


def test_q4_1_greedy_medusa_equals_q4_1_plain_greedy(q4_runtime: Any) -> None:
    from tessera.llm.medusa import heldout_prompts

    for prompt in heldout_prompts(12)[:3]:
        plain = q4_runtime.generate(prompt, max_new_tokens=48, medusa=False)
        medusa = q4_runtime.generate(prompt, max_new_tokens=48)
        assert medusa.text == plain.text


def test_q4_1_concurrent_medusa_equals_solo(q4_runtime: Any) -> None:
    from tessera.llm._batching import ForwardBatcher
    from tessera.llm.medusa import heldout_prompts

    prompts = heldout_prompts(12)[3:6]

    def decode(prompt: Any) -> list[int]:
        return [t for step in q4_runtime.token_stream(prompt, max_new_tokens=40) for t in step]

    alone = [decode(prompt) for prompt in prompts]
    results: list[Any] = [None] * len(prompts)
    batcher = ForwardBatcher(q4_runtime.model, max_wait=30.0, draft_limit=len(prompts))
    start = threading.Barrier(len(prompts))

    def work(i: int) -> None:
        start.wait()
        with batcher.session():
            results[i] = decode(prompts[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(prompts))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    finally:
        batcher.close()
    assert results == alone
    assert batcher.rounds < batcher.passes


def test_q4_1_runtime_rebuilds_the_heads_tree_for_its_cost_curve(
    q4_runtime: Any, bf16_runtime: Any
) -> None:
    from tessera.llm._runtime import (
        DEFAULT_LOOKUP_TOKENS,
        DEFAULT_LOOKUP_TOKENS_Q4_1,
        DEFAULT_TREE_NODES_Q4_1,
        DEFAULT_TREE_NODES_Q4_1_AMX,
        default_heads_folder,
        prepare_heads,
    )

    # on the AMX kernel the root alone (drafted chains only), elsewhere a small tree
    amx = q4_runtime.model.model.layers[0].mlp.down_proj.amx
    nodes = DEFAULT_TREE_NODES_Q4_1_AMX if amx else DEFAULT_TREE_NODES_Q4_1
    assert q4_runtime.tree.num_nodes == nodes + 1  # and the root
    # the drafted chain is shorter for q4_1's cost curve, unless asked for
    assert q4_runtime.lookup_tokens == DEFAULT_LOOKUP_TOKENS_Q4_1 < DEFAULT_LOOKUP_TOKENS
    assert bf16_runtime.lookup_tokens == DEFAULT_LOOKUP_TOKENS
    folder = default_heads_folder()
    model = q4_runtime.model
    _, saved = prepare_heads(model, folder, None, 1)
    _, rebuilt = prepare_heads(model, folder, None, 1, default_nodes=2)
    _, asked = prepare_heads(model, folder, 4, 1, default_nodes=2)
    assert (rebuilt.num_nodes, asked.num_nodes) == (3, 5)  # tree_nodes= still wins
    assert saved.num_nodes != rebuilt.num_nodes
    _, root = prepare_heads(model, folder, 0, 1)  # tree_nodes=0: the root alone
    assert root.num_nodes == 1


@pytest.mark.parametrize("kernel", KERNELS)
def test_fused_int4_linears_equal_each_linear_and_share_its_blocks(kernel: str) -> None:
    """q, k and v fused into one product: the same columns, bit for bit, on the same bytes."""
    from tessera.llm._quant import _fuse

    owner = torch.nn.Module()
    names = ("q_proj", "k_proj", "v_proj")
    for seed, (name, rows) in enumerate(zip(names, (128, 64, 64), strict=True)):
        setattr(owner, name, int4(*random_q4_1(rows, 64, seed), kernel=kernel))
    x = torch.randn(7, 64, generator=torch.Generator().manual_seed(3)).to(torch.bfloat16)
    separate = [getattr(owner, name)(x) for name in names]
    _fuse(owner, names, "_fused")
    fused = owner.__dict__["_fused"]
    assert "_fused" not in dict(owner.named_modules())  # not a second set of weights
    assert torch.equal(fused(x), torch.cat(separate, dim=-1))
    for count in (1, 2, 5):
        assert torch.equal(fused(x[:count]), torch.cat(separate, dim=-1)[:count])
    start = 0
    for name in names:
        linear = getattr(owner, name)
        assert (
            linear.packed.untyped_storage().data_ptr() == fused.packed.untyped_storage().data_ptr()
        )
        assert torch.equal(linear(x), separate[names.index(name)])
        start += linear.out_features
    assert start == fused.out_features


def test_int4_linears_of_partial_packing_blocks_are_not_fused() -> None:
    """The CPU packing interleaves rows in blocks of 64: 96 + 32 rows stay separate."""
    from tessera.llm._quant import _fuse

    owner = torch.nn.Module()
    owner.a = int4(*random_q4_1(96, 64, 0))
    owner.b = int4(*random_q4_1(32, 64, 1))
    _fuse(owner, ("a", "b"), "_fused")
    assert "_fused" not in owner.__dict__


@pytest.mark.parametrize("kernel", KERNELS)
def test_linears_on_different_kernels_are_not_fused(kernel: str) -> None:
    from tessera.llm._quant import _fuse

    owner = torch.nn.Module()
    owner.a = int4(*random_q4_1(64, 64, 0), kernel=kernel)
    owner.b = int4(*random_q4_1(64, 64, 1))
    _fuse(owner, ("a", "b"), "_fused")
    assert ("_fused" in owner.__dict__) == (kernel == "int4pack")


@pytest.mark.skipif(not _amx.available(), reason=f"no AMX kernel here: {_amx.unavailable_reason()}")
def test_amx_packing_is_cached_and_read_back_bit_for_bit(
    default_gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first q4_1 load packs the GGUF's blocks and caches the packing; the next reads
    it instead of the file's blocks and gets the same buffers; a damaged cache file is
    packed again and rewritten."""
    from tessera.llm import _quant
    from tessera.llm._model import load_model

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cached = _quant.packed_cache_path(default_gguf)
    assert cached.parent == tmp_path / "tessera" and not cached.exists()
    packed = load_model(weights="q4_1").model
    assert cached.is_file()

    def refuse(path: Path) -> None:
        raise AssertionError("the GGUF's blocks were read although a packing is cached")

    with monkeypatch.context() as patch:
        patch.setattr(_quant, "_gguf_tensors", refuse)
        read = load_model(weights="q4_1").model
    assert read._tessera_weights == "q4_1"
    assert_same_int4_model(read, packed)

    cached.write_bytes(cached.read_bytes()[:1000])  # cut short
    repacked = load_model(weights="q4_1").model
    assert_same_int4_model(repacked, packed)
    assert cached.stat().st_size > 1000  # written again


def assert_same_int4_model(model: Any, reference: Any) -> None:
    """Every int4 linear (fused ones too) and the lm_head hold the same packed blocks."""
    from tessera.llm._quant import FUSED_GATE_UP, FUSED_QKV

    for layer, theirs in zip(model.model.layers, reference.model.layers, strict=True):
        for path in ("self_attn.q_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.down_proj"):
            mine, other = layer.get_submodule(path), theirs.get_submodule(path)
            assert mine.amx and torch.equal(mine.packed, other.packed)
        for owner, name in (("self_attn", FUSED_QKV), ("mlp", FUSED_GATE_UP)):
            fused = getattr(layer, owner).__dict__[name]
            assert torch.equal(fused.packed, getattr(theirs, owner).__dict__[name].packed)
        # the linears' blocks are views of the fused ones (one copy)
        q_proj = layer.self_attn.q_proj.packed
        assert q_proj.data_ptr() == layer.self_attn.__dict__[FUSED_QKV].packed.data_ptr()
    head, other_head = model.get_output_embeddings(), reference.get_output_embeddings()
    assert type(head).__name__ == "Q8Linear" and torch.equal(head.packed, other_head.packed)
