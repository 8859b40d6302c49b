"""The compiled bf16 attention (``tessera.llm._attention``): against a float64 reference,
and row by row independent of the rest of the pass, bit for bit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tessera.llm._attention import append_attend, attend  # noqa: E402

BLOCKED = float(torch.finfo(torch.bfloat16).min)
NONE = np.zeros((0, 0))


def bf16_bits(x: Any) -> np.ndarray:
    """uint16 bits of a float tensor rounded to bf16 (and the rounded values' bits only)."""
    out: np.ndarray = x.to(torch.bfloat16).contiguous().view(torch.uint16).numpy()
    return out


def values_of(bits: np.ndarray) -> np.ndarray:
    """float64 values of bf16 bits."""
    return (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def reference(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None, scaling: float
) -> np.ndarray:
    """Textbook grouped-query attention in float64 with numpy: (n, heads, dim) out."""
    n, heads, dim = q.shape
    kv_heads = k.shape[0]
    groups = heads // kv_heads
    out = np.empty((n, heads, dim))
    for h in range(heads):
        g = h // groups
        scores = q[:, h] @ k[g].T * scaling
        if mask is not None:
            scores = scores + mask
        weights = np.exp(scores - scores.max(axis=1, keepdims=True))
        weights /= weights.sum(axis=1, keepdims=True)
        out[:, h] = weights @ v[g]
    return out


@st.composite
def passes(draw: Any) -> dict[str, Any]:
    kv_heads = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    dim = draw(st.sampled_from([2, 8, 16, 64]))
    size = draw(st.integers(1, 12))
    past = draw(st.integers(0, 40))
    seed = draw(st.integers(0, 2**16))
    masked = draw(st.booleans())
    return {
        "kv_heads": kv_heads,
        "heads": kv_heads * groups,
        "dim": dim,
        "size": size,
        "past": past,
        "seed": seed,
        "masked": masked,
    }


def make_pass(spec: dict[str, Any]) -> dict[str, Any]:
    generator = torch.Generator().manual_seed(spec["seed"])
    n, length = spec["size"], spec["past"] + spec["size"]
    q = bf16_bits(torch.randn(n, spec["heads"], spec["dim"], generator=generator) * 2)
    k = bf16_bits(torch.randn(spec["kv_heads"], length, spec["dim"], generator=generator) * 2)
    v = bf16_bits(torch.randn(spec["kv_heads"], length, spec["dim"], generator=generator))
    if spec["masked"]:  # a random tree's mask over the new positions, the past all visible
        rng = np.random.default_rng(spec["seed"])
        seen = np.eye(n, dtype=bool)
        for i in range(1, n):
            seen[i] |= seen[int(rng.integers(0, i))]
        mask = np.zeros((n, length))
        mask[:, spec["past"] :] = np.where(seen, 0.0, BLOCKED)
    else:
        mask = None
    return {"q": q, "k": k, "v": v, "mask": mask, "n": n, "length": length}


def run(made: dict[str, Any], scaling: float, *, causal: bool = False) -> np.ndarray:
    out = np.full((made["n"],) + made["q"].shape[1:], np.nan)
    mask = NONE if made["mask"] is None else made["mask"]
    q, k, v = made["q"], made["k"], made["v"]
    attend(q, 0, made["n"], k, v, made["length"], mask, causal, scaling, out)
    return out


@settings(max_examples=60, deadline=None)
@given(spec=passes(), scaling=st.sampled_from([0.125, 0.1, 1.0]))
def test_attention_matches_a_float64_reference(spec: dict[str, Any], scaling: float) -> None:
    made = make_pass(spec)
    got = run(made, scaling)
    expected = reference(
        values_of(made["q"]), values_of(made["k"]), values_of(made["v"]), made["mask"], scaling
    )
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-13)


@settings(max_examples=40, deadline=None)
@given(spec=passes())
def test_causal_rule_equals_the_causal_mask(spec: dict[str, Any]) -> None:
    made = make_pass({**spec, "masked": False})
    n, past = made["n"], spec["past"]
    causal = np.where(np.tri(n, dtype=bool), 0.0, BLOCKED)
    mask = np.zeros((n, made["length"]))
    mask[:, past:] = causal
    masked = run({**made, "mask": mask}, 0.125)
    ruled = run(made, 0.125, causal=True)
    assert np.array_equal(masked, ruled)


@settings(max_examples=40, deadline=None)
@given(spec=passes())
def test_a_row_is_the_same_bits_alone_as_in_any_pass(spec: dict[str, Any]) -> None:
    """Each row of a (tree) pass equals, in float64 bits, the same query attending alone to
    exactly the keys it sees, in order, with the masked ones removed (sequential decoding)."""
    made = make_pass(spec)
    together = run(made, 0.125)
    for r in range(made["n"]):
        seen = (
            np.ones(made["length"], dtype=bool) if made["mask"] is None else made["mask"][r] == 0.0
        )
        alone = {
            "q": made["q"][r : r + 1],
            "k": np.ascontiguousarray(made["k"][:, seen]),
            "v": np.ascontiguousarray(made["v"][:, seen]),
            "mask": None,
            "n": 1,
            "length": int(seen.sum()),
        }
        assert np.array_equal(run(alone, 0.125)[0], together[r]), f"row {r}"


def test_append_attend_writes_each_generations_rows_at_the_end_of_its_cache() -> None:
    """One layer of a pass of two generations in one call: generation 0 owns row 0 (one
    token under an explicit mask), generation 1 rows 1..2 (two tokens, causal); each
    one's keys and values land after its own cache, and each row is its solo attention."""
    from numba.typed import List

    made = make_pass(
        {"kv_heads": 2, "heads": 6, "dim": 8, "size": 3, "past": 5, "seed": 1, "masked": False}
    )
    other = make_pass(
        {"kv_heads": 2, "heads": 6, "dim": 8, "size": 1, "past": 3, "seed": 2, "masked": False}
    )
    capacity, layers, layer = 16, 3, 1
    buffers = [np.zeros((layers, 2, 2, capacity, 8), np.uint16) for _ in range(2)]
    buffers[0][layer, 0, :, :3], buffers[0][layer, 1, :, :3] = other["k"][:, :3], other["v"][:, :3]
    buffers[1][layer, 0, :, :5], buffers[1][layer, 1, :, :5] = made["k"][:, :5], made["v"][:, :5]

    def new_rows(part: dict[str, Any], key: str, past: int, count: int) -> np.ndarray:
        return np.ascontiguousarray(part[key][:, past : past + count].transpose(1, 0, 2))

    queries = np.concatenate([other["q"][:1], made["q"][:2]])
    new_keys = np.concatenate([new_rows(other, "k", 3, 1), new_rows(made, "k", 5, 2)])
    new_values = np.concatenate([new_rows(other, "v", 3, 1), new_rows(made, "v", 5, 2)])
    mask = np.zeros((1, 4))
    mask[0, 1] = BLOCKED  # generation 0's row does not see its second cached position
    out = np.full((3, 6, 8), np.nan)
    append_attend(
        queries,
        new_keys,
        new_values,
        layer,
        List(buffers),
        np.array([0, 1, 3]),
        np.array([3, 5]),
        np.array([-1, -1]),
        mask.reshape(-1),
        np.array([0, -1]),
        0.125,
        out,
    )
    assert np.array_equal(buffers[0][layer, 0, :, :4], other["k"][:, :4])
    assert np.array_equal(buffers[0][layer, 1, :, :4], other["v"][:, :4])
    assert np.array_equal(buffers[1][layer, 0, :, :7], made["k"][:, :7])
    assert np.array_equal(buffers[1][layer, 1, :, :7], made["v"][:, :7])
    assert not buffers[1][layer, :, :, 7:].any() and not buffers[0][layer, :, :, 4:].any()
    assert not buffers[0][[0, 2]].any() and not buffers[1][[0, 2]].any()  # other layers
    single = {"q": other["q"][:1], "k": other["k"][:, :4], "v": other["v"][:, :4]}
    assert np.array_equal(out[0], run({**single, "mask": mask, "n": 1, "length": 4}, 0.125)[0])
    # rows 1 and 2 are generation 1's new tokens 0 and 1 under the causal rule
    for r in range(2):
        causal = np.zeros((1, 7))
        causal[0, 5 + r + 1 :] = BLOCKED
        single = {
            "q": made["q"][r : r + 1],
            "k": made["k"][:, :7],
            "v": made["v"][:, :7],
            "mask": causal,
            "n": 1,
            "length": 7,
        }
        assert np.array_equal(out[1 + r], run(single, 0.125)[0])
