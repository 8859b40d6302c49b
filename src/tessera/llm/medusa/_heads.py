"""Medusa decoding heads: ResBlocks on the last hidden state, sharing the base LM head."""

from __future__ import annotations

import types
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from tessera._validation import bad_value, check_bool, check_positive_int
from tessera.llm._invariant import invariant_linear
from tessera.llm._torch import require
from tessera.llm.medusa._typing import module_weight

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np
    import torch
    from torch import Tensor, nn
else:
    torch = require("torch")
    nn = torch.nn

__all__ = ["MedusaConfig", "MedusaHeads"]


@dataclass(frozen=True)
class MedusaConfig:
    """Shape of a set of Medusa heads.

    Parameters
    ----------
    hidden_size : int
        The base model's hidden size H.
    vocab_size : int
        The base model's vocabulary size.
    num_heads : int, default=3
        K: head k (1-based) predicts the token k+1 positions after the current one.
    num_layers : int, default=1
        ResBlocks per head (Linear HxH with bias, SiLU, residual).
    share_lm_head : bool, default=True
        Every head ends in the base model's own ``lm_head`` (no extra vocabulary
        projections: on small models a separate HxV projection per head costs up to a
        third of a base step). ``False`` gives each head its own HxV projection,
        initialised from the base ``lm_head`` as in the Medusa paper.
    root_conditioned : bool, default=False
        Feed every head the embedding of the root token (the base model's own next
        token, known before the heads run): head k's input is ``h + P_k(E[root])``,
        with ``E`` the base input embedding table and ``P_k`` an HxH projection,
        zero-initialised so that fresh conditioned heads equal plain ones (in the
        spirit of Hydra and EAGLE). Such heads cannot be exported to FasterDecoding or
        vLLM, which have no such input.
    """

    hidden_size: int
    vocab_size: int
    num_heads: int = 3
    num_layers: int = 1
    share_lm_head: bool = True
    root_conditioned: bool = False

    def __post_init__(self) -> None:
        check_positive_int("hidden_size", self.hidden_size)
        check_positive_int("vocab_size", self.vocab_size)
        check_positive_int("num_heads", self.num_heads)
        if self.num_heads > 16:
            raise bad_value(
                "num_heads",
                self.num_heads,
                "it must be at most 16 (acceptance falls fast beyond 5 heads)",
                "Pass num_heads between 1 and 5.",
            )
        check_positive_int("num_layers", self.num_layers)
        check_bool("share_lm_head", self.share_lm_head)
        check_bool("root_conditioned", self.root_conditioned)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping of the fields."""
        return asdict(self)


class _ResBlock(nn.Module):
    """``x + SiLU(W x + b)``, W zero-initialised so a fresh head equals the base model."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.linear = nn.Linear(hidden_size, hidden_size, bias=True)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        self.act = nn.SiLU()

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = x + self.act(self.linear(x))
        return out


