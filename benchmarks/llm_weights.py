"""Weight formats of the default model beside llama.cpp: speed, quality, memory, first token.

For each weight format tessera ships (``bf16``: the GGUF de-quantised into bfloat16;
``q4_1``: the GGUF's own 4-bit blocks, on the AMX kernel of ``tessera.llm._amx`` where the
CPU has AMX, else through PyTorch's CPU int4 kernel) and for llama.cpp
(``llama-cpp-python``) on the same GGUF file, in one process:

- speed: plain greedy and default Medusa greedy on the held-out prompts (never seen in
  head training), up to 128 new tokens each, interleaved per prompt, at each thread count,
  repeated ``--runs`` times (the range is printed); Medusa's output must equal plain
  greedy's on the same weights;
- quality: perplexity of ``benchmarks/data/quality/heldout.txt`` (fixed, committed before
  any measurement) in 512-token windows, and greedy top-1 agreement with the bf16 model at
  every position of it (teacher-forced); on an AMX CPU also for q4_1 through PyTorch's
  int4 kernel (``TESSERA_AMX=0``), the route other CPUs take;
- memory: bytes the model's tensors hold (the bf16 kernels also keep a copy of every
  weight reordered for oneDNN);
- first token: load plus the prefill of a 500-token prompt, in a fresh process each.

Run ``python benchmarks/llm_weights.py --threads 1 2`` (``--write`` updates the
``## llm-weights`` section of benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import publish  # noqa: E402

TEXT = Path(__file__).resolve().parent / "data" / "quality" / "heldout.txt"
WINDOW = 512
FORMATS = ("bf16", "q4_1")


def speed(
    runtimes: dict[str, Any], llama: Any, prompts: list[Any], n: int
) -> tuple[dict[str, float], dict[str, int]]:
    """tokens/s of every row, interleaved per prompt; and outputs equal to plain greedy."""
    rows: dict[str, list[float]] = {}
    outputs: dict[str, list[list[int]]] = {}

    def decode(key: str, prompt: Any) -> list[int]:
        if key == "llama.cpp":
            ids = runtimes["bf16"].encode(prompt)
            out = llama.create_completion(ids, max_tokens=n, temperature=0.0, top_k=1)
            return list(range(int(out["usage"]["completion_tokens"])))
        fmt, method = key.split(" ")
        runtime = runtimes[fmt]
        steps = runtime.token_stream(prompt, max_new_tokens=n, medusa=method == "medusa")
        return [t for s in steps for t in s]

    keys = [f"{fmt} {m}" for fmt in runtimes for m in ("plain", "medusa")]
    if llama is not None:
        keys.append("llama.cpp")
    for key in keys:  # warm-up, untimed
        decode(key, prompts[0])
    for prompt in prompts:
        for key in keys:
            start = time.perf_counter()
            tokens = decode(key, prompt)
            seconds = time.perf_counter() - start
            rows.setdefault(key, [0.0, 0.0])
            rows[key][0] += len(tokens)
            rows[key][1] += seconds
            outputs.setdefault(key, []).append(tokens)
    rates = {key: tokens / seconds for key, (tokens, seconds) in rows.items()}
    same = {
        key: sum(
            a == b for a, b in zip(outputs[key], outputs[key.split(" ")[0] + " plain"], strict=True)
        )
        for key in keys
        if key != "llama.cpp"
    }
    return rates, same


def window_logits_ours(model: Any, ids: list[int]) -> np.ndarray:
    import torch

    with torch.inference_mode():
        out = model(input_ids=torch.tensor([ids]), use_cache=False)
    return np.asarray(out.logits[0].float().numpy(), dtype=np.float64)


def window_logits_llama(llama: Any, ids: list[int]) -> np.ndarray:
    llama.reset()
    llama.eval(ids)
    return np.asarray(llama.scores[: len(ids)], dtype=np.float64)


def quality(
    runtimes: dict[str, Any], llama: Any, tokens: list[int]
) -> dict[str, tuple[float, float]]:
    """Perplexity and teacher-forced greedy agreement with bf16 per source."""
    windows = [tokens[i : i + WINDOW] for i in range(0, len(tokens) - 1, WINDOW)]
    windows = [w for w in windows if len(w) > 1]
    sources: dict[str, Any] = {
        fmt: (lambda ids, m=r.model: window_logits_ours(m, ids)) for fmt, r in runtimes.items()
    }
    if llama is not None:
        sources["llama.cpp Q4_1"] = lambda ids: window_logits_llama(llama, ids)
    nll = dict.fromkeys(sources, 0.0)
    agree = dict.fromkeys(sources, 0)
    count = 0
    for ids in windows:
        reference = None
        for name, logits_of in sources.items():
            logits = logits_of(ids)[:-1]
            shifted = logits - logits.max(axis=1, keepdims=True)
            log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            nll[name] -= float(log_probs[np.arange(len(ids) - 1), ids[1:]].sum())
            top = logits.argmax(axis=1)
            if reference is None:
                reference = top  # bf16 comes first
            agree[name] += int((top == reference).sum())
        count += len(ids) - 1
    return {name: (float(np.exp(nll[name] / count)), agree[name] / count) for name in sources}


def model_bytes(model: Any) -> tuple[int, int]:
    """Bytes of the model's parameters and buffers, and of what decoding keeps beside them
    (oneDNN's reordered bf16 weights; the int4 fused linears' scales)."""
    tensors = list(model.parameters()) + list(model.buffers())
    own = sum(t.numel() * t.element_size() for t in {id(t): t for t in tensors}.values())
    from tessera.llm._quant import FUSED_GATE_UP, FUSED_QKV

    copies = 0
    for module in model.modules():
        packed = module.__dict__.get("_tessera_packed")
        if packed is not None:
            weight = packed[0]
            copies += weight.numel() * weight.element_size()
        for name in (FUSED_QKV, FUSED_GATE_UP):  # int4 fused: own scales, shared blocks
            fused = module.__dict__.get(name)
            scales = None if fused is None else fused.scales_and_zeros
            if scales is not None:  # (the AMX packing holds its scales in its blocks)
                copies += scales.numel() * scales.element_size()
    return own, copies


FIRST_TOKEN = """
import sys, time
start = time.perf_counter()
import torch
import tessera.llm as llm
from tessera.llm.medusa._decode import _new_cache, _pass
runtime = llm.load(threads={threads}, weights={fmt!r})
loaded = time.perf_counter()
ids = (runtime.encode("Summarise this text.") * 100)[:500]
with torch.inference_mode():
    _, logits = _pass(runtime.model, torch.tensor(ids), _new_cache(runtime.model))
    int(torch.argmax(logits[0].float()))
