"""Custom model versions: fine-tuned adapters stored under a name, loadable by that name.

A fine-tuned model is registered as ``$TESSERA_HOME/models/custom/<name>/v<N>/`` and
loaded anywhere a model is accepted as ``"custom:<name>"`` (the latest version) or
``"custom:<name>@<N>"``: ``tessera.llm.load("custom:acme@2")``, and through the backends
as ``get_backend("tessera:custom:acme")`` (prompts, flows, the server). A version holds
the LoRA adapter, loaded on top of its base model and merged in memory, or with
``merge=True`` the merged weights themselves; versions never change once written
(except that Medusa heads may be added beside them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera._validation import bad_value, check_bool
from tessera.llm._db import now
from tessera.llm._home import models_dir
from tessera.llm._torch import require
from tessera.llm.tune._train import TUNE_RECORD, TuneResult, quiet_peft

__all__ = [
    "CUSTOM_PREFIX",
    "CustomModel",
    "custom_models_dir",
    "get_model",
    "list_models",
    "load_adapter_model",
    "register_model",
    "resolve_custom_model",
    "train_heads",
]

#: Model ids with this prefix name registered custom models.
CUSTOM_PREFIX = "custom:"
#: Written into every version folder.
MODEL_RECORD = "tessera-model.json"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SPEC = re.compile(r"(?P<name>[^@]+)(?:@v?(?P<version>\d+))?")
_VERSION_DIR = re.compile(r"v(\d+)")


@dataclass(frozen=True)
class CustomModel:
    """One registered version of a custom model.

    Attributes
    ----------
    name : str
    version : int
    folder : pathlib.Path
        ``$TESSERA_HOME/models/custom/<name>/v<version>``.
    base_model : str
        The model the adapter was trained on.
    merged : bool
        Whether the folder holds merged weights (else a LoRA adapter).
    created_at : str
        ISO UTC time of registration.
    """

    name: str
    version: int
    folder: Path
    base_model: str
    merged: bool
    created_at: str

    @property
    def spec(self) -> str:
        """``"custom:<name>@<version>"``: what :func:`tessera.llm.load` accepts."""
        return f"{CUSTOM_PREFIX}{self.name}@{self.version}"

    @property
    def has_medusa(self) -> bool:
        """Whether Medusa heads were trained for this version (``<folder>/medusa``)."""
        return (self.folder / "medusa").is_dir()

    @property
    def training(self) -> dict[str, Any]:
        """The training record (hyperparameters, losses, timings)."""
        return dict(json.loads((self.folder / TUNE_RECORD).read_text()))


def custom_models_dir() -> Path:
    """``$TESSERA_HOME/models/custom``."""
    path = models_dir() / "custom"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise bad_value(
            "name",
            name,
            "a model name is 1 to 64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit",
            "Pass a name like 'support-bot'.",
        )
    return name


def _versions(name: str) -> list[int]:
    folder = custom_models_dir() / name
    if not folder.is_dir():
        return []
    found = (_VERSION_DIR.fullmatch(p.name) for p in folder.iterdir())
    return sorted(
        int(m.group(1)) for m in found if m and (folder / m.group(0) / MODEL_RECORD).is_file()
    )


def _read(name: str, version: int) -> CustomModel:
    folder = custom_models_dir() / name / f"v{version}"
    record = json.loads((folder / MODEL_RECORD).read_text())
    return CustomModel(
        name=name,
        version=version,
        folder=folder,
        base_model=str(record["base_model"]),
        merged=bool(record["merged"]),
        created_at=str(record["created_at"]),
    )


def get_model(spec: str) -> CustomModel:
    """The registered version ``spec`` names.

    Parameters
    ----------
    spec : str
        ``"custom:<name>"`` (latest version) or ``"custom:<name>@<N>"``; the prefix may
        be left out here.

    Raises
    ------
    InvalidInputError
        When the name or version is not registered (the message lists what is).
    """
    text = (
        spec[len(CUSTOM_PREFIX) :]
        if isinstance(spec, str) and spec.startswith(CUSTOM_PREFIX)
        else spec
    )
    match = _SPEC.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise bad_value(
            "model",
            spec,
            "a custom model is named 'custom:<name>' or 'custom:<name>@<version>'",
            "Pass e.g. 'custom:support-bot@1'.",
        )
    name = _check_name(match.group("name"))
    versions = _versions(name)
    if not versions:
        known = sorted({m.name for m in list_models()})
        raise bad_value(
            "model",
            spec,
            f"no custom model named {name!r} is registered (registered: {known or 'none'})",
            "Fine-tune one with 'tessera llm tune DATA --name NAME', or check the name.",
        )
    wanted = match.group("version")
    version = versions[-1] if wanted is None else int(wanted)
    if version not in versions:
        raise bad_value(
            "model",
            spec,
            f"{name!r} has no version {version} (versions: {versions})",
            f"Pass 'custom:{name}@{versions[-1]}' or leave the version out for the latest.",
        )
    return _read(name, version)


def list_models(name: str | None = None) -> list[CustomModel]:
    """Every registered version (of ``name`` only, when given), by name then version."""
    if name is not None:
        names = [_check_name(name)]
    else:
        names = sorted(p.name for p in custom_models_dir().iterdir() if _NAME.fullmatch(p.name))
    return [_read(n, v) for n in names for v in _versions(n)]


def resolve_custom_model(spec: str) -> tuple[Path, str]:
    """For :func:`tessera.llm._model.resolve_model_folder`: the folder and pinned name."""
    found = get_model(spec)
    return found.folder, found.spec


def register_model(
    source: TuneResult | str | Path, name: str, *, merge: bool = False
) -> CustomModel:
    """Store a fine-tuning result as the next version of custom model ``name``.

    Parameters
    ----------
    source : TuneResult, str or pathlib.Path
        A :func:`fine_tune` result or its folder (adapter, tokenizer, metrics).
    name : str
        The model's name; versions count up from 1 per name.
    merge : bool, default=False
        Store the base weights with the adapter merged in (bf16; a full model copy that
        loads without peft) instead of the adapter alone (a few MB, merged at load time).
        The adapter is kept in ``adapter/`` either way.

    Returns
    -------
    CustomModel
        Load it with ``tessera.llm.load(model.spec)``.
    """
    _check_name(name)
    check_bool("merge", merge)
    folder = source.folder if isinstance(source, TuneResult) else Path(source)
    if not (folder / TUNE_RECORD).is_file() or not (folder / "adapter_config.json").is_file():
        raise bad_value(
            "source",
            str(folder),
            f"it must be a fine_tune() output folder (with adapter_config.json and {TUNE_RECORD})",
            "Pass the TuneResult or its .folder.",
        )
    base_model = str(json.loads((folder / TUNE_RECORD).read_text())["base_model"])
    home = custom_models_dir() / name
    home.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=home))
    try:
        if merge:
            shutil.copytree(folder, staging / "adapter", dirs_exist_ok=True)
            merged = load_adapter_model(folder, dtype="float32")
            torch = require("torch")
            merged.to(torch.bfloat16).save_pretrained(staging)
            for item in folder.iterdir():
                if item.is_file() and not item.name.startswith("adapter_"):
                    shutil.copy2(item, staging / item.name)
        else:
            shutil.copytree(folder, staging, dirs_exist_ok=True)
        record = {"name": name, "base_model": base_model, "merged": merge, "created_at": now()}
        # Claim the next number by renaming the finished folder into place: a rename onto
        # an existing (non-empty) version fails, so concurrent registrations never clash.
        while True:
            version = max(_versions(name), default=0) + 1
            (staging / MODEL_RECORD).write_text(
                json.dumps({**record, "version": version}, indent=2)
            )
            try:
                os.rename(staging, home / f"v{version}")
                break
            except OSError:
                if not (home / f"v{version}").exists():
                    raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return _read(name, version)


def load_adapter_model(
    folder: str | Path, *, dtype: str = "bfloat16", batch_invariant: bool = True
) -> Any:
    """Load a LoRA adapter folder's base model, apply the adapter and merge it in memory.

    The base model is the one named in the folder's training record, loaded with
    :func:`tessera.llm._model.load_model` (so it may itself be a custom model).
    """
    from tessera.llm._model import load_model

    folder = Path(folder)
    try:
        base_model = json.loads((folder / TUNE_RECORD).read_text())["base_model"]
    except (OSError, ValueError, KeyError):
        raise bad_value(
            "model",
            str(folder),
            f"an adapter folder needs its {TUNE_RECORD} naming the base model",
            "Load a folder written by tessera.llm.tune.fine_tune.",
        ) from None
    peft = require("peft")
    base = load_model(base_model, dtype=dtype, batch_invariant=batch_invariant).model
    with quiet_peft():
        model = peft.PeftModel.from_pretrained(base, folder).merge_and_unload()
    model.eval()
    model.requires_grad_(False)
    return model


def train_heads(spec: str, **options: Any) -> Any:
    """Train Medusa heads for a custom model version and store them beside it.

    :func:`tessera.llm.load` then uses them (``<version folder>/medusa``). The recipe is
    :func:`tessera.llm.medusa.train_default_heads` (self-distillation on the tuned
    model's own answers); ``options`` go to it (``prompts``, ``max_new_tokens``,
    ``epochs``, ``heldout``, ``progress``, ...).

    Returns
    -------
    tessera.llm.medusa.TrainResult
    """
    from tessera.llm.medusa import train_default_heads

    found = get_model(spec)
    return train_default_heads(found.folder / "medusa", model=found.spec, **options)
