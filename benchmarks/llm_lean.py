"""The lean decoding pass (``tessera.llm._step``) against transformers' forward, same process.

For each weight format and method (plain greedy, default Medusa), every held-out prompt
is decoded twice, interleaved: once with the lean pass and once with it switched off
(every pass through transformers' forward, as before the lean pass). Prints tokens/s per
CPU second (steadier than wall time on a shared machine) and wall time, their ratios, and
whether every output equals plain greedy through transformers' forward on the same weights.

Run ``python benchmarks/llm_lean.py --threads 1``; ``--write`` updates the ``## llm-lean``
section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import RESULTS, write_section  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=3, help="held-out prompts to decode")
    parser.add_argument("--rounds", type=int, default=2, help="times each prompt is decoded")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--weights", nargs="+", default=["bf16", "q4_1"])
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args(argv)

    import torch

    import tessera.llm as llm
    import tessera.llm.medusa._decode as decode
    from tessera.llm._step import lean_forward
    from tessera.llm.medusa._prompts import heldout_prompts

    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    runtimes = {fmt: llm.load(threads=args.threads, weights=fmt) for fmt in args.weights}
    prompts = heldout_prompts()[: args.prompts]

    def switched_off(*_: Any, **__: Any) -> None:
        return None

    totals: dict[tuple[str, str, str], list[float]] = {}
    outputs: dict[tuple[str, str, str], list[list[int]]] = {}
    try:
        for _ in range(args.rounds):
            for prompt in prompts:
                for fmt, runtime in runtimes.items():
                    for method in ("plain", "medusa"):
                        for path in ("transformers", "lean"):
                            decode.lean_forward = lean_forward if path == "lean" else switched_off
                            cpu, wall = time.process_time(), time.perf_counter()
                            steps = runtime.token_stream(
                                prompt,
                                max_new_tokens=args.max_new_tokens,
                                medusa=method == "medusa",
                            )
                            tokens = [t for step in steps for t in step]
                            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                            row = totals.setdefault((fmt, method, path), [0.0, 0.0, 0.0])
                            row[0] += len(tokens)
                            row[1] += cpu
                            row[2] += wall
                            outputs.setdefault((fmt, method, path), []).append(tokens)
    finally:
        decode.lean_forward = lean_forward
    lines = [
        "## llm-lean",
        "",
        "The lean decoding pass against transformers' forward, `python benchmarks/llm_lean.py "
        f"--threads {args.threads}`: SmolLM2-135M-Instruct, {len(prompts)} held-out prompts x "
        f"{args.rounds} rounds, up to {args.max_new_tokens} new tokens, interleaved; machine: "
        f"{platform.machine()}, {os.cpu_count()} logical CPUs (shared), torch "
        f"{torch.__version__}, {args.threads} thread(s), load average at start {load:.1f}.",
        "",
        "| weights | method | tokens/CPU s, transformers | lean | ratio | wall ratio | "
        "outputs = plain greedy (transformers) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for fmt in runtimes:
        for method in ("plain", "medusa"):
            old = totals[(fmt, method, "transformers")]
            new = totals[(fmt, method, "lean")]
            reference = outputs[(fmt, "plain", "transformers")]
            same = sum(
                a == b for a, b in zip(outputs[(fmt, method, "lean")], reference, strict=True)
            )
            lines.append(
                f"| {fmt} | {method} | {old[0] / old[1]:.1f} | {new[0] / new[1]:.1f} | "
                f"{(new[0] / new[1]) / (old[0] / old[1]):.2f}x | "
                f"{(new[0] / new[2]) / (old[0] / old[2]):.2f}x | {same}/{len(reference)} |"
            )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        write_section("llm-lean", text, RESULTS)
        print(f"wrote {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
