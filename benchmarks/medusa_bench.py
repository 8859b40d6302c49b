"""Medusa decoding against plain greedy, Hugging Face's decoders and llama.cpp, in one process.

All methods decode the same held-out prompts (never seen in head training) with the
default model, SmolLM2-135M-Instruct, at batch size 1 on the CPU:

- tessera plain greedy: our one-token-per-pass loop (the baseline of the speed-up);
- tessera Medusa greedy: the shipped heads and tree; its output must equal plain greedy's;
- transformers ``generate`` greedy, and with prompt-lookup decoding
  (``prompt_lookup_num_tokens``), same model and dtype;
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=12, help="held-out prompts to decode")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1, help="torch / llama.cpp threads")
    parser.add_argument("--lookup", type=int, default=10, help="prompt_lookup_num_tokens")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args(argv)

    import torch

    import tessera.llm as llm
    from tessera.llm._model import default_gguf_path
    from tessera.llm.medusa import expected_accept_length, head_accuracy
    from tessera.llm.medusa._prompts import heldout_prompts

    torch.set_num_threads(args.threads)
    runtime = llm.load(threads=args.threads)
    assert runtime.heads is not None and runtime.tree is not None
    model, eos = runtime.model, set(runtime.eos_token_ids)
    prompts = heldout_prompts()[: args.prompts]
    n = args.max_new_tokens

    methods = {
        key: Method(name)
        for key, name in [
            ("plain", "tessera plain greedy (baseline)"),
            ("medusa", "tessera Medusa greedy"),
            ("hf", "transformers generate, greedy"),
            ("lookup", f"transformers prompt lookup ({args.lookup} tokens)"),
            ("llamacpp", "llama.cpp (llama-cpp-python, Q4_1 GGUF)"),
        ]
    }
    llama: Any = None
    try:
        from llama_cpp import Llama

        llama = Llama(
            model_path=str(default_gguf_path()),
            n_ctx=2048,
            n_threads=args.threads,
            verbose=False,
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

    def run(key: str, prompt: Any) -> list[int]:
        if key in ("plain", "medusa"):
            steps = list(runtime.token_stream(prompt, max_new_tokens=n, medusa=key == "medusa"))
            step_counts[key] += len(steps)
            return [t for s in steps for t in s]
        if key == "hf":
            return hf(prompt)
        if key == "lookup":
            return hf(prompt, prompt_lookup_num_tokens=args.lookup)
        out = llama.create_completion(
            runtime.encode(prompt), max_tokens=n, temperature=0.0, top_k=1
        )
        return list(range(int(out["usage"]["completion_tokens"])))

    step_counts = {"plain": 0, "medusa": 0}
    for key in methods:  # warm-up, untimed
        run(key, prompts[0])
    step_counts = {"plain": 0, "medusa": 0}
    for i, prompt in enumerate(prompts):
        for key, method in methods.items():
            method.time(lambda key=key, prompt=prompt: run(key, prompt))
        print(f"prompt {i + 1}/{len(prompts)} done", file=sys.stderr)

    base = methods["plain"]
    same = {
        key: sum(a == b for a, b in zip(m.outputs, base.outputs, strict=True))
        for key, m in methods.items()
        if key != "llamacpp"
    }
    accepted = methods["medusa"].tokens / step_counts["medusa"]
    top1, top5 = head_accuracy(runtime, prompts, base.outputs)
    from tessera.llm._runtime import default_heads_folder
    from tessera.llm.medusa import load_heads

    _, metadata = load_heads(default_heads_folder())
    expected = (
        expected_accept_length(runtime.tree, metadata.accuracies) if metadata.accuracies else 0
    )

    lines = [
        "## llm",
        "",
        "Medusa decoding, `python benchmarks/medusa_bench.py --write`: SmolLM2-135M-Instruct "
        f"(bf16) on {len(prompts)} held-out prompts, up to {n} new tokens each, batch size 1, "
        f"{args.threads} thread(s); machine: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} logical CPUs, Python {platform.python_version()}, "
        f"torch {torch.__version__}.",
        "",
        "| method | tokens | tokens/s | vs plain greedy | output = plain greedy |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, m in methods.items():
        ident = f"{same[key]}/{len(prompts)}" if key in same else "n/a (Q4_1 weights)"
        lines.append(
            f"| {m.name} | {m.tokens} | {m.rate:.1f} | {m.rate / base.rate:.2f}x | {ident} |"
        )
    lines += [
        "",
        f"- Mean accepted length: {accepted:.2f} tokens per forward pass "
        f"(the tree's expected length from the training accuracies: {expected:.2f}).",
        "- Head top-1 accuracy on these prompts: "
        + ", ".join(f"head {k + 1} {a:.3f}" for k, a in enumerate(top1)),
        "- Head top-5 accuracy: " + ", ".join(f"head {k + 1} {a:.3f}" for k, a in enumerate(top5)),
        f"- Tree ({runtime.tree.num_nodes} tokens per step including the root): "
        + " ".join(str(tuple(p)) for p in runtime.tree.paths),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        write_section("llm", text, RESULTS)
        print(f"wrote {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
