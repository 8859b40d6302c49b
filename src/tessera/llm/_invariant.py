"""Batch-invariant decoding kernels: a token's logits do not depend on what else is in the pass.

Medusa verifies a tree of candidates in one forward pass, plain decoding feeds one
token per pass. In bfloat16 the two disagree in the last bits unless every kernel gives
a row the same result whatever the other rows are, and a near-tie in the logits then
turns into a different greedy token. On x86 CPUs two kernels break that (measured with
torch 2.13 on SmolLM2-135M, AVX512-BF16):

* oneDNN's bf16 matrix product takes another path for a single row: for a 1536-wide
  input (the MLP's ``down_proj``) 8% of single rows round differently than the same row
  inside any batch of 2 to 32. :func:`make_batch_invariant` computes one-row products as
  a batch of two identical rows (about 1% of a step).
* Attention reduces over the cache in an order that depends on where the keys sit, and
  tree verification puts a candidate's ancestors at other positions (with masked
  entries between them) than sequential decoding does. The attention registered here
  computes scores, softmax and the weighted sum of values in float64 for passes of up to
  :data:`INVARIANT_MAX_QUERIES` queries: products of bf16 numbers are exact in float64,
  and the remaining rounding (1e-16 relative) moves the bf16 result only when a value
  lies that close to a rounding boundary. Longer passes (prompt prefill, training) use
  PyTorch's scaled-dot-product attention; both decoders prefill a prompt identically.

The same idea as Thinking Machines' "Defeating Nondeterminism in LLM Inference" (2025),
for the two kernels that matter here.
"""

from __future__ import annotations

import types
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
    torch = require("torch")
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


def _row_invariant_linear(self: Any, x: Any) -> Any:
    """``F.linear``, with a single row computed inside a batch of two identical rows."""
    functional = require("torch").nn.functional
    if x.numel() == x.shape[-1]:
        row = x.reshape(1, -1)
        pair = require("torch").cat([row, row])
        return functional.linear(pair, self.weight, self.bias)[:1].view(*x.shape[:-1], -1)
    return functional.linear(x, self.weight, self.bias)


def make_batch_invariant(model: Any) -> Any:
    """Switch a transformers causal LM to batch-invariant decoding kernels, in place.

    After this, the logits of a token are bit-for-bit the same whether it is decoded
    alone or inside a Medusa tree (and greedy Medusa output equals plain greedy output
    in bfloat16, not only in float32). Costs about 5% of a one-token step on a CPU.
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
    torch = require("torch")
    if is_batch_invariant(model):
        return model
    _register()
    model.config._attn_implementation = INVARIANT_ATTENTION
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            module.forward = types.MethodType(_row_invariant_linear, module)
    model._tessera_batch_invariant = True
    return model


def is_batch_invariant(model: Any) -> bool:
    """Whether :func:`make_batch_invariant` was applied to ``model``."""
    return bool(getattr(model, "_tessera_batch_invariant", False))
