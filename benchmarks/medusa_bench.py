"""Medusa decoding against plain greedy, Hugging Face's decoders and llama.cpp, in one process.

All methods decode the same held-out prompts (never seen in head training) with the
default model, SmolLM2-135M-Instruct, at batch size 1 on the CPU:

- tessera plain greedy: our one-token-per-pass loop with batch-invariant kernels (the
  baseline of the speed-up), and the same loop on the stock model (transformers' sdpa);
- tessera Medusa greedy: the shipped heads and tree plus a drafted chain (prompt lookup,
  else the shipped datastore of the heads' training answers: the default), the heads
  alone, the heads with prompt lookup only, and the drafted chain alone; outputs must
  equal plain greedy's;
- transformers ``generate`` greedy, and with prompt-lookup decoding
  (``prompt_lookup_num_tokens``), same weights and dtype, stock kernels;
- llama.cpp (``llama-cpp-python``) on the same GGUF file (Q4_1 weights, its own kernels),
  as the absolute CPU anchor, when it is installed (it is not in any extra: a C++ build).

Methods run interleaved per prompt, so drift in machine load hits all of them alike.
Run ``python benchmarks/medusa_bench.py`` (``--write`` updates the ``## llm`` section of
benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import RESULTS, write_section  # noqa: E402


class Method:
    """Accumulated tokens, seconds and outputs of one decoding method."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tokens = 0
        self.seconds = 0.0
        self.outputs: list[list[int]] = []

    def time(self, run: Callable[[], list[int]]) -> list[int]:
        start = time.perf_counter()
        tokens = run()
        self.seconds += time.perf_counter() - start
        self.tokens += len(tokens)
        self.outputs.append(tokens)
        return tokens

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


def _strip_eos(tokens: list[int], eos: set[int]) -> list[int]:
    for i, t in enumerate(tokens):
        if t in eos:
            return tokens[: i + 1]
    return tokens


