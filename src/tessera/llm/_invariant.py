"""Batch-invariant decoding kernels: a token's logits do not depend on what else is in the pass.

Medusa verifies a tree of candidates in one forward pass, plain decoding feeds one
token per pass. In bfloat16 the two disagree in the last bits unless every kernel gives
a row the same result whatever the other rows are, and a near-tie in the logits then
turns into a different greedy token. On x86 CPUs two kernels break that (measured with
torch 2.13 on SmolLM2-135M, AVX512-BF16):

* oneDNN's bf16 matrix product takes another path for a single row: for a 1536-wide
  input (the MLP's ``down_proj``) some single rows round differently than the same row
  inside any batch of 2 to 32. :func:`make_batch_invariant` computes products of fewer
  than :data:`MIN_ROWS` rows inside a batch of that many (which on this CPU is also
  faster than one or two rows), on weights reordered once for oneDNN. It also takes
  another path for many rows: on CPUs with AMX tiles every row of a product of 33 rows
  or more rounds differently than alone. So decoding passes are cut into products of at
  most :func:`invariant_rows` rows, the most for which a check run once per process finds
  every row equal to itself alone (:func:`invariant_product`).
* Attention reduces over the cache in an order that depends on where the keys sit, and
  tree verification puts a candidate's ancestors at other positions (with masked
  entries between them) than sequential decoding does. The attention registered here
  computes scores, softmax and the weighted sum of values in float64 for passes of up to
  :data:`INVARIANT_MAX_QUERIES` queries. For bf16 it is a compiled kernel
  (:mod:`tessera.llm._attention`) that works one query row at a time and sums in cache
  order, skipping the masked keys, so a row's result does not depend on the other rows
  or on masked entries at all. Other dtypes use PyTorch's float64 products: products of
  bf16 numbers are exact in float64, and the remaining rounding (1e-16 relative) moves
  the result only when a value lies that close to a rounding boundary. Longer passes
  (prompt prefill, training) use PyTorch's scaled-dot-product attention; both decoders
  prefill a prompt identically.

The same idea as Thinking Machines' "Defeating Nondeterminism in LLM Inference" (2025),
for the two kernels that matter here.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from tessera.llm._torch import require

__all__ = [
    "INVARIANT_ATTENTION",
    "INVARIANT_MAX_QUERIES",
    "is_batch_invariant",
    "make_batch_invariant",
]

#: The attention implementation name registered with transformers.
INVARIANT_ATTENTION = "tessera_invariant"
#: Passes with at most this many query tokens use the float64 attention (decoding steps
#: and Medusa trees); longer ones (prefill) use scaled-dot-product attention.
INVARIANT_MAX_QUERIES = 64

_registered = False


def _invariant_attention(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    scaling: float,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[Any, None]:
    """transformers attention interface: ``(batch, heads, q, d)`` in, ``(batch, q, heads, d)``."""
    packed = kwargs.pop("tessera_packed", None)
    if packed is not None:  # several generations' tokens in one pass (tessera.llm._batching)
        from tessera.llm._batching import packed_attention

        return packed_attention(
            _invariant_attention, module, query, key, value, packed, scaling, dropout, kwargs
        )
    torch = _torch_module()
    batch, heads, q_len, dim = query.shape
    kv_heads, kv_len = key.shape[1], key.shape[2]
    if q_len > INVARIANT_MAX_QUERIES or query.requires_grad:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(
            module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs
        )
    for unsupported in ("softcap", "s_aux"):
        if kwargs.get(unsupported) is not None:
            from tessera._validation import bad_value

            raise bad_value(
                "model",
                type(module).__name__,
                f"the batch-invariant attention has no {unsupported!r} (logit soft-capping or "
                "attention sinks)",
                "Load this model with load_model(..., batch_invariant=False).",
            )
    if query.dtype == torch.bfloat16:  # the compiled kernel, the lean pass's own
        return _bf16_attention(query, key, value, attention_mask, scaling), None
    groups = heads // kv_heads
    # Grouped-query attention without repeating the keys: the query heads that share a
    # key head become extra query rows.
    grouped = query.reshape(batch, kv_heads, groups * q_len, dim).double()
    scores = torch.matmul(grouped, key.double().transpose(-1, -2)).mul_(scaling)
    scores = scores.view(batch, kv_heads, groups, q_len, kv_len)
    if attention_mask is not None:
        scores = scores + attention_mask[:, :, None, :, :kv_len].double()
    weights = torch.softmax(scores, dim=-1).view(batch, kv_heads, groups * q_len, kv_len)
    out = torch.matmul(weights, value.double()).view(batch, heads, q_len, dim)
    return out.to(query.dtype).transpose(1, 2).contiguous(), None


def _bf16_attention(query: Any, key: Any, value: Any, attention_mask: Any, scaling: float) -> Any:
    """:func:`tessera.llm._attention.attend` for each sequence of a bf16 pass:
    ``(batch, q, heads, d)`` out, as the attention interface returns it."""
    import numpy as np

    from tessera.llm._attention import attend

    torch = _torch_module()
    batch, _, q_len, _ = query.shape
    kv_len = key.shape[2]
    out = np.empty((batch, q_len, query.shape[1], query.shape[3]))
    none = np.zeros((0, 0))
    for b in range(batch):
        mask = (
            none
            if attention_mask is None
            else attention_mask[min(b, attention_mask.shape[0] - 1), 0, :, :kv_len]
            .double()
            .contiguous()
            .numpy()
        )
        attend(
            query[b].transpose(0, 1).view(torch.uint16).numpy(),
            0,
            q_len,
            key[b].contiguous().view(torch.uint16).numpy(),
            value[b].contiguous().view(torch.uint16).numpy(),
            kv_len,
            mask,
            False,
            scaling,
            out[b],
        )
    return torch.from_numpy(out).to(query.dtype)


def _register() -> None:
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(INVARIANT_ATTENTION, _invariant_attention)
    # Float masks (0 = attend, dtype-min = blocked) as eager attention gets them; sdpa's
    # masks may be None for a causal prefill, which the float64 path must not get.
    AttentionMaskInterface.register(INVARIANT_ATTENTION, eager_mask)
    _registered = True


#: Products of fewer rows than this are computed inside a batch of this many rows (copies
#: of the first row): oneDNN's one-row bf16 path rounds differently (see the module
#: docstring), and on AVX512-BF16 CPUs 3 to 6 rows stream the weights faster than 1 or 2.
MIN_ROWS = 4


def padded(rows: Any) -> Any:
    """``rows`` (n, in) with copies of its first row appended up to :data:`MIN_ROWS` rows
    (unchanged when it has that many)."""
    count = int(rows.shape[0])
    if count >= MIN_ROWS:
        return rows
    return _torch_module().cat([rows, rows[:1].expand(MIN_ROWS - count, -1)])


#: Row counts up to which :func:`invariant_rows` checks products (the most it can return).
_ROWS_CHECKED = 64
_INVARIANT_ROWS: int | None = None


def invariant_rows() -> int:
    """The most rows one bf16 product may take and still give every row the bits it gets
    alone (padded to :data:`MIN_ROWS`), on this machine.

    Checked once per process: random rows through two reordered weights of the decoder's
    input widths (576 and 1536), every row count from :data:`MIN_ROWS` up, each row
    against the same row alone; the answer is the largest of 64, 32, 16 and 8 rows
    below the first count that differs (:data:`MIN_ROWS` if even 8 differ). oneDNN keeps
    one path up to some row count and takes another beyond it (on AMX CPUs: 32 rows).
    """
    global _INVARIANT_ROWS
    if _INVARIANT_ROWS is None:
        _INVARIANT_ROWS = _largest_invariant_rows() if _mkldnn_bf16() else _ROWS_CHECKED
    return _INVARIANT_ROWS


def _largest_invariant_rows() -> int:
    torch = _torch_module()
    generator = torch.Generator().manual_seed(0)
    first_difference = _ROWS_CHECKED + 1
    with torch.no_grad():
        for inputs, outputs in ((1536, 576), (576, 1536)):
            weight = (torch.randn(outputs, inputs, generator=generator) * inputs**-0.5).bfloat16()
            packed = torch.ops.mkldnn._reorder_linear_weight(weight, MIN_ROWS)
            x = torch.randn(_ROWS_CHECKED, inputs, generator=generator).bfloat16()
            alone: list[Any] = []
            for rows in range(MIN_ROWS, min(first_difference, _ROWS_CHECKED + 1)):
                while len(alone) < rows:  # each row alone, as far as needed
                    row = padded(x[len(alone) : len(alone) + 1])
                    alone.append(
                        torch.ops.mkldnn._linear_pointwise(row, packed, None, "none", [], "")[:1]
                    )
                out = torch.ops.mkldnn._linear_pointwise(x[:rows], packed, None, "none", [], "")
                if not torch.equal(out, torch.cat(alone)):
                    first_difference = rows
                    break
    for limit in (_ROWS_CHECKED, 32, 16, 8):
        if limit < first_difference:
            return limit
    return MIN_ROWS


def invariant_product(rows: Any, packed: Any, bias: Any | None = None) -> Any:
    """oneDNN's bf16 product of ``rows`` (at least :data:`MIN_ROWS`) with a reordered
    weight, in parts of at most :func:`invariant_rows` rows, so that every row gets the
    bits it gets alone (a last part shorter than :data:`MIN_ROWS` is padded)."""
    torch = _torch_module()
    count, limit = int(rows.shape[0]), invariant_rows()
    if count <= limit:
        return torch.ops.mkldnn._linear_pointwise(rows, packed, bias, "none", [], "")
    parts = []
    for start in range(0, count, limit):
        part = rows[start : start + limit]
        size = int(part.shape[0])
        out = torch.ops.mkldnn._linear_pointwise(
            padded(part).contiguous(), packed, bias, "none", [], ""
        )
        parts.append(out[:size])
    return torch.cat(parts)


_torch: Any = None


def _torch_module() -> Any:
    global _torch
    if _torch is None:
        _torch = require("torch")
    return _torch


def _packed_weight(holder: Any, weight: Any) -> Any | None:
    """``weight`` reordered once for oneDNN (kept on ``holder``); None where that does not apply.

    ``F.linear`` in bf16 on a CPU reorders the weight into oneDNN's blocked layout at
    every call; keeping the reordered copy (as ``torch.compile`` with freezing does) makes a
    decoding step's products markedly faster, with bit-for-bit the same results. The copy
    is rebuilt when the weight changes (another tensor, or an in-place update).
    """
    version = _version(weight)
    cached = holder.__dict__.get("_tessera_packed")
    if cached is not None and cached[0] is weight and cached[1] == version:
        if cached[2] == weight.data_ptr():
            return cached[3]
    torch = _torch_module()
    if weight.dtype != torch.bfloat16 or weight.device.type != "cpu" or not _mkldnn_bf16():
        return None
    packed = torch.ops.mkldnn._reorder_linear_weight(weight.detach(), MIN_ROWS)
    holder.__dict__["_tessera_packed"] = (weight, version, weight.data_ptr(), packed)
    return packed


#: Per (output widths, input width): whether one product over the stacked weights
#: gives the separate products' bits on this machine (checked once per process).
_FUSION_EXACT: dict[tuple[tuple[int, ...], int], bool] = {}


def fused_packed_weight(holder: Any, name: str, linears: tuple[Any, ...]) -> Any | None:
    """One reordered weight for several bias-free bf16 linears of the same input (their
    weights stacked), kept on ``holder`` under ``name``; None where that does not apply.

    One product over the stacked weights costs less than one per linear (a decoder's
    q, k and v projections; gate and up). It is used only where it gives every output
    bit for bit as the separate products do: checked once per process and shape on
    random rows (oneDNN's kernels compute every output column from its own weight row,
    but that is its behaviour, not its contract). Rebuilt when a weight changes.
    """
    cached = holder.__dict__.get(name)
    if cached is not None:  # every pass comes here: checked with as little work as can be
        stamp, packed = cached
        for (weight, version, pointer), linear in zip(stamp, linears, strict=True):
            current = linear.weight
            if current is not weight or _version(current) != version:
                break
            if current.data_ptr() != pointer:
                break
        else:
            return packed
    torch = _torch_module()
    weights = tuple(linear.weight for linear in linears)
    if any(linear.bias is not None for linear in linears) or not _mkldnn_bf16():
        return None
    if any(w.dtype != torch.bfloat16 or w.device.type != "cpu" for w in weights):
        return None
    stamp = tuple((w, _version(w), w.data_ptr()) for w in weights)
    shape = (tuple(int(w.shape[0]) for w in weights), int(weights[0].shape[1]))
    if shape not in _FUSION_EXACT:
        _FUSION_EXACT[shape] = _fusion_is_exact(*shape)
    if not _FUSION_EXACT[shape]:
        return None
    with torch.no_grad():
        packed = torch.ops.mkldnn._reorder_linear_weight(
            torch.cat([w.detach() for w in weights]), MIN_ROWS
        )
    holder.__dict__[name] = (stamp, packed)
    return packed


def _version(weight: Any) -> int:
    try:
        return int(weight._version)
    except RuntimeError:  # inference tensors keep no version counter (and cannot change)
        return -1


def _fusion_is_exact(widths: tuple[int, ...], inputs: int) -> bool:
    """Whether stacked bf16 weights of these widths give the separate products' bits."""
    torch = _torch_module()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        weights = [
            (torch.randn(w, inputs, generator=generator) * inputs**-0.5).bfloat16() for w in widths
        ]
        stacked = torch.ops.mkldnn._reorder_linear_weight(torch.cat(weights), MIN_ROWS)
        alone = [torch.ops.mkldnn._reorder_linear_weight(w, MIN_ROWS) for w in weights]
        for rows in (MIN_ROWS, MIN_ROWS + 1, 8, 13, 32, INVARIANT_MAX_QUERIES):
            x = torch.randn(rows, inputs, generator=generator).bfloat16()
            together = invariant_product(x, stacked)
            parts = [invariant_product(x, p) for p in alone]
            if not torch.equal(together, torch.cat(parts, dim=1)):
                return False
    return True


