"""Static types of what decoding reads from a transformers causal LM.

transformers' own annotations leave ``get_output_embeddings`` and ``get_decoder``
untyped, so decoding is typed against this protocol instead; any
``transformers.PreTrainedModel`` with an ``lm_head`` satisfies it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from torch import Tensor, nn

__all__ = ["CausalLM", "GenerativeLM", "KeyValueLayer", "module_weight"]


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


class GenerativeLM(CausalLM, Protocol):
    """A causal LM that also generates (``transformers.GenerationMixin``), for distillation."""

    @property
    def generation_config(self) -> Any:
        """The model's ``GenerationConfig``."""
        ...

    @property
    def training(self) -> bool:
        """Whether the model is in training mode."""
        ...

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        """``transformers.GenerationMixin.generate``."""
        ...

    def train(self, mode: bool = True) -> Any:
        """Set training mode (``torch.nn.Module.train``)."""
        ...

    def eval(self) -> Any:
        """Set evaluation mode (``torch.nn.Module.eval``)."""
        ...


def module_weight(module: nn.Module) -> Tensor:
    """The ``weight`` of a linear or embedding layer, typed as a tensor.

    torch types a module's attributes as ``Tensor | Module``; the layers passed here
    (``lm_head``, the input embedding, the heads' own projections) hold a tensor.
    """
    return cast("Tensor", module.weight)


class KeyValueLayer(Protocol):
    """One attention layer of a ``DynamicCache``: keys and values, (batch, heads, seq, dim)."""

    keys: Tensor
    values: Tensor