def measure(
    runtime: Any,
    stock: Any,
    exact: Any,
    prompts: list[Any],
    n: int,
    threads: int,
    lookups: list[int],
    heads_tree: Any,
) -> tuple[dict[str, Method], dict[str, int], dict[str, int]]:
    """Every method on every prompt, interleaved, at ``threads`` threads."""
    import torch

    from tessera.llm._model import default_gguf_path
    from tessera.llm.medusa import MedusaTree
    from tessera.llm.medusa._decode import DecodeStats

    torch.set_num_threads(threads)
    model, eos = stock, set(runtime.eos_token_ids)
    tree, chain, store = runtime.tree, runtime.lookup_tokens, runtime.datastore
    min_ngram = runtime.lookup_min_ngram
    root_only = MedusaTree.from_paths([])
    drafts = f"up to {chain} drafted tokens (prompt lookup, else datastore)"
    default = tree.num_nodes == 1  # load()'s default verifies drafted chains alone
    names = [
        ("plain", "tessera plain greedy (baseline, batch-invariant kernels)"),
        (
            "medusa",
            f"tessera, {drafts}, no heads' tree (load()'s default here)"
            if default
            else f"tessera Medusa greedy: heads + {drafts} (default)",
        ),
        *(
            [
                (
                    "withheads",
                    f"tessera Medusa greedy: heads' tree of {heads_tree.num_nodes} + {drafts}",
                )
            ]
            if default
            else []
        ),
        (
            "exportable",
            f"tessera Medusa greedy: exportable (plain Medusa-1) heads + up to {chain} drafted "
            "tokens",
        ),
        ("heads", "tessera Medusa greedy: heads alone"),
        ("nostore", f"tessera Medusa greedy: heads + up to {chain} prompt-lookup tokens"),
        *(
            []
            if default
            else [("chain", f"tessera, up to {chain} drafted tokens alone (no heads)")]
        ),
        ("plainstock", "tessera plain greedy, stock kernels (sdpa)"),
        ("hf", "transformers generate, greedy (stock)"),
        *[(f"pld{k}", f"transformers prompt lookup ({k} tokens)") for k in lookups],
        ("llamacpp", "llama.cpp (llama-cpp-python, Q4_1 GGUF)"),
    ]
    if exact is not None:
        names += [
            ("plain32", "tessera plain greedy, float32"),
            ("medusa32", "tessera Medusa greedy, float32"),
        ]
    methods = {key: Method(name) for key, name in names}
    llama: Any = None
    try:
        from llama_cpp import Llama

        llama = Llama(
            model_path=str(default_gguf_path()), n_ctx=2048, n_threads=threads, verbose=False
        )
    except ImportError:
        del methods["llamacpp"]

    def hf(prompt: Any, **kw: Any) -> list[int]:
        ids = torch.tensor([runtime.encode(prompt)])
        with torch.inference_mode():
            out = model.generate(
                ids,
                max_new_tokens=n,
                do_sample=False,
                eos_token_id=sorted(eos),
                pad_token_id=sorted(eos)[0],
                **kw,
            )
        return _strip_eos(out[0, ids.shape[1] :].tolist(), eos)

    keys = [
        "plain",
        "medusa",
        "withheads",
        "exportable",
        "heads",
        "nostore",
        "chain",
        "plain32",
        "medusa32",
    ]
    from tessera.llm._runtime import default_heads_folder, prepare_heads

    exportable = prepare_heads(runtime.model, default_heads_folder(exportable=True), None, threads)
    step_counts = dict.fromkeys(keys, 0)
    lookup_counts = dict.fromkeys(keys, 0)
    store_counts = dict.fromkeys(keys, 0)
    # (tree, lookup tokens, datastore, shortest prompt-lookup match)
    settings = {
        "withheads": (heads_tree, chain, store, min_ngram),
        "heads": (heads_tree, 0, None, 1),
        "nostore": (heads_tree, chain, None, 1),
        "chain": (root_only, chain, store, min_ngram),
    }

    def run(key: str, prompt: Any) -> list[int]:
        if key in step_counts:
            source = exact if key.endswith("32") else runtime
            (
                source.tree,
                source.lookup_tokens,
                source.datastore,
                source.lookup_min_ngram,
            ) = settings.get(key, (tree, chain, store, min_ngram))
            stats = DecodeStats()
            use = key != "plain" and key != "plain32"
            own = source.heads, source.tree
            if key == "exportable":
                source.heads, source.tree = exportable
            try:
                steps = list(source.token_stream(prompt, max_new_tokens=n, medusa=use, stats=stats))
            finally:
                source.heads, source.tree = own
            step_counts[key] += len(steps)
            lookup_counts[key] += stats.lookup_tokens
            store_counts[key] += stats.datastore_tokens
            return [t for s in steps for t in s]
        if key == "plainstock":
            from tessera.llm.medusa._decode import plain_generate

            ids = runtime.encode(prompt)
            steps = plain_generate(stock, ids, max_new_tokens=n, eos_token_ids=sorted(eos))
            return [t for s in steps for t in s]
        if key == "hf":
            return hf(prompt)
        if key.startswith("pld"):
            return hf(prompt, prompt_lookup_num_tokens=int(key[3:]))
        out = llama.create_completion(
            runtime.encode(prompt), max_tokens=n, temperature=0.0, top_k=1
        )
        return list(range(int(out["usage"]["completion_tokens"])))

    for key in methods:  # warm-up, untimed
        run(key, prompts[0])
    for counts in (step_counts, lookup_counts, store_counts):
        counts.update(dict.fromkeys(counts, 0))
    for i, prompt in enumerate(prompts):
        for key, method in methods.items():
            method.time(lambda key=key, prompt=prompt: run(key, prompt))
        print(f"{threads} thread(s): prompt {i + 1}/{len(prompts)} done", file=sys.stderr)
    runtime.tree, runtime.lookup_tokens, runtime.datastore = tree, chain, store
    runtime.lookup_min_ngram = min_ngram
    return methods, step_counts, lookup_counts, store_counts


