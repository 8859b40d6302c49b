"""Static types of what decoding reads from a transformers causal LM.

transformers' own annotations leave ``get_output_embeddings`` and ``get_decoder``
untyped, so decoding is typed against this protocol instead; any
``transformers.PreTrainedModel`` with an ``lm_head`` satisfies it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from torch import Tensor, nn

__all__ = ["CausalLM", "KeyValueLayer"]


class CausalLM(Protocol):
    """A transformers causal language model, as decoding uses it."""

    @property
    def config(self) -> Any:
        """The model's ``PretrainedConfig``."""
        ...

    def get_output_embeddings(self) -> nn.Module:
        """The ``lm_head``."""
        ...

    def get_input_embeddings(self) -> nn.Module:
        """The token embedding."""
        ...

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]:
        """The weights (their dtype is the model's)."""
        ...


class KeyValueLayer(Protocol):
    """One attention layer of a ``DynamicCache``: keys and values, (batch, heads, seq, dim)."""

    keys: Tensor
    values: Tensor
