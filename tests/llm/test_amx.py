"""The AMX kernel: Q4_1 weights times bf16 rows, Q8_0 weights times int8 planes of them."""

from __future__ import annotations

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
from tessera.llm._quant import GROUP_SIZE, _gguf_tensors, read_q8_0  # noqa: E402

needs_amx = pytest.mark.skipif(
    not _amx.available(), reason=f"no AMX kernel here: {_amx.unavailable_reason()}"
)


def random_q8_0(rows: int, columns: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    values = rng.integers(-127, 128, size=(rows, columns), dtype=np.int8)
    scales = (rng.random((rows, columns // GROUP_SIZE)) * 0.002 + 1e-5).astype(np.float16)
    return values, scales


def quantized_rows(x: Any) -> np.ndarray:
    """The rows as the Q8_0 route sees them, in float64: per row and block of 32, with
    ``s = x * (127 / max|x|)`` in float32, ``q = round(s)`` and
    ``r = min(round((s - q) * 256), 127)`` (ties to even), ``x ~ max|x| / 127 * (q + r / 256)``."""
    rows = x.float().numpy().reshape(x.shape[0], -1, GROUP_SIZE)
    amax = np.abs(rows).max(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse = np.where(amax > 0, np.float32(127) / amax, np.float32(0)).astype(np.float32)
        scaled = (rows * inverse).astype(np.float32)
        q = np.rint(scaled)
        r = np.minimum(np.rint((scaled - q) * np.float32(256)), 127)
    d = amax.astype(np.float64) / 127
    return ((q + r / 256) * d).reshape(x.shape)


def q4_1_weights(values: np.ndarray, scales: np.ndarray, minimums: np.ndarray) -> np.ndarray:
    rows = values.shape[0]
    w = values.reshape(rows, -1, GROUP_SIZE) * scales[..., None].astype(np.float64)
    return (w + minimums[..., None].astype(np.float64)).reshape(values.shape)


def q8_0_weights(values: np.ndarray, scales: np.ndarray) -> np.ndarray:
    rows = values.shape[0]
    w = values.reshape(rows, -1, GROUP_SIZE).astype(np.float64) * scales[..., None]
    return w.reshape(values.shape)


@needs_amx
@pytest.mark.parametrize("shape", [(16, 32), (96, 192), (576, 1536), (960, 576)])
def test_q4_1_product_against_float64_brute_force(shape: tuple[int, int]) -> None:
    torch.set_num_threads(1)
    values, scales, minimums = random_q4_1(*shape, seed=sum(shape))
    packed = _amx.pack(values, scales, minimums)
    x = torch.randn(21, shape[1], generator=torch.Generator().manual_seed(0)).bfloat16()
    got = _amx.product(x, packed).double().numpy()
    expected = x.double().numpy() @ q4_1_weights(values, scales, minimums).T
    # float32 products and sums (the 128 + q offset taken back per block), one bf16
    # rounding of the result (2**-9 relative)
    assert np.allclose(got, expected, rtol=2**-7, atol=2e-3 * np.abs(expected).max())


@needs_amx
@pytest.mark.parametrize("shape", [(16, 32), (48, 576), (3072, 576)])
def test_q8_0_product_against_float64_on_the_quantized_rows(shape: tuple[int, int]) -> None:
    torch.set_num_threads(1)
    values, scales = random_q8_0(*shape, seed=sum(shape))
    packed = _amx.pack_q8_0(values, scales)
    x = torch.randn(17, shape[1], generator=torch.Generator().manual_seed(1)).bfloat16()
    got = _amx.product(x, packed).double().numpy()
    expected = quantized_rows(x) @ q8_0_weights(values, scales).T
    assert np.allclose(got, expected, rtol=2**-7, atol=1e-4 * np.abs(expected).max())


@needs_amx
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("q8", [False, True])
@settings(max_examples=12, deadline=None)
@given(count=st.integers(1, 50), seed=st.integers(0, 1000))
def test_a_rows_result_does_not_depend_on_the_other_rows(
    threads: int, q8: bool, count: int, seed: int
) -> None:
    """Batch invariance: every row alone equals itself in any batch, at any thread count
    (rows past 16 go to further tiles; a thread's share of outputs changes with threads)."""
    torch.set_num_threads(threads)
    try:
        packed = _packed(q8)
        x = torch.randn(count, 1536, generator=torch.Generator().manual_seed(seed)).bfloat16()
        together = _amx.product(x, packed)
        for i in range(count):
            assert torch.equal(_amx.product(x[i : i + 1], packed), together[i : i + 1])
        half = (count + 1) // 2
        assert torch.equal(_amx.product(x[half:], packed), together[half:])
        torch.set_num_threads(3 - threads)
        assert torch.equal(_amx.product(x, packed), together)
    finally:
        torch.set_num_threads(1)


_PACKED: dict[bool, Any] = {}


def _packed(q8: bool) -> Any:
    """SmolLM2's down_proj shape (1536 in, 576 out), packed once per format."""
    if q8 not in _PACKED:
        _PACKED[q8] = (
            _amx.pack_q8_0(*random_q8_0(576, 1536, seed=5))
            if q8
            else _amx.pack(*random_q4_1(576, 1536, seed=7))
        )
    return _PACKED[q8]


@needs_amx
def test_zero_rows_and_blocks_and_rows_of_extremes() -> None:
    packed = _amx.pack(*random_q4_1(32, 64, seed=2))
    x = torch.zeros(3, 64, dtype=torch.bfloat16)
    x[1, 32:] = torch.tensor(3e38).bfloat16()  # a block at bf16's largest finite numbers
    x[2, :32] = -1e-38  # and one of subnormal-size numbers
    got = _amx.product(x, packed)
    assert torch.equal(got[0], torch.zeros(32, dtype=torch.bfloat16))
    # 127 / max|x| overflows float32 for such a block: no infinity or garbage from it (the
    # exact products, about 1e-39, are below what float32 sums of scaled blocks keep)
    assert torch.isfinite(got[2]).all() and float(got[2].abs().max()) < 1e-30
    assert _amx.product(x[:0], packed).shape == (0, 32)


@needs_amx
@pytest.mark.parametrize("q8", [False, True])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_a_non_finite_activation_gives_a_non_finite_row_never_a_number(
    q8: bool, bad: float
) -> None:
    packed = _packed(q8)
    x = torch.randn(3, 1536, generator=torch.Generator().manual_seed(6)).bfloat16()
    x[1, 700] = bad
    got = _amx.product(x, packed)
    assert not torch.isfinite(got[1]).any()  # every output of that row
    assert torch.equal(got[[0, 2]], _amx.product(x[[0, 2]], packed))  # the others untouched


@needs_amx
def test_packings_of_linears_with_the_same_inputs_concatenate() -> None:
    parts = [random_q4_1(rows, 64, seed) for seed, rows in enumerate((32, 16, 48))]
    x = torch.randn(5, 64, generator=torch.Generator().manual_seed(4)).bfloat16()
    fused = torch.cat([_amx.pack(*part) for part in parts])
    separate = torch.cat([_amx.product(x, _amx.pack(*part)) for part in parts], dim=-1)
    assert torch.equal(_amx.product(x, fused), separate)


def test_pack_refuses_shapes_that_are_not_whole_tiles_and_blocks() -> None:
    with pytest.raises(InvalidInputError, match=r"values.*whole tiles of 16.*TESSERA_AMX=0"):
        _amx.pack(*random_q4_1(24, 64, seed=0))
    with pytest.raises(InvalidInputError, match=r"values.*whole blocks of 32"):
        _amx.pack_q8_0(np.zeros((16, 48), np.int8), np.zeros((16, 1), np.float16))


@needs_amx
def test_product_refuses_rows_of_another_width_or_dtype() -> None:
    packed = _amx.pack(*random_q4_1(16, 64, seed=0))
    with pytest.raises(InvalidInputError, match=r"rows.*bfloat16 rows of 64 inputs"):
        _amx.product(torch.zeros(2, 32, dtype=torch.bfloat16), packed)
    with pytest.raises(InvalidInputError, match=r"rows.*float32"):
        _amx.product(torch.zeros(2, 64), packed)


def test_switched_off_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_AMX", "0")
    assert not _amx.available()
    assert _amx.unavailable_reason() == "TESSERA_AMX=0 is set"


def test_read_q8_0_matches_ggufs_own_dequantize() -> None:
    values, scales = random_q8_0(3, 96, seed=9)
    blocks = values.reshape(3, 3, GROUP_SIZE).view(np.uint8)
    raw = np.concatenate([scales[..., None].view(np.uint8), blocks], axis=-1).reshape(3, -1)
    got_values, got_scales = read_q8_0(raw, 3, 96)
    assert np.array_equal(got_values, values) and np.array_equal(got_scales, scales)
    reference = gguf.quants.dequantize(raw, gguf.GGMLQuantizationType.Q8_0)
    ours = got_values.reshape(3, 3, GROUP_SIZE) * got_scales[..., None].astype(np.float32)
    assert np.array_equal(ours.reshape(3, -1), reference.reshape(3, -1))


@needs_amx
def test_q4_1_models_lm_head_runs_on_the_files_q8_0_blocks(
    default_gguf: Path, q4_runtime: Any
) -> None:
    model = q4_runtime.model
    head = model.get_output_embeddings()
    assert type(head).__name__ == "Q8Linear"
    # its weight is the token embedding's (tied, no copy) for code that reads it
    assert head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    kind, dims, offset = _gguf_tensors(default_gguf)["token_embd.weight"]
    rows, columns = dims[1], dims[0]
    file = np.memmap(default_gguf, dtype=np.uint8, mode="r")
    values, scales = read_q8_0(file[offset : offset + rows * columns // 32 * 34], rows, columns)
    chosen = np.arange(0, rows, 997)
    x = torch.randn(4, columns, generator=torch.Generator().manual_seed(8)).bfloat16()
    got = head(x).double().numpy()[:, chosen]
    expected = quantized_rows(x) @ q8_0_weights(values[chosen], scales[chosen]).T
    assert np.allclose(got, expected, rtol=2**-7, atol=1e-4 * np.abs(expected).max())


@pytest.fixture(scope="module")
def q4_runtime(default_gguf: Path) -> Any:
    from tessera.llm import load

    return load(threads=1, weights="q4_1")


@needs_amx
def test_q4_1_models_linears_run_on_the_files_blocks(default_gguf: Path, q4_runtime: Any) -> None:
    from tessera.llm._quant import _unpermute_rows, read_q4_1

    tensors = _gguf_tensors(default_gguf)
    file = np.memmap(default_gguf, dtype=np.uint8, mode="r")
    layers = q4_runtime.model.model.layers
    for index, path, name, heads in (
        (0, "self_attn.q_proj", "attn_q", 9),
        (14, "self_attn.k_proj", "attn_k", 3),
        (29, "mlp.down_proj", "ffn_down", None),
    ):
        _, dims, offset = tensors[f"blk.{index}.{name}.weight"]
        rows, columns = dims[1], dims[0]
        parts = read_q4_1(file[offset : offset + rows * columns // GROUP_SIZE * 20], rows, columns)
        if heads:
            parts = tuple(_unpermute_rows(a, heads) for a in parts)
        layer = layers[index].get_submodule(path)
        assert layer.amx
        x = torch.randn(3, columns, generator=torch.Generator().manual_seed(index)).bfloat16()
        expected = quantized_rows(x) @ q4_1_weights(*parts).T
        got = layer(x).double().numpy()
        assert np.allclose(got, expected, rtol=2**-7, atol=1e-4 * np.abs(expected).max())


def test_unpack_q8_0_is_pack_q8_0s_inverse() -> None:
    values, scales = random_q8_0(48, 96, seed=3)
    got_values, got_scales = _amx.unpack_q8_0(_amx.pack_q8_0(values, scales))
    assert np.array_equal(got_values, values) and np.array_equal(got_scales, scales)


@needs_amx
def test_the_heads_restricted_vocabulary_scores_as_the_whole_lm_head(q4_runtime: Any) -> None:
    """A Medusa head's restricted vocabulary on the Q8_0 lm_head: the same bits as those
    columns of the whole product (each output computed alone), so the same proposals."""
    head = q4_runtime.model.get_output_embeddings()
    ids = torch.tensor(
        [5, 17, 4000, 49151, 300, 301, 302, 9, 12345, 77, 78, 79, 80, 81, 82, 83, 84]
    )
    x = torch.randn(3, 576, generator=torch.Generator().manual_seed(2)).bfloat16()
    sub = head.rows(ids)(x)
    assert sub.shape == (3, 32)  # 17 rows padded to whole tiles with the last
    assert torch.equal(sub[:, : len(ids)], head(x)[:, ids])
    heads = q4_runtime.heads
    assert heads.token_map is not None
    hidden = torch.randn(576, generator=torch.Generator().manual_seed(3)).bfloat16()
    root = torch.randn(576, generator=torch.Generator().manual_seed(4)).bfloat16()
    proposed = heads.candidates(hidden, head, 4, root, count=2)
    transformed = heads.hidden(hidden, root, 2)
    full = head(transformed)[:, heads.token_map]
    assert torch.equal(proposed, heads.token_map[torch.topk(full, 4, dim=-1).indices])
