"""The recipe of the heads shipped for the default model, end to end."""

from __future__ import annotations

import math
import platform
import time
from pathlib import Path
from typing import Any

from tessera._validation import check_in, check_positive_int
from tessera.llm._model import DEFAULT_MODEL, load_model
from tessera.llm._torch import require
from tessera.llm.medusa._datastore import DATASTORE_FILE, build_datastore
from tessera.llm.medusa._distill import (
    DistillationData,
    generate_self_distillation_data,
    progress_bar,
)
from tessera.llm.medusa._io import HeadsMetadata, save_heads
from tessera.llm.medusa._prompts import heldout_count, heldout_prompts, training_prompts
from tessera.llm.medusa._train import (
    TrainResult,
    cache_training_states,
    check_rate,
    evaluate_heads,
    top_k_accuracy,
    train_medusa,
)

__all__ = ["DEFAULT_RECIPE", "train_default_heads"]

#: The settings the shipped heads were trained with.
DEFAULT_RECIPE: dict[str, Any] = {
    "max_new_tokens": 160,
    "generation_batch_size": 32,
    "num_heads": 3,
    "num_layers": 1,
    "epochs": 2,
    "learning_rate": 1e-3,
    "batch_size": 256,
    "vocabulary": "seen",
    "validation_fraction": 0.05,
    "seed": 0,
    "heldout_prompts": 64,
    "root_conditioned": True,
}


