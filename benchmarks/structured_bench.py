"""Structured output: constrained Medusa vs constrained and unconstrained plain greedy (issue 19).

Decodes the held-out JSON-Schema prompts of ``benchmarks/data/structured/prompts.jsonl``
(28 prompts with nested objects, arrays, enums and numbers, committed before any tuning)
with the embedded SmolLM2-135M-Instruct, at batch size 1 on the CPU, up to 128 new tokens:

- unconstrained plain greedy (the prompt alone);
- constrained plain greedy (``json_schema=``: one token per pass, masked);
- constrained Medusa greedy (the default decoding with the schema: pruned trees, masked
  verification, forced tokens drafted); its output must equal constrained plain greedy's;
- unconstrained Medusa greedy, for reference.

Each constrained run compiles its schema (as a server does per request); the engine's view
of the tokenizer is built once before timing. Methods run interleaved per prompt, so
drift in machine load hits all of them alike. Reported: tokens/s, tokens per forward pass,
how many outputs parse and validate, and the finish reasons. With ``llama-cpp-python``
installed, llama.cpp's ``response_format`` JSON-Schema mode on the same GGUF file is added.
Run ``python benchmarks/structured_bench.py`` (``--write`` updates the ``## structured``
section of benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import RESULTS, write_section  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "structured" / "prompts.jsonl"


class Method:
    """Tokens, seconds, passes and outputs of one decoding method."""

    def __init__(self, name: str, constrained: bool) -> None:
        self.name = name
        self.constrained = constrained
        self.tokens = 0
        self.seconds = 0.0
        self.steps = 0
        self.valid = 0
        self.length = 0
        self.outputs: list[list[int]] = []
        self.forced = 0

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


def _valid(text: str, schema: dict[str, Any]) -> bool:
    import jsonschema

    try:
        jsonschema.validate(json.loads(text), schema)
    except (ValueError, jsonschema.ValidationError):
        return False
    return True


def run_tessera(
    method: Method, runtime: Any, case: dict[str, Any], medusa: bool, new_tokens: int
) -> None:
    from tessera.llm.medusa import DecodeStats

    stats = DecodeStats()
    start = time.perf_counter()
    schema = case["schema"] if method.constrained else None
    steps = runtime.token_stream(
        case["prompt"], max_new_tokens=new_tokens, medusa=medusa, json_schema=schema, stats=stats
    )
    tokens = [token for step in steps for token in step]
    method.seconds += time.perf_counter() - start
    method.tokens += len(tokens)
    method.steps += stats.steps + 1  # the prefill's pass gives the first token
    method.forced += stats.forced_tokens
    method.outputs.append(tokens)
    text = runtime.tokenizer.decode(tokens, skip_special_tokens=True)
    method.valid += _valid(text, case["schema"])
    method.length += stats.finish_reason == "length"


def run_llamacpp(method: Method, llama: Any, case: dict[str, Any], new_tokens: int) -> None:
    start = time.perf_counter()
    out = llama.create_chat_completion(
        messages=[{"role": "user", "content": case["prompt"]}],
        max_tokens=new_tokens,
        temperature=0.0,
        response_format={"type": "json_object", "schema": case["schema"]},
    )
    method.seconds += time.perf_counter() - start
    method.tokens += int(out["usage"]["completion_tokens"])
    text = out["choices"][0]["message"]["content"] or ""
    method.valid += _valid(text, case["schema"])
    method.length += out["choices"][0]["finish_reason"] == "length"
    method.outputs.append([])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--prompts", type=int, default=0, help="first N prompts (0: all)")
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()

    import torch

    from tessera.llm import load
    from tessera.llm._model import default_gguf_path

    torch.set_num_threads(1)
    cases = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    if args.prompts:
        cases = cases[: args.prompts]
    runtime = load(threads=1)
    runtime.constraint(json_schema={"type": "object"})  # the tokenizer view, built once
    runtime.generate("Hi", max_new_tokens=4)  # warm up
    methods = {
        "plain": Method("unconstrained plain greedy", False),
        "plain-json": Method("constrained plain greedy (json_schema)", True),
        "medusa-json": Method("constrained Medusa greedy (json_schema; default decoding)", True),
        "medusa": Method("unconstrained Medusa greedy", False),
    }
    llama = None
    try:
        from llama_cpp import Llama

        llama = Llama(str(default_gguf_path()), n_ctx=2048, n_threads=1, verbose=False)
        methods["llamacpp"] = Method("llama.cpp json_schema mode (Q4_1 GGUF)", True)
    except ImportError:
        pass
    begin = time.perf_counter()
    for i, case in enumerate(cases):
        run_tessera(methods["plain"], runtime, case, False, args.new_tokens)
        run_tessera(methods["plain-json"], runtime, case, False, args.new_tokens)
        run_tessera(methods["medusa-json"], runtime, case, True, args.new_tokens)
        run_tessera(methods["medusa"], runtime, case, True, args.new_tokens)
        if llama is not None:
            run_llamacpp(methods["llamacpp"], llama, case, args.new_tokens)
        print(f"{i + 1}/{len(cases)} {case['id']}", file=sys.stderr, flush=True)
    total = time.perf_counter() - begin

    base = methods["plain-json"]
    free = methods["plain"]
    same = sum(a == b for a, b in zip(methods["medusa-json"].outputs, base.outputs, strict=True))
    unconstrained_same = sum(
        a == b for a, b in zip(methods["medusa"].outputs, free.outputs, strict=True)
    )
    lines = [
        "## structured",
        "",
        "Structured output, `python benchmarks/structured_bench.py --write`: "
        f"SmolLM2-135M-Instruct on the {len(cases)} held-out JSON-Schema prompts of "
        "`benchmarks/data/structured/prompts.jsonl` (nested objects, arrays, enums, numbers; "
        f"committed before tuning), up to {args.new_tokens} new tokens, greedy, batch size 1, "
        f"1 torch thread; machine: {platform.machine()}, {os.cpu_count()} logical CPUs "
        f"(shared), Python {platform.python_version()}, torch {torch.__version__}, "
        "llguidance masks. Rows run interleaved per prompt; constrained rows compile their "
        "schema per generation.",
        "",
        "| method | tokens | tokens/s | vs constrained plain greedy | vs unconstrained plain "
        "greedy | tokens/pass | schema-valid | cut at the budget |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for method in methods.values():
        per_pass = f"{method.tokens / method.steps:.2f}" if method.steps else ""
        lines.append(
            f"| {method.name} | {method.tokens} | {method.rate:.1f} | "
            f"{method.rate / base.rate:.2f}x | {method.rate / free.rate:.2f}x | {per_pass} | "
            f"{method.valid}/{len(cases)} | {method.length}/{len(cases)} |"
        )
    medusa_json = methods["medusa-json"]
    lines += [
        "",
        f"- Constrained Medusa output = constrained plain greedy output: {same}/{len(cases)} "
        f"(unconstrained Medusa = unconstrained plain greedy: {unconstrained_same}/"
        f"{len(cases)}).",
        f"- Of the {medusa_json.tokens} tokens constrained Medusa accepted, "
        f"{medusa_json.forced} came from the grammar's forced-token chains (nodes the heads "
        "and the drafts had not proposed).",
        "- 'schema-valid' counts outputs that parse and validate with jsonschema; a "
        "constrained output that is not valid was cut at the token budget "
        "(finish reason `length`), never a complete invalid one. The unconstrained rows "
        "show how often the model alone writes valid JSON for the prompt.",
        f"- Whole run: {total:.0f} s.",
    ]
    if llama is None:
        lines.append(
            "- llama.cpp's JSON-Schema mode: not measured (`llama-cpp-python` is not "
            "installed here; it is a C++ build)."
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        write_section("structured", text, RESULTS)


if __name__ == "__main__":
    main()
