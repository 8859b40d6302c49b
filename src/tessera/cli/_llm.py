"""``tessera llm``: generate text with a local model, and train, bench and export Medusa heads.

Presentation only: the work is done by :mod:`tessera.llm` and :mod:`tessera.llm.medusa`,
imported inside the commands so that ``tessera --help`` never loads torch.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from tessera.cli._app import app, console, edge, err_console

llm_app = typer.Typer(
    name="llm",
    help="A local LLM: generate text, with Medusa multi-token decoding.",
    no_args_is_help=True,
)
medusa_app = typer.Typer(
    name="medusa",
    help="Medusa decoding heads: train them, measure the speed-up, export them for vLLM.",
    no_args_is_help=True,
)
llm_app.add_typer(medusa_app, name="medusa")
app.add_typer(llm_app, name="llm")

#: The Hugging Face name of the embedded default model, written into exported configs.
DEFAULT_MODEL_HUB_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"

Model = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="A transformers model folder, a .gguf file, or a fine-tuned custom:NAME[@VERSION] "
        "(default: the embedded SmolLM2-135M-Instruct).",
        show_default=False,
    ),
]
Heads = Annotated[
    Path | None,
    typer.Option(
        "--heads",
        help="A Medusa heads folder (default: the heads shipped for the default model, or "
        "MODEL/medusa).",
        show_default=False,
    ),
]
MaxNewTokens = Annotated[int, typer.Option("--max-new-tokens", "-n", help="Most tokens to add.")]


class Format(StrEnum):
    """The serving layouts :func:`tessera.llm.medusa.export_heads` writes."""

    vllm = "vllm"
    fasterdecoding = "fasterdecoding"


def _quiet_transformers() -> None:
    """No per-file progress bars from transformers while loading weights."""
    from tessera.llm._torch import require

    require("transformers.utils.logging").disable_progress_bar()


LookupTokens = Annotated[
    int | None,
    typer.Option(
        "--lookup-tokens",
        min=0,
        max=32,
        help="Prompt-lookup tokens verified beside the Medusa tree at each step (0: the "
        "heads alone; default: the weight format's).",
        show_default=False,
    ),
]


class Weights(StrEnum):
    """Weight formats of :func:`tessera.llm.load` (auto: its default for this machine)."""

    auto = "auto"
    bf16 = "bf16"
    q4_1 = "q4_1"


WeightsOption = Annotated[
    Weights,
    typer.Option(
        "--weights",
        help="Weight format: auto (q4_1 for the default model on CPUs with AMX, else bf16), "
        "bf16, or q4_1 (the GGUF file's own 4-bit blocks).",
    ),
]
UseDatastore = Annotated[
    bool,
    typer.Option(
        "--datastore/--no-datastore",
        help="Also draft from the heads' datastore (continuations from their training "
        "answers) when prompt lookup finds no match.",
    ),
]


def _load(
    model: str | None,
    heads: Path | None,
    lookup_tokens: int | None,
    datastore: bool = True,
    weights: Weights = Weights.auto,
) -> Any:
    """The runtime, with the llm extra's import errors surfacing as MissingExtraError."""
    from tessera.llm._torch import require

    require("torch")
    _quiet_transformers()
    from tessera.llm import load

    return load(
        model,
        heads=heads,
        lookup_tokens=lookup_tokens,
        datastore=datastore,
        weights=None if weights is Weights.auto else weights.value,
    )


def _counted(steps: Iterator[list[int]], counts: list[int]) -> Iterator[list[int]]:
    """Pass decoding steps through, counting tokens (counts[0]) and steps (counts[1])."""
    for step in steps:
        counts[0] += len(step)
        counts[1] += 1
        yield step