_MKLDNN_BF16: bool | None = None


def _mkldnn_bf16() -> bool:
    global _MKLDNN_BF16
    if _MKLDNN_BF16 is None:
        torch = require("torch")
        try:
            mkldnn = torch.backends.mkldnn
            _MKLDNN_BF16 = bool(
                mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
            )
        except (AttributeError, RuntimeError):
            _MKLDNN_BF16 = False
    return _MKLDNN_BF16


#: Set while a pass carries several generations' rows (:func:`several_generations`).
_SEVERAL: ContextVar[bool] = ContextVar("tessera_several_generations", default=False)


@contextmanager
def several_generations() -> Iterator[None]:
    """Within it, :func:`invariant_linear` cuts products of any length into parts of at most
    :func:`invariant_rows` rows: the pass carries several generations' rows, each of which
    must get the bits it gets alone (the batching engine's packed passes and lm_head)."""
    token = _SEVERAL.set(True)
    try:
        yield
    finally:
        _SEVERAL.reset(token)


def invariant_linear(x: Any, weight: Any, bias: Any | None = None, holder: Any = None) -> Any:
    """``F.linear`` whose rows do not depend on the batch: short batches padded to MIN_ROWS.

    Without gradients and in bf16 it runs on a weight reordered once for oneDNN (same
    results as ``F.linear``, without the per-call reorder), kept on ``holder`` (any object
    with a ``__dict__``, usually the module that owns the weight; None: no reuse). Passes
    of up to :data:`INVARIANT_MAX_QUERIES` rows (decoding steps, trees) and every pass
    inside :func:`several_generations` are products of at most :func:`invariant_rows`
    rows (:func:`invariant_product`); longer passes of one generation (a prompt's
    prefill, computed alone the same way by every decoder) are one product.
    """
    torch = _torch_module()
    rows = x.reshape(-1, x.shape[-1])
    count = rows.shape[0]
    rows = padded(rows)
    packed = None
    if holder is not None and not (
        torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)
    ):
        packed = _packed_weight(holder, weight)
    if packed is None:
        out = torch.nn.functional.linear(rows, weight, bias)
    elif count <= INVARIANT_MAX_QUERIES or _SEVERAL.get():
        out = invariant_product(rows.contiguous(), packed, bias)
    else:
        out = torch.ops.mkldnn._linear_pointwise(rows.contiguous(), packed, bias, "none", [], "")
    return out[:count].view(*x.shape[:-1], -1)


