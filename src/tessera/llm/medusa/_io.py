"""Saving and loading Medusa heads in tessera's own format.

A heads folder holds ``medusa.json`` (the :class:`MedusaConfig`, the candidate tree, the
per-head top-k accuracies measured on held-out data, the base model's name and free-form
training facts) and ``heads.safetensors`` (the weights, named as in
:class:`MedusaHeads`' ``state_dict``, plus ``token_map`` when the heads propose from a
subset of the vocabulary).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tessera._validation import bad_value
from tessera.llm._torch import require
from tessera.llm.medusa._heads import MedusaConfig, MedusaHeads

if TYPE_CHECKING:
    import safetensors.torch as safetensors_torch
    import torch
else:
    torch = require("torch")
    safetensors_torch = require("safetensors.torch")

__all__ = ["FORMAT_VERSION", "HeadsMetadata", "load_heads", "save_heads"]

FORMAT_VERSION = 1
_CONFIG = "medusa.json"
_WEIGHTS = "heads.safetensors"


@dataclass(frozen=True)
class HeadsMetadata:
    """What travels with a set of heads besides the weights.

    Attributes
    ----------
    tree : list of tuple of int
        The candidate tree (paths of top-k ranks, one per depth); empty when unknown.
    accuracies : list of list of float
        ``accuracies[k][r]``: how often head k+1's rank-r candidate was the right token,
        measured on held-out self-distilled data; empty when unknown.
    base_model : str
        The name or path of the model the heads were trained for.
    training : dict
        Free-form facts about training (data size, epochs, seconds).
    """

    tree: list[tuple[int, ...]] = field(default_factory=list)
    accuracies: list[list[float]] = field(default_factory=list)
    base_model: str = ""
    training: dict[str, Any] = field(default_factory=dict)


def save_heads(
    heads: MedusaHeads, folder: str | Path, metadata: HeadsMetadata | None = None
) -> Path:
    """Write ``heads`` (and ``metadata``) to ``folder``, creating it.

    Weights are stored in bf16 (a 576-wide, 3-head set is about 2 MB).

    Returns
    -------
    pathlib.Path
        The folder.
    """
    metadata = metadata or HeadsMetadata()
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    state = {
        name: tensor.detach().to(torch.bfloat16).contiguous()
        for name, tensor in heads.state_dict().items()
    }
    if heads.token_map is not None:
        state["token_map"] = heads.token_map.to(torch.int64).contiguous()
    safetensors_torch.save_file(state, str(path / _WEIGHTS))
    document = {
        "format": "tessera-medusa",
        "format_version": FORMAT_VERSION,
        "config": heads.config.to_dict(),
        "tree": [list(p) for p in metadata.tree],
        "accuracies": metadata.accuracies,
        "base_model": metadata.base_model,
        "training": metadata.training,
    }
    (path / _CONFIG).write_text(json.dumps(document, indent=2) + "\n")
    return path


def load_heads(
    folder: str | Path, *, dtype: torch.dtype | None = None
) -> tuple[MedusaHeads, HeadsMetadata]:
    """Read heads written by :func:`save_heads`.

    Parameters
    ----------
    folder : str or pathlib.Path
    dtype : torch.dtype, optional
        Cast the weights (default: keep bf16).

    Returns
    -------
    heads : MedusaHeads
        In evaluation mode, gradients off.
    metadata : HeadsMetadata
    """
    path = Path(folder)
    config_path = path / _CONFIG
    if not config_path.is_file() or not (path / _WEIGHTS).is_file():
        raise bad_value(
            "folder",
            str(folder),
            f"a heads folder must hold {_CONFIG} and {_WEIGHTS}",
            "Pass a folder written by save_heads or `tessera llm medusa train`.",
        )
    document = json.loads(config_path.read_text())
    if document.get("format") != "tessera-medusa" or document.get("format_version") != 1:
        raise bad_value(
            "folder",
            str(folder),
            f"{_CONFIG} is not a tessera-medusa version {FORMAT_VERSION} document",
            "Re-export the heads with this version of tessera.",
        )
    config = MedusaConfig(**document["config"])
    heads = MedusaHeads(config)
    state = safetensors_torch.load_file(str(path / _WEIGHTS))
    token_map = state.pop("token_map", None)
    heads.load_state_dict(state, strict=True)
    heads.set_token_map(token_map)
    if dtype is not None:
        heads.to(dtype)
    else:
        heads.to(next(iter(state.values())).dtype)
    heads.eval()
    heads.requires_grad_(False)
    metadata = HeadsMetadata(
        tree=[tuple(int(r) for r in p) for p in document.get("tree", [])],
        accuracies=[[float(a) for a in row] for row in document.get("accuracies", [])],
        base_model=str(document.get("base_model", "")),
        training=dict(document.get("training", {})),
    )
    return heads, metadata