def _print_stats(runtime: Any, tokens: int, steps: int, seconds: float, medusa: bool) -> None:
    rate = tokens / seconds if seconds > 0 else 0.0
    how = (
        f"Medusa, tree of {runtime.tree.num_nodes} tokens"
        + (f" + {runtime.lookup_tokens} lookup" if runtime.lookup_tokens else "")
        + (" + datastore" if runtime.datastore is not None and runtime.lookup_tokens else "")
        if medusa and runtime.heads is not None
        else "plain decoding"
    )
    err_console.print(
        f"{tokens} tokens in {seconds:.2f} s: {rate:.1f} tokens/s, "
        f"{tokens / max(steps, 1):.2f} tokens/step ({how})",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


@llm_app.command("generate")
@edge
def generate(
    prompt: Annotated[str, typer.Argument(help="The user message (the chat template is applied).")],
    model: Model = None,
    heads: Heads = None,
    medusa: Annotated[
        bool, typer.Option("--medusa/--no-medusa", help="Use the Medusa heads when present.")
    ] = True,
    stream: Annotated[bool, typer.Option("--stream", help="Print the text as it comes.")] = False,
    max_new_tokens: MaxNewTokens = 256,
    temperature: Annotated[
        float,
        typer.Option(help="In [0, 2]; 0 is greedy (Medusa output identical to plain greedy)."),
    ] = 0.0,
    top_p: Annotated[
        float, typer.Option("--top-p", help="Nucleus sampling threshold, in (0, 1].")
    ] = 1.0,
    top_k: Annotated[
        int | None,
        typer.Option(
            "--top-k", help="Sample only among the K most likely tokens.", show_default=False
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            help="Seed for sampling (temperature > 0), in [0, 2**63-1].", show_default=False
        ),
    ] = None,
    stats: Annotated[
        bool, typer.Option("--stats", help="Print tokens/s and tokens/step on stderr.")
    ] = False,
    lookup_tokens: LookupTokens = None,
    datastore: UseDatastore = True,
    weights: WeightsOption = Weights.auto,
    system: Annotated[
        str | None,
        typer.Option(
            "--system",
            help="A system message sent before PROMPT (for a model tuned with one, send the same).",
            show_default=False,
        ),
    ] = None,
    json_schema: Annotated[
        Path | None,
        typer.Option(
            "--json-schema",
            help="A JSON Schema file: the output parses and validates against it.",
            exists=True,
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    regex: Annotated[
        str | None,
        typer.Option(
            "--regex", help="A regular expression the whole output matches.", show_default=False
        ),
    ] = None,
    grammar: Annotated[
        Path | None,
        typer.Option(
            "--grammar",
            help="A grammar file (Lark syntax, or llama.cpp's GBNF) the output follows.",
            exists=True,
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
) -> None:
    """Answer PROMPT with a local model (the embedded SmolLM2-135M-Instruct by default).

    With --json-schema, --regex or --grammar the output is kept inside it while decoding;
    a note on stderr says when --max-new-tokens cut it first.
    """
    from tessera.llm._sampling import check_max_tokens, check_sampling
    from tessera.llm._structured import pick_constraint

    # The library's own checks, before the model loads: the same messages as the API's.
    check_max_tokens(max_new_tokens, name="max_new_tokens")
    check_sampling(temperature=temperature, top_p=top_p, top_k=top_k, seed=seed)
    given = pick_constraint(
        json_schema=None if json_schema is None else json_schema.read_text(encoding="utf-8"),
        grammar=None if grammar is None else grammar.read_text(encoding="utf-8"),
        regex=regex,
    )
    runtime = _load(model, heads, lookup_tokens, datastore, weights)
    messages: str | list[dict[str, str]] = prompt
    if system is not None:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
    options: dict[str, Any] = dict(
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_p=top_p,
        top_k=top_k,
        medusa=medusa,
        seed=seed,
    )
    if given is not None:
        options["constraint"] = runtime.constraint(**{given[0]: given[1]})
    if not stream:
        generation = runtime.generate(messages, **options)
        typer.echo(generation.text)
        _note_cut(generation.finish_reason, given is not None, max_new_tokens)
        if stats:
            _print_stats(
                runtime,
                len(generation.token_ids),
                generation.steps,
                generation.seconds,
                generation.medusa,
            )
        return
    counts = [0, 0]
    start = time.perf_counter()
    from tessera.llm.medusa._decode import DecodeStats

    decoded = DecodeStats()
    steps = _counted(runtime.token_stream(messages, stats=decoded, **options), counts)
    for piece in runtime.text_pieces(steps):
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    _note_cut(decoded.finish_reason, given is not None, max_new_tokens)
    if stats:
        _print_stats(runtime, counts[0], counts[1], time.perf_counter() - start, medusa)


def _note_cut(finish_reason: str, constrained: bool, max_new_tokens: int) -> None:
    """Say on stderr when the token budget cut a constrained output (it may not parse)."""
    if constrained and finish_reason == "length":
        err_console.print(
            f"note: --max-new-tokens {max_new_tokens} ended the output before the constraint "
            "was complete (finish reason: length); raise it for a complete answer.",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )


@contextmanager
def _progress(description: str, total: int) -> Iterator[Callable[[int, int], None]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda done, _total: progress.update(task, completed=done)


@medusa_app.command("bench")
@edge
def bench(
    model: Model = None,
    heads: Heads = None,
    prompts: Annotated[
        int, typer.Option("--prompts", "-p", help="Held-out prompts to decode.")
    ] = 8,
    max_new_tokens: MaxNewTokens = 128,
    lookup_tokens: LookupTokens = None,
    datastore: UseDatastore = True,
    weights: WeightsOption = Weights.auto,
) -> None:
    """Time plain greedy against Medusa greedy on held-out prompts (same model, same dtype)."""
    from tessera.llm.medusa._bench import compare_decoding
    from tessera.llm.medusa._prompts import heldout_prompts

    chosen = heldout_prompts(prompts)
    runtime = _load(model, heads, lookup_tokens, datastore, weights)
    with _progress("decoding prompts", len(chosen)) as advance:
        comparison = compare_decoding(
            runtime, chosen, max_new_tokens=max_new_tokens, progress=advance
        )
    console.print(
        f"{escape(str(runtime.name))}: {len(chosen)} held-out prompts, "
        f"up to {max_new_tokens} new tokens each",
        highlight=False,
        soft_wrap=True,
    )
    console.print(escape(comparison.summary()), highlight=False)
    if not all(comparison.identical):
        err_console.print(
            "[bold red]warning:[/] Medusa's greedy output differed from plain greedy on "
            f"{len(comparison.identical) - sum(comparison.identical)} prompt(s)",
            highlight=False,
        )


@medusa_app.command("export")
@edge
def export(
    fmt: Annotated[Format, typer.Option("--format", "-f", help="The serving layout to write.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="A new (or empty) folder for the export.")
    ],
    heads: Annotated[
        Path | None,
        typer.Argument(
            metavar="[HEADS_FOLDER]",
            help="Heads saved by save_heads or train (default: the plain heads shipped for "
            "the default model).",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="The base model whose lm_head the heads share (default: the one named in "
            "the heads' metadata).",
            show_default=False,
        ),
    ] = None,
    base_model: Annotated[
        str | None,
        typer.Option(
            "--base-model",
            help="The base model's Hugging Face name or path, written into config.json "
            f"(default: {DEFAULT_MODEL_HUB_NAME} for the embedded model, else --model).",
            show_default=False,
        ),
    ] = None,
    dtype: Annotated[
        str, typer.Option(help="bfloat16, float16 or float32: the engine's dtype.")
    ] = "bfloat16",
) -> None:
    """Export Medusa heads to a folder that vLLM or FasterDecoding's Medusa loads."""
    from tessera._validation import bad_value
    from tessera.llm._model import DEFAULT_MODEL
    from tessera.llm.medusa import export_heads, load_heads

    if heads is None:
        from tessera.llm import default_heads_folder

        heads = default_heads_folder(exportable=True)
    medusa_heads, metadata = load_heads(heads)
    source = model or metadata.base_model or None
    lm_head = None
    if medusa_heads.config.share_lm_head:
        if source is None:
            raise bad_value(
                "--model",
                None,
                f"the heads in {heads} share the base model's lm_head and their metadata names "
                "no base model",
                "Pass --model with the model folder or .gguf file they were trained on.",
            )
        from tessera.llm._model import load_model

        _quiet_transformers()
        lm_head = load_model(source).model.get_output_embeddings()
    name = base_model or (DEFAULT_MODEL_HUB_NAME if source in (None, DEFAULT_MODEL) else source)
    if not name:
        raise bad_value(
            "--base-model",
            name,
            "the export must name the base model",
            "Pass --base-model with the base model's Hugging Face name.",
        )
    folder = export_heads(
        medusa_heads, out, format=fmt.value, base_model=name, lm_head=lm_head, dtype=dtype
    )
    files = ", ".join(sorted(p.name for p in folder.iterdir()))
    console.print(
        f"Wrote the {fmt.value} export of {escape(str(heads))} to [bold]{escape(str(folder))}[/]"
        f" ({escape(files)}); base model {escape(name)}",
        highlight=False,
        soft_wrap=True,
    )


def _difference(total: float | None, part: float | None) -> float | None:
    return None if total is None or part is None else total - part


@medusa_app.command("train")
@edge
def train(
    model: Model = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Folder for the heads (default: MODEL/medusa for a model folder, where "
            "`tessera llm generate --model MODEL` finds them; else ./medusa-heads).",
            show_default=False,
        ),
    ] = None,
    prompts: Annotated[
        int | None,
        typer.Option(
            "--prompts",
            "-p",
            help="Train on this many of the shipped training prompts (default: all of them; "
            "200 for a quick try).",
            show_default=False,
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="An .npz of self-distilled answers: read if it exists (no generation), "
            "else written after generating.",
            show_default=False,
        ),
    ] = None,
    max_new_tokens: MaxNewTokens = 160,
    num_heads: Annotated[int, typer.Option("--num-heads", help="Medusa heads.")] = 3,
    num_layers: Annotated[int, typer.Option("--num-layers", help="ResBlocks per head.")] = 1,
    epochs: Annotated[int, typer.Option(help="Passes over the cached hidden states.")] = 2,
    learning_rate: Annotated[float, typer.Option(help="AdamW peak learning rate.")] = 1e-3,
    batch_size: Annotated[int, typer.Option(help="Positions per optimisation step.")] = 256,
    vocabulary: Annotated[
        str, typer.Option(help="Softmax of the loss: 'seen' (faster) or 'full'.")
    ] = "seen",
    heldout: Annotated[
        int | None,
        typer.Option(
            help="Held-out prompts the saved accuracies (and the tree) come from (default: "
            "64; with --prompts under 640, a tenth of them, at least 16).",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Validation split and shuffling.")] = 0,
    root_conditioned: Annotated[
        bool,
        typer.Option(
            "--root-conditioned/--plain",
            help="Root-conditioned heads (the shipped default ones) also see the embedding of "
            "the step's first token: more accurate, but vLLM and FasterDecoding cannot serve "
            "them. --plain trains Medusa-1 heads that `medusa export` can write.",
        ),
    ] = True,
    threads: Annotated[
        int, typer.Option(help="torch threads (more than one is slower on a busy CPU).")
    ] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Train Medusa-1 heads on a frozen model from its own answers (self-distillation).

    The defaults reproduce the heads shipped for the default model; --plain reproduces the
    shipped exportable ones. How long each size takes: docs/how-to/llm-generate.md.
    """
    from tessera._validation import check_positive_int
    from tessera.llm._torch import set_threads
    from tessera.llm.medusa import DistillationData, train_default_heads, training_prompts

    _quiet_transformers()
    set_threads(check_positive_int("threads", threads))
    if out is None:
        out = Path(model) / "medusa" if model and Path(model).is_dir() else Path("medusa-heads")
    reuse = data is not None and data.is_file()
    start = time.perf_counter()
    result = train_default_heads(
        out,
        model=model,
        prompts=None if prompts is None else training_prompts(prompts),
        data=DistillationData.load(data) if reuse and data is not None else None,
        data_path=None if reuse else data,
        max_new_tokens=max_new_tokens,
        num_heads=num_heads,
        num_layers=num_layers,
        epochs=epochs,
        learning_rate=learning_rate,
        batch_size=batch_size,
        vocabulary=vocabulary,
        seed=seed,
        heldout=heldout,
        root_conditioned=root_conditioned,
        progress=not quiet,
    )
    console.print(
        f"Trained {num_heads} heads on {result.train_positions} positions in "
        f"{time.perf_counter() - start:.0f} s ({result.seconds:.0f} s after the answers); "
        f"wrote [bold]{escape(str(out))}[/]",
        highlight=False,
        soft_wrap=True,
    )
    training = json.loads((out / "medusa.json").read_text(encoding="utf-8")).get("training", {})
    phases = [
        ("generating", training.get("generation_seconds")),
        ("caching", training.get("cache_seconds")),
        ("training", _difference(training.get("training_seconds"), training.get("cache_seconds"))),
        ("held-out answers", training.get("heldout_seconds")),
        ("held-out caching", training.get("heldout_cache_seconds")),
        ("datastore", training.get("datastore_seconds")),
    ]
    console.print(
        "phases: " + ", ".join(f"{name} {sec:.0f} s" for name, sec in phases if sec is not None),
        highlight=False,
    )
    console.print(
        "validation top-1: " + ", ".join(f"{a:.3f}" for a in result.top1), highlight=False
    )
    console.print(
        "validation top-5: " + ", ".join(f"{a:.3f}" for a in result.top5), highlight=False
    )
    hint = "" if model is None else f" --model {model}"
    console.print(
        f"Use them: tessera llm generate 'your question'{escape(hint)} --heads {escape(str(out))}",
        highlight=False,
        soft_wrap=True,
    )