def _row_invariant_linear(self: Any, x: Any) -> Any:
    """A Linear module's forward through :func:`invariant_linear`."""
    return invariant_linear(x, self.weight, self.bias, self)


def use_invariant_linears(module: Any) -> Any:
    """Route every ``torch.nn.Linear`` inside ``module`` through :func:`invariant_linear`."""
    torch = require("torch")
    for layer in module.modules():
        if isinstance(layer, torch.nn.Linear):
            layer.forward = types.MethodType(_row_invariant_linear, layer)
    return module


def make_batch_invariant(model: Any) -> Any:
    """Switch a transformers causal LM to batch-invariant decoding kernels, in place.

    After this, the logits of a token are bit-for-bit the same whether it is decoded
    alone or inside a Medusa tree (and greedy Medusa output equals plain greedy output
    in bfloat16, not only in float32). In bf16 on a CPU with oneDNN it also makes decoding
    faster (weights reordered once; see :data:`MIN_ROWS`); the float64 attention costs a
    little at long contexts.
    Calling it again does nothing.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        A causal LM whose attention goes through transformers' attention interface
        (Llama, Mistral, Qwen2, SmolLM and most current decoders).

    Returns
    -------
    transformers.PreTrainedModel
        The same model.
    """
    if is_batch_invariant(model):
        return model
    _register()
    model.config._attn_implementation = INVARIANT_ATTENTION
    use_invariant_linears(model)
    model._tessera_batch_invariant = True
    model.__dict__.pop("_tessera_lean", None)  # tessera.llm._step.forget_lean
    return model


def is_batch_invariant(model: Any) -> bool:
    """Whether :func:`make_batch_invariant` was applied to ``model``."""
    return bool(getattr(model, "_tessera_batch_invariant", False))