class MedusaHeads(nn.Module):
    """K Medusa heads over a frozen base model.

    Each head owns its ResBlocks (a separate module per head and per layer; the official
    implementation's ``[ResBlock(H)] * n`` shares one module between all of them). With
    ``share_lm_head`` the heads end in the base ``lm_head``, passed to :meth:`forward`.

    Parameters
    ----------
    config : MedusaConfig
    lm_head : torch.nn.Linear, optional
        Needed when ``config.share_lm_head`` is False, to initialise the per-head
        projections from the base model's.
    """

    def __init__(self, config: MedusaConfig, lm_head: nn.Module | None = None) -> None:
        super().__init__()
        self.config = config
        self.blocks = nn.ModuleList(
            nn.Sequential(*[_ResBlock(config.hidden_size) for _ in range(config.num_layers)])
            for _ in range(config.num_heads)
        )
        self.lm_heads: nn.ModuleList | None = None
        if not config.share_lm_head:
            projections = []
            for _ in range(config.num_heads):
                layer = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
                if lm_head is not None:
                    with torch.no_grad():
                        layer.weight.copy_(module_weight(lm_head))
                projections.append(layer)
            self.lm_heads = nn.ModuleList(projections)
        self.token_proj: nn.ModuleList | None = None
        if config.root_conditioned:
            self.token_proj = nn.ModuleList(
                nn.Linear(config.hidden_size, config.hidden_size, bias=False)
                for _ in range(config.num_heads)
            )
            for projection in self.token_proj:
                nn.init.zeros_(module_weight(projection))
        #: Optional 1-D tensor of the token ids the heads may propose (see candidates()).
        self.token_map: Tensor | None = None

    def hidden(
        self,
        hidden_states: Tensor,
        root_embedding: Tensor | None = None,
        count: int | None = None,
    ) -> Tensor:
        """Each head's transformed hidden state, stacked: shape ``(K, *hidden_states.shape)``.

        ``root_embedding`` (same shape as ``hidden_states``: the base input embedding of
        the token that follows each position) is required by root-conditioned heads and
        ignored by plain ones. ``count`` computes only the first ``count`` heads.
        """
        blocks = list(self.blocks)[:count]
        if self.token_proj is None:
            return torch.stack([block(hidden_states) for block in blocks])
        if root_embedding is None:
            raise bad_value(
                "root_embedding",
                None,
                "root-conditioned heads (config.root_conditioned=True) need the input "
                "embedding of the root token at every position",
                "Pass root_embedding=model.get_input_embeddings()(root_ids).",
            )
        if tuple(root_embedding.shape) != tuple(hidden_states.shape):
            raise bad_value(
                "root_embedding",
                f"tensor of shape {tuple(root_embedding.shape)}",
                f"it must have the shape of hidden_states, {tuple(hidden_states.shape)}",
                "Pass one embedding row per hidden state.",
            )
        root_embedding = root_embedding.to(hidden_states.dtype)
        return torch.stack(
            [
                block(hidden_states + proj(root_embedding))
                for block, proj in zip(blocks, list(self.token_proj)[:count], strict=True)
            ]
        )

    def forward(
        self,
        hidden_states: Tensor,
        lm_head: nn.Module | None = None,
        root_embedding: Tensor | None = None,
    ) -> Tensor:
        """Logits of every head, shape ``(K, *hidden_states.shape[:-1], vocab_size)``.

        Parameters
        ----------
        hidden_states : torch.Tensor
            The base model's last hidden states (after its final norm), ``(..., H)``.
        lm_head : torch.nn.Linear, optional
            The base model's vocabulary projection; required when the heads share it.
        root_embedding : torch.Tensor, optional
            See :meth:`hidden`; required by root-conditioned heads.
        """
        transformed = self.hidden(hidden_states, root_embedding)
        if self.lm_heads is None:
            if lm_head is None:
                raise bad_value(
                    "lm_head",
                    None,
                    "heads built with share_lm_head=True need the base model's lm_head",
                    "Pass lm_head=model.get_output_embeddings().",
                )
            logits: Tensor = lm_head(transformed)
            return logits
        return torch.stack([proj(transformed[k]) for k, proj in enumerate(self.lm_heads)])

    def candidates(
        self,
        hidden_state: Tensor,
        lm_head: nn.Module | None,
        topk: int,
        root_embedding: Tensor | None = None,
        count: int | None = None,
    ) -> Tensor:
        """Each head's ``topk`` most likely tokens at one position, shape ``(count or K, topk)``.

        When :attr:`token_map` is set (a 1-D tensor of token ids), the heads score only
        those tokens: a shared ``lm_head`` is then a ``len(token_map) x H`` projection
        instead of ``V x H``, which on a small model saves most of a base step's
        vocabulary cost. Verification stays over the full vocabulary, so this only
        changes which candidates are proposed, never the output.

        Parameters
        ----------
        hidden_state : torch.Tensor, shape (H,)
        lm_head : torch.nn.Linear or None
            The base vocabulary projection (required with ``share_lm_head``).
        topk : int
        root_embedding : torch.Tensor, shape (H,), optional
            The base input embedding of the root token; required by root-conditioned
            heads (see :meth:`hidden`).
        count : int, optional
            Only the first ``count`` heads (a tree two deep needs two); default all.
        """
        if count is not None:
            count = check_positive_int("count", count)
        transformed = self.hidden(hidden_state, root_embedding, count)
        token_map: Tensor | None = getattr(self, "token_map", None)
        if self.lm_heads is None and token_map is not None:
            if lm_head is None:
                raise bad_value(
                    "lm_head",
                    None,
                    "heads built with share_lm_head=True need the base model's lm_head",
                    "Pass lm_head=model.get_output_embeddings().",
                )
            lm_weight = module_weight(lm_head)
            key = (lm_weight.data_ptr(), token_map.data_ptr(), id(lm_head))
            if getattr(self, "_sub_key", None) != key:
                # an lm_head on quantised blocks (tessera.llm._quant) gives a linear of
                # just these rows, on the same blocks (whole tiles: a few outputs more)
                rows = getattr(lm_head, "rows", None)
                self._sub_head = rows(token_map) if callable(rows) else None
                if self._sub_head is None:
                    self._sub_weight = lm_weight.detach()[token_map].contiguous()
                self._sub_key = key
                self._sub_holder = types.SimpleNamespace()
            if self._sub_head is not None:
                scores = self._sub_head(transformed)[..., : len(token_map)]
            else:
                scores = invariant_linear(transformed, self._sub_weight, holder=self._sub_holder)
            return token_map[torch.topk(scores, topk, dim=-1).indices]
        logits = self.forward(hidden_state, lm_head, root_embedding)[:count]
        return torch.topk(logits, topk, dim=-1).indices

    def set_token_map(self, token_ids: Tensor | Sequence[int] | np.ndarray | None) -> None:
        """Restrict the heads' proposals to ``token_ids`` (None: the whole vocabulary)."""
        if token_ids is None:
            self.token_map = None
            return
        ids = torch.as_tensor(token_ids, dtype=torch.long).flatten()
        if ids.numel() == 0 or int(ids.min()) < 0 or int(ids.max()) >= self.config.vocab_size:
            raise bad_value(
                "token_ids",
                token_ids,
                f"it must be a non-empty set of ids in [0, {self.config.vocab_size})",
                "Pass the ids of the tokens the heads may propose.",
            )
        self.token_map = torch.unique(ids)