def train_default_heads(
    output_folder: str | Path,
    *,
    model: str | Path | None = None,
    prompts: list[str] | None = None,
    data: DistillationData | None = None,
    data_path: str | Path | None = None,
    max_new_tokens: int = DEFAULT_RECIPE["max_new_tokens"],
    generation_batch_size: int = DEFAULT_RECIPE["generation_batch_size"],
    num_heads: int = DEFAULT_RECIPE["num_heads"],
    num_layers: int = DEFAULT_RECIPE["num_layers"],
    epochs: int = DEFAULT_RECIPE["epochs"],
    learning_rate: float = DEFAULT_RECIPE["learning_rate"],
    batch_size: int = DEFAULT_RECIPE["batch_size"],
    vocabulary: str = DEFAULT_RECIPE["vocabulary"],
    validation_fraction: float = DEFAULT_RECIPE["validation_fraction"],
    seed: int = DEFAULT_RECIPE["seed"],
    heldout: int | None = None,
    progress: bool = True,
    root_conditioned: bool = DEFAULT_RECIPE["root_conditioned"],
) -> TrainResult:
    """Self-distil, train Medusa-1 heads and save them with their metadata.

    The defaults reproduce the heads shipped in ``tessera/llm/_data`` (the ones
    :func:`tessera.llm.load` uses): the default model answers all
    :func:`training_prompts` greedily with up to 160 new tokens, 3 root-conditioned heads
    of one ResBlock are trained for 2 epochs on 95% of the answers (AdamW at 1e-3, cosine
    decay; the softmax over the tokens the answers use plus 1,024 random others per
    step), and the per-rank accuracies are measured on the answers to 64
    :func:`heldout_prompts`. ``root_conditioned=False`` on the same answers reproduces the
    shipped exportable heads (``default_heads_folder(exportable=True)``). The datastore
    (:func:`~tessera.llm.medusa.build_datastore` on the same answers) is saved as
    ``datastore.npz`` beside the heads.

    The phases, each with a progress bar: generating the answers, caching the base model's
    hidden states, training, answering and caching the held-out prompts, building the
    datastore. Their measured times (and the data's sizes) are saved in the heads'
    ``medusa.json`` (``training``); docs/how-to/llm-generate.md lists how long each
    size takes. Reusing the answers (``data=`` / ``data_path=``) skips the first phase.

    Parameters
    ----------
    output_folder : str or pathlib.Path
        Where :func:`save_heads` writes the heads.
    model : str or pathlib.Path, optional
        As in :func:`tessera.llm.load_model` (default: the embedded model).
    prompts : list of str, optional
        Default: :func:`training_prompts`.
    data : DistillationData, optional
        Already generated data; skips generation (``prompts`` is then ignored).
    data_path : str or pathlib.Path, optional
        Where to save the generated data (an ``.npz``), to train again without
        regenerating.
    max_new_tokens, generation_batch_size
        Passed to :func:`generate_self_distillation_data`.
    num_heads, num_layers, epochs, learning_rate, batch_size, vocabulary,
    validation_fraction, seed
        Passed to :func:`train_medusa`.
    heldout : int, optional
        How many :func:`heldout_prompts` (topics never seen in training) to answer and
        measure the heads on; these accuracies are the ones saved (the candidate tree is
        built from them). 0 saves the accuracies of the ``validation_fraction`` split.
        Default: :func:`~tessera.llm.medusa._prompts.heldout_count` of the number of
        training prompts (64 for all of them, fewer for a quick try on a few).
    progress : bool, default=True
        A progress bar for every phase.
    root_conditioned : bool, default=True
        Passed to :func:`train_medusa`: heads that also see the root token's embedding
        (more accurate; False for heads that vLLM or FasterDecoding can serve).

    Returns
    -------
    TrainResult
    """
    torch = require("torch")
    # Check the training settings before the answers are generated (that part takes
    # many minutes on a real model), so that a typo fails at once.
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("num_heads", num_heads)):
        check_positive_int(name, value)
    check_positive_int("num_layers", num_layers)
    check_positive_int("seed", seed, minimum=0)
    check_rate("learning_rate", learning_rate)
    check_in("vocabulary", vocabulary, ("full", "seen"))
    if heldout is None:
        trained_on = len(data.sequences) if data is not None else prompts and len(prompts)
        heldout = heldout_count(trained_on or None)
    loaded = load_model(model)
    if data is None:
        data = generate_self_distillation_data(
            loaded.model,
            loaded.tokenizer,
            prompts if prompts is not None else training_prompts(),
            max_new_tokens=max_new_tokens,
            batch_size=generation_batch_size,
            progress=progress,
        )
        if data_path is not None:
            data.save(data_path)
    result = train_medusa(
        loaded.model,
        data,
        num_heads=num_heads,
        num_layers=num_layers,
        epochs=epochs,
        learning_rate=learning_rate,
        batch_size=batch_size,
        seed=seed,
        progress=progress,
        validation_fraction=validation_fraction,
        vocabulary=vocabulary,
        root_conditioned=root_conditioned,
    )
    generation_seconds = data.generation_seconds
    accuracies = result.accuracies
    held_facts: dict[str, Any] = {}
    if heldout:
        held = generate_self_distillation_data(
            loaded.model,
            loaded.tokenizer,
            heldout_prompts(heldout),
            max_new_tokens=max_new_tokens,
            batch_size=generation_batch_size,
            progress=progress,
            description="generating held-out",
        )
        cache_started = time.perf_counter()
        hidden, targets, roots = cache_training_states(
            loaded.model,
            held,
            range(len(held)),
            num_heads,
            progress=progress,
            description="caching held-out",
        )
        weight = loaded.model.get_output_embeddings().weight.detach()
        embedding = loaded.model.get_input_embeddings().weight.detach()
        with progress_bar(progress) as bar:
            task = bar.add_task("measuring held-out", total=1)
            accuracies, _ = evaluate_heads(
                result.heads, hidden, targets, weight, roots=roots, embedding=embedding
            )
            bar.advance(task)
        held_facts = {
            "heldout_prompts": len(held),
            "heldout_positions": len(hidden),
            "heldout_top1": [round(x, 4) for x in top_k_accuracy(accuracies, 1)],
            "heldout_top5": [round(x, 4) for x in top_k_accuracy(accuracies, 5)],
            "heldout_seconds": round(held.generation_seconds, 3),
            "heldout_cache_seconds": round(time.perf_counter() - cache_started, 3),
        }
    training = {
        "recipe": "tessera.llm.medusa.train_default_heads",
        "method": "medusa-1, self-distilled greedy answers, cached hidden states",
        "prompts": len(data),
        "response_tokens": data.response_tokens,
        "max_new_tokens": max_new_tokens,
        "num_heads": num_heads,
        "num_layers": num_layers,
        **result.facts,
        "train_positions": result.train_positions,
        "validation_positions": result.validation_positions,
        "losses": [round(x, 4) for x in result.losses],
        "validation_loss": round(result.validation_loss, 4),
        "validation_top1": [round(x, 4) for x in result.top1],
        "validation_top5": [round(x, 4) for x in result.top5],
        **held_facts,
        "generation_seconds": None
        if math.isnan(generation_seconds)
        else round(generation_seconds, 3),
        "cache_seconds": round(result.cache_seconds, 3),
        "training_seconds": round(result.seconds, 3),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.machine(),
    }
    name = loaded.name if loaded.name == DEFAULT_MODEL else str(loaded.folder)
    started = time.perf_counter()
    with progress_bar(progress) as bar:
        task = bar.add_task("building datastore", total=1)
        store = build_datastore(data)
        bar.advance(task)
    training["datastore_ngrams"] = len(store)
    training["datastore_seconds"] = round(time.perf_counter() - started, 3)
    folder = save_heads(
        result.heads,
        output_folder,
        HeadsMetadata(accuracies=accuracies, base_model=name, training=training),
    )
    store.save(folder / DATASTORE_FILE)
    return result