def table(
    methods: dict[str, Method], step_counts: dict[str, int], count: int, weights: str
) -> list[str]:
    """Markdown rows: tokens/s, ratios to plain greedy and llama.cpp, identity with the
    matching baseline (rows on other weights than the tessera rows' are not compared)."""
    anchor = methods.get("llamacpp")
    lines = [
        "| method | tokens | tokens/s | vs plain greedy | vs fastest plain greedy "
        + ("| vs llama.cpp " if anchor else "")
        + "| output = plain greedy | tokens/step |",
        "|---|---:|---:|---:|---:|---:" + ("|---:" if anchor else "") + "|---:|",
    ]
    base = methods["plain"]
    fastest = max(methods[k].rate for k in ("plain", "plainstock", "hf"))
    stock = ("plainstock", "hf", *(k for k in methods if k.startswith("pld")))
    for key, m in methods.items():
        reference = methods["plain32"] if key.endswith("32") else base
        if key == "llamacpp":
            ident = "n/a (its own kernels)"
        elif key in stock and weights != "bf16":
            ident = "n/a (bf16 weights)"
        else:
            same = sum(a == b for a, b in zip(m.outputs, reference.outputs, strict=True))
            ident = f"{same}/{count}"
        per_step = f"{m.tokens / step_counts[key]:.2f}" if step_counts.get(key) else ""
        versus = f"| {m.rate / anchor.rate:.2f}x " if anchor else ""
        lines.append(
            f"| {m.name} | {m.tokens} | {m.rate:.1f} | {m.rate / base.rate:.2f}x "
            f"| {m.rate / fastest:.2f}x {versus}| {ident} | {per_step} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=12, help="held-out prompts to decode")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[1], help="torch / llama.cpp threads"
    )
    parser.add_argument(
        "--lookup", type=int, nargs="+", default=[10, 3], help="prompt_lookup_num_tokens"
    )
    parser.add_argument("--float32", action="store_true", help="add float32 rows")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args(argv)

    import torch

    import tessera.llm as llm
    from tessera.llm._model import load_model
    from tessera.llm._runtime import default_heads_folder
    from tessera.llm.medusa import expected_accept_length, head_accuracy, load_heads
    from tessera.llm.medusa._prompts import heldout_prompts

    runtime = llm.load(threads=args.threads[0])
    weights = llm.default_weights()
    stock = load_model(batch_invariant=False).model
    exact = llm.load(dtype="float32", threads=args.threads[0]) if args.float32 else None
    assert runtime.heads is not None and runtime.tree is not None
    prompts = heldout_prompts()[: args.prompts]
    n = args.max_new_tokens
    started = time.perf_counter()
    _, metadata = load_heads(default_heads_folder())
    lines = [
        "## llm",
        "",
        "Medusa decoding, `python benchmarks/medusa_bench.py --write`: SmolLM2-135M-Instruct "
        f"on {len(prompts)} held-out prompts (topics never seen in head training), up to {n} "
        f"new tokens each, batch size 1; machine: {platform.machine()}, {os.cpu_count()} "
        f"logical CPUs (shared), Python {platform.python_version()}, torch "
        f"{torch.__version__}. Rows run interleaved per prompt. The tessera rows decode "
        f"`load()`'s default weights here, {weights}"
        + (
            " (the GGUF's own Q4_1 blocks on tessera's AMX kernel, the whole pass in C)"
            if weights == "q4_1"
            else ""
        )
        + "; the stock and transformers rows run the bf16 model; float32 where marked.",
    ]
    from tessera.llm._runtime import DEFAULT_TREE_NODES_Q4_1, default_tree_nodes
    from tessera.llm.medusa import build_tree

    for i, threads in enumerate(args.threads):
        # the tree load() would pick for this many threads (q4_1: one for every count)
        if weights == "bf16":
            runtime.tree = build_tree(metadata.accuracies, default_tree_nodes(threads))
        if exact is not None:
            exact.tree = runtime.tree
        # the heads' rows: load()'s tree, or where that is the root alone, q4_1's heads tree
        heads_tree = runtime.tree
        if heads_tree.num_nodes == 1:
            heads_tree = build_tree(metadata.accuracies, DEFAULT_TREE_NODES_Q4_1)
        methods, step_counts, lookup_counts, store_counts = measure(
            runtime, stock, exact if i == 0 else None, prompts, n, threads, args.lookup, heads_tree
        )
        lines += [
            "",
            f"### {threads} thread(s), "
            + (
                "the root alone per step "
                if runtime.tree.num_nodes == 1
                else f"tree of {runtime.tree.num_nodes} tokens per step "
            )
            + f"(+ up to {runtime.lookup_tokens} drafted tokens)",
            "",
            *table(methods, step_counts, len(prompts), weights),
        ]
    top1, top5 = head_accuracy(runtime, prompts, methods["plain"].outputs)
    expected = expected_accept_length(heads_tree, metadata.accuracies) if metadata.accuracies else 0
    conditioned = getattr(runtime.heads.config, "root_conditioned", False)
    lines += [
        "",
        f"- Heads: {runtime.heads.config.num_heads} Medusa-1 heads"
        + (" conditioned on the root token" if conditioned else "")
        + f"; heads' tree ({heads_tree.num_nodes} tokens per step, root included), expected "
        f"{expected:.2f} tokens/step from the training accuracies: "
        + " ".join(str(tuple(p)) for p in heads_tree.paths)
        + (
            "; load() verifies drafted chains alone on this route "
            "(`DEFAULT_TREE_NODES_Q4_1_AMX`), so the heads' rows use this tree"
            if runtime.tree.num_nodes == 1
            else ""
        ),
        "- Head top-1 accuracy on these prompts: "
        + ", ".join(f"head {k + 1} {a:.3f}" for k, a in enumerate(top1)),
        "- Head top-5 accuracy: " + ", ".join(f"head {k + 1} {a:.3f}" for k, a in enumerate(top5)),
        "- The 'exportable' row runs the plain Medusa-1 heads shipped beside them "
        "(`default_heads_folder(exportable=True)`, trained on the same answers; the heads "
        "`tessera llm medusa export` writes for vLLM and FasterDecoding), with their own tree "
        "and the same drafts.",
        "- 'vs fastest plain greedy' divides by the fastest of the three plain greedy rows "
        "(batch-invariant, stock kernels, transformers generate) in the same table.",
        "- Of the tokens the default Medusa row of the last table accepted, "
        f"{lookup_counts['medusa']} of {methods['medusa'].tokens} came from prompt-lookup "
        f"nodes and {store_counts['medusa']} from datastore nodes the heads had not "
        f"proposed (datastore: {len(runtime.datastore or {})} n-grams from the "
        "heads' training answers; prompt-lookup matches shorter than "
        f"{runtime.lookup_min_ngram} tokens are left to it).",
        "- On q4_1 (AMX) every product computes each row from that row and the weights "
        "alone, and the C pass keeps the Python pass's operations and roundings, so a "
        "token's bits are the same alone or in a tree (batch invariance by construction). "
        "Byte-identical bf16 output comes from batch-invariant kernels "
        "(`tessera.llm.make_batch_invariant`, on by default): products of fewer than 4 rows "
        "computed inside a batch of 4 (on weights reordered once for oneDNN, which also makes "
        "them about 40% faster than stock) and float64 attention for passes of up to 64 "
        "tokens; stock kernels "
        "round a token differently alone and inside a tree, and greedy outputs then part at "
        "near-ties. The stock rows' 'output = plain greedy' compares them with the "
        "batch-invariant plain row: the same model rounded two ways, parting at near-ties "
        "(each text is a greedy answer of the model).",
        f"- Whole run: {time.perf_counter() - started:.0f} s.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        write_section("llm", text, RESULTS)
        print(f"wrote {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