print(loaded - start, time.perf_counter() - loaded)
"""


def first_token(fmt: str, threads: int) -> tuple[float, float]:
    """Seconds to import and load, and to prefill 500 tokens, in a fresh process."""
    code = FIRST_TOKEN.format(fmt=fmt, threads=threads)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[-2]), float(out[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=12, help="held-out prompts to decode")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--runs", type=int, default=3, help="speed runs per thread count")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args(argv)

    import torch

    import tessera.llm as llm
    from tessera.llm import _amx
    from tessera.llm._model import default_gguf_path
    from tessera.llm.medusa._prompts import heldout_prompts

    started = time.perf_counter()
    amx = _amx.available()
    runtimes = {fmt: llm.load(threads=args.threads[0], weights=fmt) for fmt in FORMATS}
    pytorch_int4 = None
    if amx:  # the route every other CPU takes, for the quality table
        os.environ["TESSERA_AMX"] = "0"
        try:
            pytorch_int4 = llm.load(threads=args.threads[0], weights="q4_1")
        finally:
            del os.environ["TESSERA_AMX"]
    try:
        from llama_cpp import Llama
    except ImportError:
        Llama = None  # noqa: N806
    prompts = heldout_prompts()[: args.prompts]
    lines = [
        "## llm-weights",
        "",
        "Weight formats of the default model, `python benchmarks/llm_weights.py --write`: "
        f"SmolLM2-135M-Instruct, {len(prompts)} held-out prompts, up to {args.max_new_tokens} "
        f"new tokens, batch size 1, rows interleaved per prompt; machine: "
        f"{platform.machine()}, {os.cpu_count()} logical CPUs (shared), torch "
        f"{torch.__version__}, load average at start {os.getloadavg()[0]:.1f}; q4_1 on "
        + ("the AMX kernel." if amx else f"PyTorch's int4 kernel ({_amx.unavailable_reason()})."),
    ]
    for threads in args.threads:
        torch.set_num_threads(threads)
        llama = None
        if Llama is not None:
            llama = Llama(
                model_path=str(default_gguf_path()), n_ctx=2048, n_threads=threads, verbose=False
            )
        runs = []
        for run in range(args.runs):
            runs.append(speed(runtimes, llama, prompts, args.max_new_tokens))
            print(f"{threads} thread(s): run {run + 1}/{args.runs} done", file=sys.stderr)
        keys = list(runs[0][0])
        anchor = [r[0].get("llama.cpp") for r in runs]
        lines += [
            "",
            f"### {threads} thread(s), {args.runs} runs (range; last run's outputs)",
            "",
            "| method | tokens/s | vs llama.cpp | vs bf16 plain greedy | output = plain greedy "
            "(same weights) |",
            "|---|---:|---:|---:|---:|",
        ]
        for key in keys:
            rates = [r[0][key] for r in runs]
            versus = [rate / a for rate, a in zip(rates, anchor, strict=True)] if anchor[0] else []
            base = [r[0][key] / r[0]["bf16 plain"] for r in runs]
            same = runs[-1][1].get(key)
            lines.append(
                f"| {key} | {min(rates):.1f}-{max(rates):.1f} | "
                + (f"{min(versus):.2f}-{max(versus):.2f}x" if versus else "")
                + f" | {min(base):.2f}-{max(base):.2f}x | "
                + ("n/a" if same is None else f"{same}/{len(prompts)}")
                + " |"
            )
    tokenizer = runtimes["bf16"].tokenizer
    tokens = tokenizer(TEXT.read_text(encoding="utf-8"))["input_ids"]
    llama_q = None
    if Llama is not None:
        llama_q = Llama(
            model_path=str(default_gguf_path()),
            n_ctx=WINDOW,
            n_threads=args.threads[0],
            logits_all=True,
            verbose=False,
        )
    torch.set_num_threads(args.threads[0])
    sources = dict(runtimes)
    if pytorch_int4 is not None:
        sources["q4_1 (PyTorch int4 kernel)"] = pytorch_int4
    scores = quality(sources, llama_q, tokens)
    lines += [
        "",
        f"### Quality on `benchmarks/data/quality/heldout.txt` ({len(tokens)} tokens, "
        f"{WINDOW}-token windows)",
        "",
        "| weights | perplexity | greedy top-1 agreement with bf16 |",
        "|---|---:|---:|",
    ]
    lines += [f"| {name} | {ppl:.3f} | {agree:.4f} |" for name, (ppl, agree) in scores.items()]
    lines += [
        "",
        "### Memory and first token",
        "",
        "| weights | model tensors (MB) | + reordered copies, fused scales (MB) | load (s) | "
        "prefill of 500 tokens (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for fmt in FORMATS:
        own, copies = model_bytes(runtimes[fmt].model)
        load_s, prefill_s = first_token(fmt, args.threads[0])
        lines.append(
            f"| {fmt} | {own / 1e6:.0f} | {copies / 1e6:.0f} | {load_s:.2f} | {prefill_s:.2f} |"
        )
    lines += [
        "",
        "- bf16 is the GGUF de-quantised into bfloat16 (batch-invariant kernels: products "
        "padded to 4 rows on weights reordered once for oneDNN). q4_1 runs the GGUF's own "
        "4-bit blocks: on an AMX CPU through tessera's AMX kernel (bf16 activations, the "
        "file's float16 scales; the lm_head on the file's Q8_0 blocks with two int8 planes "
        "of its rows), elsewhere through PyTorch's CPU int4 kernel (scales and zeros rounded "
        "to bfloat16, lm_head in bf16). llama.cpp runs the same file with its own kernels "
        "(activations quantised to 8 bits).",
        "- Perplexity and agreement are teacher-forced over the whole text; agreement counts "
        "positions whose argmax equals the bf16 model's.",
        "- Load is import + `tessera.llm.load(weights=...)` in a fresh process, with the bf16 "
        "conversion of the GGUF already cached (and, for q4_1 on the AMX kernel, its packing "
        "of the blocks, about 0.1 GB under `~/.cache/tessera`).",
        "- Each medusa row is `load(weights=...)`'s default drafting for that format: bf16 the "
        "heads' saved tree plus drafted chains; q4_1 on the AMX kernel the drafted chains "
        "alone (`DEFAULT_TREE_NODES_Q4_1_AMX`), elsewhere a 2-node tree plus chains.",
        f"- Whole run: {time.perf_counter() - started:.0f} s.",
    ]
    return publish("llm-weights", lines, args.write)


if __name__ == "__main__":
    raise SystemExit(main())
