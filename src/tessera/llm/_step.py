"""A lean decoding pass for Llama-family models: the same bits with fewer Python layers.

A decoding step of a 135M model at batch size 1 is bound by per-operation overhead as much
as by its weights: transformers' forward goes through output-capturing decorators, mask
building, a module call per linear, norm and rotary embedding, keyword plumbing per layer
and the attention interface's lookups. :func:`lean_forward` runs the same operations in
the same order and dtypes, straight on the modules' tensors, for passes of up to
:data:`~tessera.llm._invariant.INVARIANT_MAX_QUERIES` tokens (decoding steps and Medusa
trees) of a batch-invariant model (:func:`~tessera.llm.make_batch_invariant`):

- the token embedding is a gather of its rows;
- the rotary cosines and sines are computed once per pass as ``LlamaRotaryEmbedding`` does;
- RMSNorm, residual additions, SiLU and the products are the same calls on the same
  dtypes; a product's input rows are padded to :data:`~tessera.llm._invariant.MIN_ROWS`
  once per layer input (q, k and v share one padded input) instead of once per linear,
  and bf16 products of many rows are cut where the machine's kernels would change path
  (:func:`~tessera.llm._invariant.invariant_product`);
  int4 linears (:mod:`tessera.llm._quant`) call their kernel directly, q, k and v as one
  product and gate and up as another where they were fused at load (the kernel computes
  each output column on its own, so the columns are the same bits), with the rotary
  embedding applied to q and k together; bf16 q, k and v (and gate and up) are one
  oneDNN product over their stacked weights where a once-per-shape check finds it gives
  the separate products' bits (:func:`~tessera.llm._invariant.fused_packed_weight`);
- attention is the compiled float64 attention of :mod:`tessera.llm._attention`, the
  kernel transformers' forward also reaches for bf16 passes (through
  :mod:`tessera.llm._invariant`); the pass's keys and values are written in place into
  buffers that grow by doubling, and the ``transformers.DynamicCache``'s layers hold
  views of them (:class:`_Slab`) instead of being concatenated anew at every pass.

Where every linear runs on the AMX Q4_1 kernel (:mod:`tessera.llm._amx`, q4_1 weights on
CPUs with AMX), the whole pass after the embedding and rotary angles runs in C
(:class:`tessera.llm._amx.LlamaDecoder`, ``_kernels/llama.c``): the same operations in the
same order and roundings (PyTorch's sum order for the norms, its SIMD exponential for
SiLU, the float64 attention above), without a Python operation per layer, which at one
row cost about as much as the layer's products.

So its hidden states equal transformers' forward bit for bit (``tests/llm/test_step.py``
compares them on decoding steps, prompts and Medusa trees, bf16 and q4_1), and everything
that reads the cache (tree pruning) is unchanged. :meth:`LeanLlama.forward_segments` runs
several generations' passes as one (the batched pass of :mod:`tessera.llm._batching`):
their rows share the products, each attends to its own cache. Models it does not cover
(other architectures, rotary scaling, other dtypes than bf16, linears that are neither
batch-invariant bf16 nor int4) keep transformers' forward.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from tessera.llm._invariant import (
    INVARIANT_MAX_QUERIES,
    _packed_weight,
    _row_invariant_linear,
    fused_packed_weight,
    invariant_product,
    is_batch_invariant,
    padded,
)
from tessera.llm._quant import FUSED_GATE_UP, FUSED_QKV
from tessera.llm._torch import require

if TYPE_CHECKING:
    import torch
    from torch import Tensor
    from transformers import DynamicCache

    from tessera.llm._amx import LlamaDecoder
else:
    torch = require("torch")

__all__ = [
    "LeanLlama",
    "Segment",
    "forget_lean",
    "lean_forward",
    "lean_model",
    "lean_segments",
    "settle",
]

_INT4, _BF16 = 0, 1
#: Where a layer's attention and MLP modules keep their stacked bf16 weights.
_BF16_QKV, _BF16_GATE_UP = "_tessera_bf16_qkv", "_tessera_bf16_gate_up"


def _attention() -> Any:
    """The compiled kernels (:mod:`tessera.llm._attention`; numba is imported on first use)."""
    from tessera.llm import _attention

    return _attention


#: The masks of a pass whose segments have none (causal where they have several rows).
_NO_MASKS = np.zeros(0)
#: Positions a generation's cache buffers start with (they double when full).
_FIRST_CAPACITY = 256


@dataclass
class Segment:
    """One generation's part of a pass: its tokens, cache and (Medusa tree) positions/mask.

    ``defer``: the cache's layers may keep their views of the positions before the pass
    (the pass's keys and values are in the cache buffer all the same); whoever reads the
    layers next calls :func:`settle` first. The batching engine defers while it decodes a
    generation on its own (nothing else reads that cache meanwhile).
    """

    tokens: Tensor
    cache: DynamicCache
    positions: Tensor | None = None
    mask: Tensor | None = None
    defer: bool = False


#: How each of a layer's seven linears runs (q, k, v, o, gate, up, down).
Kinds = tuple[int, int, int, int, int, int, int]


def _linear_kind(linear: Any) -> int | None:
    """How a linear of the decoder runs here: int4 kernel, padded bf16 product, or not."""
    if type(linear).__name__ == "Int4Linear" and hasattr(linear, "packed"):
        return _INT4
    forward = getattr(linear, "forward", None)
    if getattr(forward, "__func__", None) is _row_invariant_linear:
        return _BF16
    return None


class LeanLlama:
    """A Llama decoder's tensors, read once, and the pass over them.

    Built by :func:`lean_model` for a model it covers; :meth:`forward` is the pass.
    """

    def __init__(self, backbone: Any) -> None:
        config = backbone.config
        self.backbone = backbone
        self.heads = int(config.num_attention_heads)
        self.kv_heads = int(getattr(config, "num_key_value_heads", None) or self.heads)
        self.head_dim = int(
            getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        )
        self.layers = list(backbone.layers[: config.num_hidden_layers])
        self.embed = backbone.embed_tokens
        self.norm = backbone.norm
        self.rotary = backbone.rotary_emb
        self.dtype = self.embed.weight.dtype
        # int4 linears fused per input (tessera.llm._quant.use_gguf_int4), or None
        self.fused = [
            (
                layer.self_attn.__dict__.get(FUSED_QKV),
                layer.mlp.__dict__.get(FUSED_GATE_UP),
            )
            for layer in self.layers
        ]
        #: The whole pass in C where every linear runs on the AMX Q4_1 kernel, else None
        #: (tests set it to None to compare with the Python pass).
        self.native = self._native()

    def _native(self) -> LlamaDecoder | None:
        """The C pass (:class:`tessera.llm._amx.LlamaDecoder`) over this decoder, or None
        unless every linear runs on the AMX Q4_1 kernel, fused as :func:`use_gguf_int4`
        fuses them (q, k and v; gate and up), with one norm epsilon and attention scale."""
        from tessera.llm import _amx

        tensors = []
        epsilons: set[float] = set()
        scalings: set[float] = set()
        for layer, (qkv, gate_up) in zip(self.layers, self.fused, strict=True):
            attn, mlp = layer.self_attn, layer.mlp
            linears = (qkv, attn.o_proj, gate_up, mlp.down_proj)
            if not all(
                linear is not None and _linear_kind(linear) == _INT4 and linear.amx
                for linear in linears
            ):
                return None
            norms = (layer.input_layernorm, layer.post_attention_layernorm)
            epsilons.update(norm.variance_epsilon for norm in norms)
            scalings.add(attn.scaling)
            tensors.append(
                (
                    norms[0].weight,
                    qkv.packed,
                    attn.o_proj.packed,
                    norms[1].weight,
                    gate_up.packed,
                    mlp.down_proj.packed,
                )
            )
        epsilons.add(self.norm.variance_epsilon)
        if len(epsilons) != 1 or len(scalings) != 1:
            return None
        return _amx.llama_decoder(
            tensors,
            self.norm.weight,
            heads=self.heads,
            kv_heads=self.kv_heads,
            head_dim=self.head_dim,
            eps=float(epsilons.pop()),
            scaling=float(scalings.pop()),
        )

    def _rows(self, x: Tensor, kind: int) -> Tensor:
        """``x`` (n, in) made ready for a product: padded to MIN_ROWS rows for bf16."""
        rows: Tensor = padded(x) if kind == _BF16 else x
        return rows.contiguous()

    @staticmethod
    def _product(rows: Tensor, linear: Any, kind: int) -> Tensor:
        """``linear`` on prepared rows (all of them, padding included)."""
        if kind == _INT4:
            out: Tensor = linear.product(rows)
            return out
        packed = _packed_weight(linear, linear.weight)
        if packed is None:
            out = torch.nn.functional.linear(rows, linear.weight, linear.bias)
            return out
        out = invariant_product(rows, packed, linear.bias)
        return out

    @staticmethod
    def _stacked(rows: Tensor, packed: Any) -> Tensor:
        """Several bias-free bf16 linears in one product (:func:`fused_packed_weight`)."""
        out: Tensor = invariant_product(rows, packed)
        return out

    @staticmethod
    def _rms(x: Tensor, norm: Any) -> Tensor:
        """``LlamaRMSNorm`` of ``x`` (the same operations, in the same dtypes)."""
        hidden = x.to(torch.float32)
        variance = hidden.pow(2).mean(-1, keepdim=True)
        hidden = hidden * torch.rsqrt(variance + norm.variance_epsilon)
        out: Tensor = norm.weight * hidden.to(x.dtype)
        return out

    def forward(
        self,
        tokens: Tensor,
        cache: DynamicCache,
        positions: Tensor | None,
        mask: Tensor | None,
        kinds: list[Kinds],
    ) -> Tensor:
        """Hidden states (after the final norm), shape (n, hidden), of ``tokens`` (n,)."""
        return self.forward_segments([Segment(tokens, cache, positions, mask)], kinds)

    def forward_segments(self, segments: list[Segment], kinds: list[Kinds]) -> Tensor:
        """Hidden states of several generations' passes run as one (packed) pass.

        Every row of every segment goes through the same products, norms and rotary
        embedding (row by row the same bits: the products are batch-invariant); each
        segment attends to its own cache with its own mask. Returns ``(sum n, hidden)``,
        the segments' rows in order; with one segment it is :meth:`forward`.
        """
        sizes = [int(segment.tokens.shape[0]) for segment in segments]
        slabs = _Slabs(self, segments, sizes)
        pasts = slabs.pasts.tolist()
        # a prompt that starts like an earlier segment's prompt computes only the rest
        counts = [size - shared for size, shared in zip(sizes, slabs.shared, strict=True)]
        n = sum(counts)
        each = [
            torch.arange(past, past + count)
            if segment.positions is None
            else segment.positions.view(-1)
            for count, past, segment in zip(counts, pasts, segments, strict=True)
        ]
        positions = each[0] if len(each) == 1 else torch.cat(each)
        tokens = (
            segments[0].tokens
            if len(segments) == 1
            else torch.cat(
                [
                    segment.tokens.view(-1)[shared:]
                    for segment, shared in zip(segments, slabs.shared, strict=True)
                ]
            )
        )
        # LlamaRotaryEmbedding.forward (default rope): float32 angles, cast to the dtype
        rotary = self.rotary
        freqs = positions[:, None].float() * rotary.inv_freq.to(dtype=torch.float)[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos = (emb.cos() * rotary.attention_scaling).to(self.dtype)[:, None, :]
        sin = (emb.sin() * rotary.attention_scaling).to(self.dtype)[:, None, :]
        x = self.embed.weight[tokens]
        if self.native is not None:
            hidden = self.native.run(
                x,
                cos.view(n, -1),
                sin.view(n, -1),
                [slab.buffer for slab in slabs.slabs],
                slabs.starts,
                slabs.pasts,
                slabs.sources,
                slabs.masks,
                slabs.mask_starts,
            )
        else:
            hidden = self._rms(self._layers_pass(x, n, cos, sin, slabs, kinds), self.norm)
        slabs.hold()
        if not any(slabs.shared):
            return hidden
        # a shared prefix's rows are the leader's rows: same tokens, positions and keys
        parts = list(torch.split(hidden, counts))
        for index, (leader, shared) in enumerate(zip(slabs.sources, slabs.shared, strict=True)):
            if shared:
                parts[index] = torch.cat([parts[leader][:shared], parts[index]])
        return torch.cat(parts)

    def _layers_pass(
        self, x: Tensor, n: int, cos: Tensor, sin: Tensor, slabs: _Slabs, kinds: list[Kinds]
    ) -> Tensor:
        """The decoder layers on the pass's rows ``x`` (n, hidden), in Python."""
        half = self.head_dim // 2
        heads, kv_heads, dim = self.heads, self.kv_heads, self.head_dim
        for index, layer in enumerate(self.layers):
            kq, kk, kvk, ko, kg, ku, kd = kinds[index]
            attn, mlp = layer.self_attn, layer.mlp
            fused_qkv, fused_gate_up = self.fused[index]
            h = self._rms(x, layer.input_layernorm)
            qkv = None
            if fused_qkv is not None:  # one int4 product for q, k and v
                qkv = self._product(h.contiguous(), fused_qkv, _INT4)
            elif (
                kq == kk == kvk == _BF16
                and (
                    packed := fused_packed_weight(
                        attn, _BF16_QKV, (attn.q_proj, attn.k_proj, attn.v_proj)
                    )
                )
                is not None
            ):  # one bf16 product for q, k and v (the separate products' bits)
                qkv = self._stacked(self._rows(h, _BF16), packed)[:n]
            if qkv is not None:  # rotary on q and k together
                qkv = qkv.view(n, heads + 2 * kv_heads, dim)
                qk = qkv[:, : heads + kv_heads]
                # apply_rotary_pos_emb: x * cos + rotate_half(x) * sin
                qk = qk * cos + torch.cat((-qk[..., half:], qk[..., :half]), dim=-1) * sin
                q, k = qk[:, :heads], qk[:, heads:]
                v = qkv[:, heads + kv_heads :]
            else:
                rows = self._rows(h, kq)
                q = self._product(rows, attn.q_proj, kq)[:n]
                if kk != kq:
                    rows = self._rows(h, kk)
                k = self._product(rows, attn.k_proj, kk)[:n]
                if kvk != kk:
                    rows = self._rows(h, kvk)
                v = self._product(rows, attn.v_proj, kvk)[:n].view(n, kv_heads, dim)
                q = q.view(n, heads, dim)
                k = k.view(n, kv_heads, dim)
                q = q * cos + torch.cat((-q[..., half:], q[..., :half]), dim=-1) * sin
                k = k * cos + torch.cat((-k[..., half:], k[..., :half]), dim=-1) * sin
            attended = self._attend(q, k, v, slabs, index, attn.scaling)
            x = x + self._product(self._rows(attended, ko), attn.o_proj, ko)[:n]
            h = self._rms(x, layer.post_attention_layernorm)
            gate_up = None
            if fused_gate_up is not None:
                gate_up = self._product(h.contiguous(), fused_gate_up, _INT4)
            elif (
                kg == ku == _BF16
                and (
                    packed := fused_packed_weight(mlp, _BF16_GATE_UP, (mlp.gate_proj, mlp.up_proj))
                )
                is not None
            ):
                gate_up = self._stacked(self._rows(h, _BF16), packed)[:n]
            if gate_up is not None:
                width = gate_up.shape[-1] // 2
                inner = torch.nn.functional.silu(gate_up[:, :width]) * gate_up[:, width:]
            else:
                rows = self._rows(h, kg)
                gate = self._product(rows, mlp.gate_proj, kg)
                if ku != kg:
                    rows = self._rows(h, ku)
                up = self._product(rows, mlp.up_proj, ku)
                inner = (torch.nn.functional.silu(gate) * up)[:n]
            x = x + self._product(self._rows(inner, kd), mlp.down_proj, kd)[:n]
        return x

    def _attend(
        self, q: Tensor, k: Tensor, v: Tensor, slabs: _Slabs, index: int, scaling: float
    ) -> Tensor:
        """The batch-invariant attention (:mod:`tessera.llm._attention`) of every segment
        on its own cache, its keys and values appended there; ``(n, heads * dim)`` out.

        One compiled call per layer for all segments; the float64 results are rounded
        to the model's dtype at once.
        """
        n = int(q.shape[0])
        out = np.empty((n, self.heads, self.head_dim))
        _attention().append_attend(
            q.contiguous().view(torch.uint16).numpy(),
            k.contiguous().view(torch.uint16).numpy(),
            v.contiguous().view(torch.uint16).numpy(),
            index,
            slabs.buffers,
            slabs.starts,
            slabs.pasts,
            slabs.sources,
            slabs.masks,
            slabs.mask_starts,
            scaling,
            out,
        )
        attended: Tensor = torch.from_numpy(out).to(self.dtype).view(n, -1)
        return attended


class _Slab:
    """A generation's cached keys and values, every layer, in one buffer that grows by
    doubling: shape ``(layers, 2, kv_heads, capacity, dim)``, keys at ``[:, 0]``.

    Each cache layer (``transformers.DynamicLayer``) holds views of its layer's first
    positions, so a pass appends its rows in place instead of concatenating the whole
    cache; code that edits the layers in place (Medusa's :func:`keep_path`) or crops
    them keeps views of the same buffer. A cache whose layers are not such views
    (filled by transformers' forward, or new) is copied into a new buffer first.
    """

    __slots__ = ("bases", "bits", "buffer", "held", "length", "pointers", "strides")

    def __init__(self, layers: int, kv_heads: int, capacity: int, dim: int, dtype: Any) -> None:
        self.buffer = torch.empty((layers, 2, kv_heads, capacity, dim), dtype=dtype)
        self.bits: np.ndarray = self.buffer.view(torch.uint16).numpy()
        # each layer's keys and values as the cache layers see them, (1, kv_heads, cap, dim)
        self.bases = [(self.buffer[i, 0:1], self.buffer[i, 1:2]) for i in range(layers)]
        self.pointers = [(key.data_ptr(), value.data_ptr()) for key, value in self.bases]
        self.strides = self.bases[0][0].stride()
        self.held: list[tuple[Tensor, Tensor]] = []  # the views last handed to the layers
        self.length = 0  # positions filled (the held views can be shorter: Segment.defer)

    @property
    def capacity(self) -> int:
        return int(self.buffer.shape[3])

    def _untouched(self, layers: list[Any]) -> bool:
        """Whether the layers still hold the views this slab last handed them."""
        return len(self.held) == len(layers) and all(
            layer.keys is key and layer.values is value
            for layer, (key, value) in zip(layers, self.held, strict=True)
        )

    def _holds(self, layers: list[Any]) -> bool:
        """Whether every layer's keys and values are views of this buffer's first positions."""
        return all(
            layer.keys.data_ptr() == key
            and layer.values.data_ptr() == value
            and layer.keys.stride() == self.strides
            and layer.values.stride() == self.strides
            for layer, (key, value) in zip(layers, self.pointers, strict=True)
        )

    @classmethod
    def of(cls, lean: LeanLlama, cache: Any, size: int) -> tuple[_Slab, int]:
        """The slab of ``cache`` with room for ``size`` more positions, and its length."""
        layers = cache.layers[: len(lean.layers)]
        slab: _Slab | None = cache.__dict__.get("_tessera_slab")
        if slab is not None and slab._untouched(layers):
            past = slab.length  # the layers are as this slab left them
        else:
            first = layers[0]
            empty = not first.is_initialized or first.keys.numel() == 0
            past = 0 if empty else int(first.keys.shape[-2])
            if slab is not None and past and not slab._holds(layers):
                slab = None  # the layers were filled another way (transformers' forward)
        if slab is not None and past + size <= slab.capacity:
            return slab, past
        capacity = max(2 * (past + size), _FIRST_CAPACITY)
        grown = cls(len(layers), lean.kv_heads, capacity, lean.head_dim, lean.dtype)
        if past:
            if slab is not None:
                grown.buffer[:, :, :, :past] = slab.buffer[:, :, :, :past]
            else:
                for index, layer in enumerate(layers):
                    grown.buffer[index, 0, :, :past] = layer.keys[0]
                    grown.buffer[index, 1, :, :past] = layer.values[0]
        grown.hold(cache, past)  # the layers view the new buffer (a deferred pass too)
        cache.__dict__["_tessera_slab"] = grown
        return grown, past

    def hold(self, cache: Any, length: int) -> None:
        """Make the cache's layers hold views of their first ``length`` positions."""
        held = []
        for layer, (key, value) in zip(cache.layers, self.bases, strict=False):
            if not layer.is_initialized:
                layer.lazy_initialization(key, value)
            keys, values = key[:, :, :length], value[:, :, :length]
            layer.keys, layer.values = keys, values
            held.append((keys, values))
        self.held = held
        self.length = length


class _Slabs:
    """The cache buffers of a pass's segments, as the compiled attention reads them."""

    def __init__(self, lean: LeanLlama, segments: list[Segment], sizes: list[int]) -> None:
        found = [
            _Slab.of(lean, segment.cache, size)
            for segment, size in zip(segments, sizes, strict=True)
        ]
        self.caches = [segment.cache for segment in segments]
        self.deferred = [segment.defer for segment in segments]
        self.slabs = [slab for slab, _ in found]
        self.lengths = [past + size for (_, past), size in zip(found, sizes, strict=True)]
        self.sources, self.shared = _shared_prefixes(segments, [past for _, past in found])
        # a segment that shares its first tokens with a leader starts its own rows after them
        pasts = [past + shared for (_, past), shared in zip(found, self.shared, strict=True)]
        counts = [size - shared for size, shared in zip(sizes, self.shared, strict=True)]
        self.starts = np.cumsum([0, *counts], dtype=np.int64)
        self.pasts = np.array(pasts, dtype=np.int64)
        mask_starts, flat, at = [], [], 0
        for segment, size, past in zip(segments, sizes, pasts, strict=True):
            if segment.mask is None:
                mask_starts.append(-1)
                continue
            rows = segment.mask[0, 0, :, : past + size].double().contiguous().numpy()
            mask_starts.append(at)
            flat.append(rows.reshape(-1))
            at += rows.size
        self.mask_starts = np.array(mask_starts, dtype=np.int64)
        self.masks = np.concatenate(flat) if flat else _NO_MASKS

    @cached_property
    def buffers(self) -> Any:
        """The buffers' bits as the compiled attention takes them (a numba typed list;
        made on first use: the C pass does not read it)."""
        from numba.typed import List

        return List([slab.bits for slab in self.slabs])

    def hold(self) -> None:
        """After the pass: every cache's layers hold views of their new length (deferred
        segments' caches: their slab records the length, :func:`settle` hands it over)."""
        for cache, slab, length, defer in zip(
            self.caches, self.slabs, self.lengths, self.deferred, strict=True
        ):
            if defer:
                slab.length = length
            else:
                slab.hold(cache, length)


#: The shortest prompt prefix that segments of one pass share instead of computing twice.
MIN_SHARED_PREFIX = 8


def _shared_prefixes(segments: list[Segment], pasts: list[int]) -> tuple[np.ndarray, list[int]]:
    """For each segment, an earlier segment (its leader, -1 for none) whose prompt starts
    with the same tokens, and how many of them it takes from the leader's rows.

    Only prompts qualify (an empty cache, no positions, no mask; the causal rule makes a
    prompt's first rows independent of the rest); a leader computes all its rows, and a
    follower keeps at least its last token to compute. Shares shorter than
    :data:`MIN_SHARED_PREFIX` are not worth the copies.
    """
    sources = np.full(len(segments), -1, dtype=np.int64)
    shared = [0] * len(segments)
    leaders: list[tuple[int, list[int]]] = []
    for index, (segment, past) in enumerate(zip(segments, pasts, strict=True)):
        size = int(segment.tokens.shape[0])
        if past or segment.positions is not None or segment.mask is not None or size < 2:
            continue
        tokens = segment.tokens.view(-1).tolist()
        best, length = -1, 0
        for leader, theirs in leaders:
            common = 0
            for mine, other in zip(tokens[: size - 1], theirs, strict=False):
                if mine != other:
                    break
                common += 1
            if common > length:
                best, length = leader, common
        if length >= MIN_SHARED_PREFIX:
            sources[index], shared[index] = best, length
        else:
            leaders.append((index, tokens))
    return sources, shared


def settle(cache: Any) -> None:
    """Make ``cache``'s layers hold every position a deferred pass (``Segment.defer``)
    wrote to its buffer; nothing to do for other caches."""
    slab: _Slab | None = cache.__dict__.get("_tessera_slab")
    if slab is None or not slab.held or int(slab.held[0][0].shape[-2]) == slab.length:
        return
    if slab._untouched(cache.layers[: len(slab.held)]):
        slab.hold(cache, slab.length)


def _covered(backbone: Any) -> list[Kinds] | None:
    """The linears' kinds per layer when the lean pass covers ``backbone``, else None."""
    if type(backbone).__name__ != "LlamaModel":
        return None
    config = backbone.config
    rope = getattr(config, "rope_parameters", None) or {}
    if rope.get("rope_type", "default") != "default" or config.hidden_act != "silu":
        return None
    if getattr(backbone.rotary_emb, "rope_type", "default") != "default":
        return None
    if backbone.embed_tokens.weight.dtype != torch.bfloat16:  # the attention kernels read bf16
        return None
    kinds = []
    for layer in backbone.layers[: config.num_hidden_layers]:
        attn, mlp = layer.self_attn, layer.mlp
        if type(attn).__name__ != "LlamaAttention" or type(mlp).__name__ != "LlamaMLP":
            return None
        row = tuple(
            _linear_kind(m)
            for m in (
                attn.q_proj,
                attn.k_proj,
                attn.v_proj,
                attn.o_proj,
                mlp.gate_proj,
                mlp.up_proj,
                mlp.down_proj,
            )
        )
        if any(kind is None for kind in row):
            return None
        kinds.append(row)
    return kinds  # type: ignore[return-value]


def lean_model(
    model: Any,
) -> tuple[LeanLlama, list[Kinds]] | None:
    """The lean pass of ``model`` and its linears' kinds, or None where it does not apply.

    Worked out once per model and kept on it; :func:`forget_lean` drops it (the int4
    weights of :func:`tessera.llm._quant.use_gguf_int4` and the batch-invariant linears
    call it when they replace linears).
    """
    if not is_batch_invariant(model) or model.training:
        return None
    if getattr(model.config, "_attn_implementation", None) != "tessera_invariant":
        return None
    backbone = getattr(model, "model", None)
    if backbone is None:
        return None
    found = model.__dict__.get("_tessera_lean")
    if found is None or found[0] is not backbone:
        kinds = _covered(backbone)
        found = (backbone, None if kinds is None else LeanLlama(backbone), kinds)
        model.__dict__["_tessera_lean"] = found
    if found[1] is None:
        return None
    return found[1], found[2]


def forget_lean(model: Any) -> None:
    """Drop what :func:`lean_model` kept on ``model`` (its linears were replaced)."""
    model.__dict__.pop("_tessera_lean", None)


def lean_forward(
    model: Any,
    tokens: Tensor,
    cache: DynamicCache,
    positions: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor | None:
    """Hidden states of a pass of ``tokens`` by the lean pass; None where it does not apply.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        A batch-invariant Llama causal LM (:func:`tessera.llm.load_model`).
    tokens : torch.Tensor of int64, shape (n,)
        The pass's tokens; passes longer than ``INVARIANT_MAX_QUERIES`` are not covered.
    cache : transformers.DynamicCache
        The generation's cache; the pass's keys and values are appended to it.
    positions : torch.Tensor, optional
        Position of every token (Medusa trees); default: right after the cache.
    mask : torch.Tensor, optional
        Additive 4-D mask ``(1, 1, n, cache + n)`` (Medusa trees); default: causal.

    Returns
    -------
    torch.Tensor or None
        ``(n, hidden)`` after the final norm, equal bit for bit to transformers' forward.
    """
    return lean_segments(model, [Segment(tokens, cache, positions, mask)])


def lean_segments(model: Any, segments: list[Segment]) -> Tensor | None:
    """Hidden states of several generations' passes run as one by the lean pass
    (:meth:`LeanLlama.forward_segments`); None where it does not apply (a segment longer
    than ``INVARIANT_MAX_QUERIES``, gradients on, a model it does not cover)."""
    if torch.is_grad_enabled() or any(
        segment.tokens.shape[0] > INVARIANT_MAX_QUERIES for segment in segments
    ):
        return None
    found = lean_model(model)
    if found is None:
        return None
    lean, kinds = found
    return lean.forward_segments(segments, kinds)
