"""Export Medusa heads to the folders that serving engines load.

Two targets, each a folder with a ``config.json`` and the weights:

``"fasterdecoding"``
    The layout of FasterDecoding/Medusa (``MedusaModel.medusa_head``, a ``ModuleList`` of
    ``Sequential(ResBlock, ..., Linear(H, V, bias=False))``): tensors
    ``{i}.{j}.linear.weight`` (H, H), ``{i}.{j}.linear.bias`` (H,) and ``{i}.{L}.weight``
    (V, H) for head i, layer j and L layers, in ``medusa_lm_head.safetensors`` (read by
    text-generation-inference) and ``medusa_lm_head.pt`` (read by FasterDecoding's
    ``MedusaModel.from_pretrained``); ``config.json`` holds ``medusa_num_heads``,
    ``medusa_num_layers`` and ``base_model_name_or_path``.
``"vllm"``
    vLLM's ``Medusa`` draft model (``model_type: "medusa"``): tensors
    ``blocks.{i}.layers.{j}.weight`` / ``.bias`` and either one ``lm_head.weight`` with
    ``original_lm_head: true`` (heads that share the base model's ``lm_head``: the file
    stays small) or ``lm_heads.{i}.weight`` per head, in ``model.safetensors``.

The layouts were read from FasterDecoding/Medusa ``medusa/model/medusa_model.py`` and
vLLM ``vllm/model_executor/models/medusa.py`` and ``vllm/transformers_utils/configs/medusa.py``;
``docs/how-to/medusa-export.md`` has the details and how to serve each folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast, get_args

from tessera._validation import bad_value, short_repr
from tessera.errors import InvalidTypeError
from tessera.llm._torch import require
from tessera.llm.medusa._heads import MedusaHeads, _ResBlock
from tessera.llm.medusa._typing import module_weight

if TYPE_CHECKING:
    import safetensors.torch as safetensors_torch
    import torch
    from torch import Tensor, nn
else:
    torch = require("torch")
    safetensors_torch = require("safetensors.torch")

__all__ = ["ExportFormat", "export_fasterdecoding", "export_heads", "export_vllm"]

ExportFormat = Literal["fasterdecoding", "vllm"]

_CONFIG = "config.json"
_FD_SAFETENSORS = "medusa_lm_head.safetensors"
_FD_PICKLE = "medusa_lm_head.pt"
_VLLM_WEIGHTS = "model.safetensors"
_DTYPES = ("bfloat16", "float16", "float32")
# vLLM's MedusaConfig defaults; its Medusa model proposes the top-1 token of each head and
# does not read them, but they keep the config complete for tools that do.
_VLLM_MAX_PATHS = 64
_VLLM_TOPK = 10


def export_heads(
    heads: MedusaHeads,
    folder: str | Path,
    *,
    format: ExportFormat,
    base_model: str,
    lm_head: nn.Module | Tensor | None = None,
    dtype: str | torch.dtype = "bfloat16",
) -> Path:
    """Write ``heads`` to ``folder`` in the layout a serving engine loads.

    Parameters
    ----------
    heads : MedusaHeads
        The heads to export (any device; the files are written from CPU copies).
    folder : str or pathlib.Path
        Created if missing. It must be empty or hold only files of an earlier export of the
        same format: engines read every weight file in the folder.
    format : {"fasterdecoding", "vllm"}
        The target layout (see the module docstring).
    base_model : str
        The Hugging Face name or local path of the base model the heads were trained on;
        FasterDecoding and text-generation-inference load the base model from it.
    lm_head : torch.nn.Linear or torch.Tensor, optional
        The base model's vocabulary projection (``model.get_output_embeddings()``, or its
        ``(vocab_size, hidden_size)`` weight). Required when the heads share it
        (``share_lm_head=True``); ignored when each head has its own projection.
    dtype : {"bfloat16", "float16", "float32"} or torch.dtype, default="bfloat16"
        The dtype of the stored tensors.

    Returns
    -------
    pathlib.Path
        The folder.

    Raises
    ------
    tessera.errors.InvalidInputError
        For an unknown ``format``, an empty ``base_model``, a missing or mis-shaped
        ``lm_head``, an unsupported ``dtype``, non-finite weights, a folder holding other
        files, or heads the target cannot represent (FasterDecoding with different
        ResBlocks in one head; root-conditioned heads in either format).
    tessera.errors.InvalidTypeError
        When ``heads`` is not a :class:`MedusaHeads` or ``lm_head`` has no weight.

    Examples
    --------
    >>> import tempfile
    >>> from tessera.llm.medusa import MedusaConfig, MedusaHeads, export_heads
    >>> heads = MedusaHeads(MedusaConfig(hidden_size=8, vocab_size=20, share_lm_head=False))
    >>> out = export_heads(heads, tempfile.mkdtemp(), format="vllm", base_model="my/base")
    >>> sorted(p.name for p in out.iterdir())
    ['config.json', 'model.safetensors']
    """
    if format not in get_args(ExportFormat):
        choices = ", ".join(repr(f) for f in get_args(ExportFormat))
        raise bad_value(
            "format", format, f"it must be one of {choices}", f"Pass format= one of {choices}."
        )
    exporter = export_fasterdecoding if format == "fasterdecoding" else export_vllm
    return exporter(heads, folder, base_model=base_model, lm_head=lm_head, dtype=dtype)


def export_fasterdecoding(
    heads: MedusaHeads,
    folder: str | Path,
    *,
    base_model: str,
    lm_head: nn.Module | Tensor | None = None,
    dtype: str | torch.dtype = "bfloat16",
) -> Path:
    """Write ``heads`` in FasterDecoding/Medusa's layout (also read by text-generation-inference).

    Every head gets its own ``(vocab_size, hidden_size)`` projection ``{i}.{L}.weight``, as
    FasterDecoding's ``MedusaModel`` builds one per head: heads that share the base
    ``lm_head`` get copies of it. ``medusa_lm_head.pt`` stores the shared projection once
    (``torch.save`` keeps shared storage); ``medusa_lm_head.safetensors`` holds one copy per
    head (safetensors stores no shared tensors).

    Parameters and errors as in :func:`export_heads`. FasterDecoding builds a head's
    ResBlocks as ``[ResBlock(H)] * num_layers``, one module repeated, so a head whose
    layers differ cannot be represented and raises; use :func:`export_vllm` for those.

    Returns
    -------
    pathlib.Path
        The folder, holding ``config.json``, ``medusa_lm_head.safetensors`` and
        ``medusa_lm_head.pt``.
    """
    target, projections = _validated(heads, base_model, lm_head, dtype, fmt="fasterdecoding")
    config = heads.config
    blocks = _block_tensors(heads)
    for head, layers in enumerate(blocks):
        for layer, (weight, bias) in enumerate(layers[1:], start=1):
            if not (torch.equal(weight, layers[0][0]) and torch.equal(bias, layers[0][1])):
                raise bad_value(
                    "heads",
                    f"MedusaHeads(num_layers={config.num_layers})",
                    f"head {head} has ResBlock {layer} different from ResBlock 0, and "
                    "FasterDecoding's MedusaModel builds a head's ResBlocks as "
                    "[ResBlock(H)] * num_layers (one module repeated), so all layers of a "
                    "head share one set of weights",
                    "Export with format='vllm' (vLLM keeps the layers apart), or train "
                    "heads with num_layers=1 for FasterDecoding.",
                )
    folder_path = _prepare_folder(folder, (_CONFIG, _FD_SAFETENSORS, _FD_PICKLE))
    num_layers = config.num_layers
    pickled: dict[str, Tensor] = {}
    shared = _cast(projections[0], target) if len(projections) == 1 else None
    for head, layers in enumerate(blocks):
        for layer, (weight, bias) in enumerate(layers):
            pickled[f"{head}.{layer}.linear.weight"] = _cast(weight, target)
            pickled[f"{head}.{layer}.linear.bias"] = _cast(bias, target)
        projection = shared if shared is not None else _cast(projections[head], target)
        pickled[f"{head}.{num_layers}.weight"] = projection
    # safetensors refuses tensors that share memory: give each name its own copy.
    flat = {name: tensor.clone() for name, tensor in pickled.items()}
    safetensors_torch.save_file(flat, str(folder_path / _FD_SAFETENSORS), metadata={"format": "pt"})
    torch.save(pickled, str(folder_path / _FD_PICKLE))
    document = {
        "medusa_num_heads": config.num_heads,
        "medusa_num_layers": num_layers,
        "base_model_name_or_path": base_model,
    }
    (folder_path / _CONFIG).write_text(json.dumps(document, indent=2) + "\n")
    return folder_path


def export_vllm(
    heads: MedusaHeads,
    folder: str | Path,
    *,
    base_model: str,
    lm_head: nn.Module | Tensor | None = None,
    dtype: str | torch.dtype = "bfloat16",
) -> Path:
    """Write ``heads`` as a vLLM Medusa draft model (``model_type: "medusa"``).

    Heads that share the base ``lm_head`` are written with ``original_lm_head: true`` and a
    single ``lm_head.weight``, which vLLM's ``Medusa`` model uses for every head (one
    vocabulary projection on disk instead of one per head). Heads with their own
    projections get ``lm_heads.{i}.weight``. The ResBlock biases need
    ``medusa_fc_bias: true``, which the config sets.

    Parameters and errors as in :func:`export_heads`.

    Returns
    -------
    pathlib.Path
        The folder, holding ``config.json`` and ``model.safetensors``.
    """
    target, projections = _validated(heads, base_model, lm_head, dtype, fmt="vllm")
    config = heads.config
    folder_path = _prepare_folder(folder, (_CONFIG, _VLLM_WEIGHTS))
    state: dict[str, Tensor] = {}
    for head, layers in enumerate(_block_tensors(heads)):
        for layer, (weight, bias) in enumerate(layers):
            state[f"blocks.{head}.layers.{layer}.weight"] = _cast(weight, target)
            state[f"blocks.{head}.layers.{layer}.bias"] = _cast(bias, target)
    original_lm_head = len(projections) == 1
    if original_lm_head:
        state["lm_head.weight"] = _cast(projections[0], target)
    else:
        for head, projection in enumerate(projections):
            state[f"lm_heads.{head}.weight"] = _cast(projection, target)
    safetensors_torch.save_file(state, str(folder_path / _VLLM_WEIGHTS), metadata={"format": "pt"})
    document = {
        "model_type": "medusa",
        "architectures": ["MedusaModel"],
        "hidden_size": config.hidden_size,
        "vocab_size": config.vocab_size,
        "num_heads": config.num_heads,
        "num_hidden_layers": config.num_layers,
        "truncated_vocab_size": config.vocab_size,
        "medusa_fc_bias": True,
        "original_lm_head": original_lm_head,
        "logit_scale": 1.0,
        "max_paths": _VLLM_MAX_PATHS,
        "topk": _VLLM_TOPK,
        "base_model_name_or_path": base_model,
    }
    (folder_path / _CONFIG).write_text(json.dumps(document, indent=2) + "\n")
    return folder_path


def _validated(
    heads: object,
    base_model: object,
    lm_head: nn.Module | Tensor | None,
    dtype: object,
    *,
    fmt: str,
) -> tuple[torch.dtype, list[Tensor]]:
    """Check the arguments shared by both formats: the torch dtype and the projections."""
    heads = _check_heads(heads)
    if heads.config.root_conditioned:
        raise bad_value(
            "heads",
            f"MedusaHeads(root_conditioned=True, num_heads={heads.config.num_heads})",
            f"the {fmt} format has no input for the root token's embedding, so "
            "root-conditioned heads cannot be exported",
            "Export plain heads (trained with root_conditioned=False or `tessera llm medusa "
            "train --plain`), such as the default model's exportable ones: "
            "tessera.llm.default_heads_folder(exportable=True).",
        )
    _check_base_model(base_model)
    return _resolve_dtype(dtype), _projections(heads, lm_head, fmt=fmt)


def _check_heads(heads: object) -> MedusaHeads:
    if not isinstance(heads, MedusaHeads):
        raise InvalidTypeError(
            f"heads={short_repr(heads)} is invalid: it must be a MedusaHeads "
            f"(got {type(heads).__name__}). Pass the heads from MedusaHeads(config) or "
            "load_heads(folder)[0]."
        )
    return heads


def _check_base_model(base_model: object) -> None:
    if not isinstance(base_model, str) or not base_model.strip():
        raise bad_value(
            "base_model",
            base_model,
            "it must be a non-empty string naming the base model",
            "Pass the Hugging Face name or local path of the model the heads were trained "
            "on, e.g. base_model='HuggingFaceTB/SmolLM2-135M-Instruct'.",
        )


def _resolve_dtype(dtype: object) -> torch.dtype:
    names: dict[torch.dtype, str] = {getattr(torch, name): name for name in _DTYPES}
    if isinstance(dtype, str) and dtype in _DTYPES:
        resolved: torch.dtype = getattr(torch, dtype)
        return resolved
    if isinstance(dtype, torch.dtype) and dtype in names:
        return dtype
    choices = ", ".join(repr(name) for name in _DTYPES)
    raise bad_value(
        "dtype",
        dtype,
        f"it must be one of {choices} (or the torch dtype of that name)",
        "Pass dtype='bfloat16' (the default) or the dtype the engine serves the base model in.",
    )


def _projections(
    heads: MedusaHeads, lm_head: nn.Module | Tensor | None, *, fmt: str
) -> list[Tensor]:
    """The vocabulary projections to write: one shared weight, or one per head."""
    config = heads.config
    if heads.lm_heads is not None:
        weights = [module_weight(layer).detach() for layer in heads.lm_heads]
        return [_finite("heads", f"lm_heads.{k}.weight", w) for k, w in enumerate(weights)]
    if lm_head is None:
        raise bad_value(
            "lm_head",
            None,
            f"heads built with share_lm_head=True end in the base model's lm_head, and "
            f"format={fmt!r} stores the vocabulary projection with the heads",
            "Pass lm_head=model.get_output_embeddings() (or its weight).",
        )
    if isinstance(lm_head, torch.Tensor):
        weight = lm_head
    else:
        found: object = getattr(lm_head, "weight", None)
        if not isinstance(found, torch.Tensor):
            raise InvalidTypeError(
                f"lm_head={short_repr(lm_head)} is invalid: it must be a torch.nn.Linear "
                "or a (vocab_size, hidden_size) tensor. Pass model.get_output_embeddings()."
            )
        weight = found
        if getattr(lm_head, "bias", None) is not None:
            raise bad_value(
                "lm_head",
                lm_head,
                "it has a bias, and neither FasterDecoding's nor vLLM's Medusa heads can "
                "store one on the vocabulary projection",
                "Export only for a base model whose lm_head has bias=False.",
            )
    expected = (config.vocab_size, config.hidden_size)
    if tuple(weight.shape) != expected:
        raise bad_value(
            "lm_head",
            f"<weight of shape {tuple(weight.shape)}>",
            f"its weight must have shape (vocab_size, hidden_size) = {expected} to match "
            "heads.config",
            "Pass the lm_head of the base model the heads were trained for.",
        )
    return [_finite("lm_head", "weight", weight.detach())]


def _block_tensors(heads: MedusaHeads) -> list[list[tuple[Tensor, Tensor]]]:
    """``[head][layer] -> (weight, bias)`` of every ResBlock, checked finite."""
    blocks = [
        [cast("_ResBlock", block) for block in cast("nn.Sequential", sequential)]
        for sequential in heads.blocks
    ]
    return [
        [
            (
                _finite("heads", f"blocks.{k}.{j}.linear.weight", block.linear.weight.detach()),
                _finite("heads", f"blocks.{k}.{j}.linear.bias", block.linear.bias.detach()),
            )
            for j, block in enumerate(sequential)
        ]
        for k, sequential in enumerate(blocks)
    ]


def _finite(argument: str, name: str, tensor: Tensor) -> Tensor:
    if not bool(torch.isfinite(tensor).all()):
        raise bad_value(
            argument,
            f"<{name} with NaN or infinite entries>",
            "exported weights must be finite",
            "Retrain or reload the heads; a diverged training run leaves NaN weights.",
        )
    return tensor


def _cast(tensor: Tensor, dtype: torch.dtype) -> Tensor:
    return tensor.to(device="cpu", dtype=dtype).contiguous()


def _prepare_folder(folder: str | Path, names: tuple[str, ...]) -> Path:
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise bad_value(
            "folder", str(folder), "it is a file, not a folder", "Pass a new or empty folder."
        )
    if path.is_dir():
        others = sorted(p.name for p in path.iterdir() if p.name not in names)
        if others:
            raise bad_value(
                "folder",
                str(folder),
                f"it holds other files ({', '.join(others[:5])}), and serving engines "
                "read every weight file of the folder",
                "Export into a new or empty folder (one folder per format).",
            )
    path.mkdir(parents=True, exist_ok=True)
    return path
