"""Routes to a faster decoding pass (issue #20), measured on the default model's own weights.

A Medusa step verifies a tree of candidates in one pass, so what matters is how a pass's
cost grows with the rows it carries, and what a route costs in quality. In one process:

- **products**: the decoder's 30 layers of products (q/k/v stacked, o, gate/up stacked,
  down; with the residual adds and the SiLU between them, no attention) at 1 to 32 rows,
  for each kernel route: bf16 through oneDNN on reordered weights (today's bf16 pass);
  the GGUF's Q4_1 blocks through PyTorch's int4 kernel (``q4_1`` without AMX) and, on an
  AMX CPU, through tessera's AMX kernel (``q4_1`` there, ``tessera.llm._amx``); int8 weights
  times int8 activations through oneDNN (``torch.ops.onednn.qlinear_pointwise``); the
  same Q4_1 blocks and per-channel int8 weights through the C++ templates of
  ``torch.compile`` (inductor, ``max-autotune`` with frozen weights: on AMX CPUs they
  de-quantise tiles into AMX bf16 products). The lm_head (49,152 x 576) alone, bf16,
  int8 x int8, and the GGUF's Q8_0 blocks on tessera's AMX kernel.
- **llama.cpp**: one ``llama_decode`` of n tokens (all logits) after a 200-token prompt,
  through llama-cpp-python's batch API, at 1 and 2 threads: what verifying a tree as
  KV-cache sequences inside llama.cpp would cost.
- **quality** of the int8 routes on ``benchmarks/data/quality/heldout.txt`` (perplexity,
  teacher-forced greedy agreement with bf16), simulated in floating point (weights and
  activations rounded to the int8 grid as the kernels would see them): int8 weights per
  output channel; plus int8 activations per row; plus SmoothQuant (alpha 0.5, per-channel
  activation maxima from 40 training prompts, never the held-out text), beside bf16,
  ``q4_1`` and llama.cpp's Q4_1.

Run ``python benchmarks/llm_routes.py`` (``--write`` updates the ``## llm-routes`` section
of benchmarks/RESULTS.md). The compiled routes compile once per row count (tens of seconds
each).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import publish, table  # noqa: E402
from llm_weights import TEXT, WINDOW, quality  # noqa: E402

ROWS = (1, 4, 8, 16, 32)
LLAMA_ROWS = (1, 2, 4, 8, 16, 32)


def _median_ms(run: Callable[[], Any], repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def _stack(torch: Any, layers: list[dict[str, Any]], product: Callable[..., Any]) -> Any:
    """A module running the layers' products in the decoder's order (weights as buffers)."""

    class Stack(torch.nn.Module):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            for index, layer in enumerate(layers):
                for name, value in layer.items():
                    self.register_buffer(f"l{index}_{name}", value)

        def forward(self, x: Any) -> Any:
            for index in range(len(layers)):

                def get(name: str, index: int = index) -> Any:
                    return getattr(self, f"l{index}_{name}")

                qkv = product(x, get, "qkv")
                x = x + product(qkv[:, : x.shape[1]].contiguous(), get, "o")
                gate_up = product(x, get, "gate_up")
                width = gate_up.shape[1] // 2
                inner = torch.nn.functional.silu(gate_up[:, :width]) * gate_up[:, width:]
                x = x + product(inner.contiguous(), get, "down")
            return x

    return Stack().eval()


def products(
    torch: Any, bf16_model: Any, q4_model: Any, amx_model: Any, repeats: int
) -> dict[str, dict[int, float]]:
    """ms for the 30 layers' products (and the lm_head) per route and row count.

    ``q4_model`` runs PyTorch's int4 kernel; ``amx_model`` (None without AMX) tessera's
    AMX kernel on the same blocks.
    """
    from tessera.llm import _amx
    from tessera.llm._invariant import MIN_ROWS
    from tessera.llm._quant import FUSED_GATE_UP, FUSED_QKV

    inductor = torch._inductor.config
    inductor.freezing = True
    inductor.max_autotune = True
    inductor.max_autotune_gemm_backends = "CPP,ATEN"

    def weights(layer: Any) -> dict[str, Any]:
        attn, mlp = layer.self_attn, layer.mlp
        return {
            "qkv": torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight]),
            "o": attn.o_proj.weight,
            "gate_up": torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight]),
            "down": mlp.down_proj.weight,
        }

    dense = [
        {k: w.detach() for k, w in weights(layer).items()} for layer in bf16_model.model.layers
    ]
    reorder = torch.ops.mkldnn._reorder_linear_weight
    bf16 = [{k: reorder(w, MIN_ROWS) for k, w in layer.items()} for layer in dense]

    def packings(model: Any, attribute: str) -> list[dict[str, Any]]:
        out = []
        for layer in model.model.layers:
            qkv, gate_up = layer.self_attn.__dict__[FUSED_QKV], layer.mlp.__dict__[FUSED_GATE_UP]
            o, down = layer.self_attn.o_proj, layer.mlp.down_proj
            linears = (("qkv", qkv), ("o", o), ("gate_up", gate_up), ("down", down))
            out.append({name: getattr(linear, attribute) for name, linear in linears})
        return out

    int4 = [
        {**blocks, **{f"{name}_s": scales for name, scales in zeros.items()}}
        for blocks, zeros in zip(
            packings(q4_model, "packed"), packings(q4_model, "scales_and_zeros"), strict=True
        )
    ]

    def int8_weights(w: Any) -> tuple[Any, Any]:
        scale = w.float().abs().amax(1).clamp(min=1e-12) / 127
        return (w.float() / scale[:, None]).round().clamp(-127, 127).to(torch.int8), scale

    quantised = [{k: int8_weights(w) for k, w in layer.items()} for layer in dense]
    int8 = []
    for layer in quantised:
        entry: dict[str, Any] = {}
        for name, (q, scale) in layer.items():
            entry[name], entry[f"{name}_s"] = q, scale.bfloat16()
        int8.append(entry)

    def run_bf16(x: Any, get: Any, name: str) -> Any:
        return torch.ops.mkldnn._linear_pointwise(x, get(name), None, "none", [], "")

    def run_int4(x: Any, get: Any, name: str) -> Any:
        return torch.ops.aten._weight_int4pack_mm_for_cpu(x, get(name), 32, get(f"{name}_s"))

    def run_int8(x: Any, get: Any, name: str) -> Any:
        return torch._weight_int8pack_mm(x, get(name), get(f"{name}_s"))

    def run_amx(x: Any, get: Any, name: str) -> Any:
        return _amx.product(x, get(name))

    routes: dict[str, dict[int, float]] = {}
    stacks = {
        "bf16, oneDNN (bf16)": (_stack(torch, bf16, run_bf16), False, MIN_ROWS),
        "Q4_1, PyTorch int4 kernel (q4_1 without AMX)": (_stack(torch, int4, run_int4), False, 1),
        "Q4_1, inductor template (compiled)": (_stack(torch, int4, run_int4), True, 1),
        "int8 weights, inductor template (compiled)": (_stack(torch, int8, run_int8), True, 1),
    }
    if amx_model is not None:
        stacks["Q4_1, tessera's AMX kernel (q4_1 on AMX)"] = (
            _stack(torch, packings(amx_model, "packed"), run_amx),
            False,
            1,
        )
    with torch.no_grad():
        for label, (stack, compiled, minimum) in stacks.items():
            routes[label] = {}
            for rows in ROWS:
                x = torch.randn(max(rows, minimum), 576).bfloat16()
                run = torch.compile(stack, dynamic=False) if compiled else stack
                started = time.perf_counter()
                run(x)
                if compiled:
                    print(
                        f"{label}, {rows} rows: compiled in {time.perf_counter() - started:.0f} s",
                        file=sys.stderr,
                    )
                routes[label][rows] = _median_ms(lambda run=run, x=x: run(x), repeats)
                torch._dynamo.reset()
        # int8 x int8 through oneDNN (activations quantised per row outside the timing)
        label = "int8 weights x int8 activations, oneDNN"
        routes[label] = {}
        for rows in ROWS:
            packs = [
                {
                    name: (
                        torch.ops.onednn.qlinear_prepack(q, [rows, q.shape[1]]),
                        scale,
                        torch.zeros(q.shape[0], dtype=torch.long),
                    )
                    for name, (q, scale) in layer.items()
                }
                for layer in quantised
            ]

            def run_q(x: Any, pack: Any) -> Any:
                weight, scale, zero = pack
                return torch.ops.onednn.qlinear_pointwise(
                    x, 1.0, 0, weight, scale, zero, None, 1.0, 0, torch.bfloat16, "none", [], ""
                )

            def stack_q(rows: int = rows, packs: list[Any] = packs) -> None:
                x = torch.randint(0, 255, (rows, 576), dtype=torch.uint8)
                inner = torch.randint(0, 255, (rows, 1536), dtype=torch.uint8)
                for layer in packs:
                    run_q(x, layer["qkv"])
                    run_q(x, layer["o"])
                    run_q(x, layer["gate_up"])
                    run_q(inner, layer["down"])

            routes[label][rows] = _median_ms(stack_q, repeats)
        # the lm_head alone
        head = bf16_model.lm_head.weight.detach()
        packed_head = reorder(head, MIN_ROWS)
        q_head, s_head = int8_weights(head)
        zero = torch.zeros(head.shape[0], dtype=torch.long)
        routes["lm_head, bf16 oneDNN"] = {}
        routes["lm_head, int8 x int8 oneDNN"] = {}
        amx_head = None if amx_model is None else amx_model.get_output_embeddings()
        if amx_head is not None:
            routes["lm_head, Q8_0 on tessera's AMX kernel"] = {}
        for rows in ROWS:
            if amx_head is not None:
                x = torch.randn(rows, 576).bfloat16()
                routes["lm_head, Q8_0 on tessera's AMX kernel"][rows] = _median_ms(
                    lambda x=x: amx_head(x), repeats
                )
            x = torch.randn(max(rows, MIN_ROWS), 576).bfloat16()
            routes["lm_head, bf16 oneDNN"][rows] = _median_ms(
                lambda x=x: run_bf16(x, lambda _: packed_head, ""), repeats
            )
            pack = torch.ops.onednn.qlinear_prepack(q_head, [rows, 576])
            xq = torch.randint(0, 255, (rows, 576), dtype=torch.uint8)
            routes["lm_head, int8 x int8 oneDNN"][rows] = _median_ms(
                lambda xq=xq, pack=pack: torch.ops.onednn.qlinear_pointwise(
                    xq, 1.0, 0, pack, s_head, zero, None, 1.0, 0, torch.bfloat16, "none", [], ""
                ),
                repeats,
            )
    return routes


def llama_batches(gguf: Path, threads: int, repeats: int) -> dict[int, float] | None:
    """ms of one llama_decode of n tokens (all logits) after a 200-token prompt."""
    try:
        import llama_cpp
        from llama_cpp import Llama
    except ImportError:
        return None
    llama = Llama(
        model_path=str(gguf),
        n_ctx=2048,
        n_batch=512,
        n_threads=threads,
        n_threads_batch=threads,
        logits_all=True,
        verbose=False,
    )
    context, batch = llama._ctx.ctx, llama._batch.batch
    memory = llama_cpp.llama_get_memory(context)

    def decode(tokens: list[int], start: int) -> None:
        batch.n_tokens = len(tokens)
        for i, token in enumerate(tokens):
            batch.token[i], batch.pos[i] = token, start + i
            batch.n_seq_id[i], batch.seq_id[i][0], batch.logits[i] = 1, 0, 1
        if llama_cpp.llama_decode(context, batch) != 0:
            raise RuntimeError("llama_decode failed")

    prompt = list(range(1000, 1200))
    decode(prompt, 0)
    out = {}
    for rows in LLAMA_ROWS:

        def step(rows: int = rows) -> None:
            decode(list(range(2000, 2000 + rows)), len(prompt))
            llama_cpp.llama_memory_seq_rm(memory, 0, len(prompt), -1)

        out[rows] = _median_ms(step, repeats)
    llama.close()
    return out


def int8_quality(
    torch: Any, llm: Any, llama: Any, tokens: list[int]
) -> dict[str, tuple[float, float]]:
    """Perplexity and agreement of bf16, q4_1, llama.cpp and the simulated int8 routes."""
    from types import SimpleNamespace

    from tessera.llm.medusa._prompts import training_prompts

    def fake(alpha: float | None, activations: bool) -> Any:
        runtime = llm.load(weights="bf16")
        model = runtime.model
        linears = [
            (name, module)
            for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and name != "lm_head"
        ]
        maxima = {name: torch.zeros(module.in_features) for name, module in linears}
        if alpha is not None:  # SmoothQuant's calibration, on training prompts only

            def hook(name: str) -> Any:
                def record(module: Any, args: Any) -> None:
                    seen = args[0].detach().float().abs().reshape(-1, module.in_features).amax(0)
                    maxima[name] = torch.maximum(maxima[name], seen)

                return record

            hooks = [module.register_forward_pre_hook(hook(name)) for name, module in linears]
            with torch.inference_mode():
                for prompt in training_prompts()[:40]:
                    ids = runtime.tokenizer(prompt)["input_ids"][:256]
                    model(input_ids=torch.tensor([ids]), use_cache=False)
            for handle in hooks:
                handle.remove()
        for name, module in linears:
            w = module.weight.detach().float()
            smooth = torch.ones(w.shape[1])
            if alpha is not None:
                smooth = maxima[name].clamp(min=1e-5) ** alpha
                smooth = (smooth / w.abs().amax(0).clamp(min=1e-5) ** (1 - alpha)).clamp(min=1e-5)
            w = w * smooth
            step = w.abs().amax(1, keepdim=True).clamp(min=1e-12) / 127
            rounded = ((w / step).round().clamp(-127, 127) * step).bfloat16()

            def forward(x: Any, rounded: Any = rounded, smooth: Any = smooth) -> Any:
                scaled = x.float() / smooth
                if activations:
                    row = scaled.abs().amax(-1, keepdim=True).clamp(min=1e-12) / 127
                    scaled = (scaled / row).round().clamp(-127, 127) * row
                return torch.nn.functional.linear(scaled.to(x.dtype), rounded)

            module.forward = forward
        return SimpleNamespace(model=model)

    runtimes = {
        "bf16": llm.load(weights="bf16"),
        "q4_1": llm.load(weights="q4_1"),
        "int8 weights (per channel)": fake(None, False),
        "int8 weights x int8 activations (per row)": fake(None, True),
        "int8 x int8, SmoothQuant alpha 0.5": fake(0.5, True),
    }
    return quality(runtimes, llama, tokens)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed calls per figure")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args(argv)

    import torch

    import tessera.llm as llm
    from tessera.llm._model import default_gguf_path

    started = time.perf_counter()
    torch.set_num_threads(1)
    from tessera.llm import _amx

    bf16 = llm.load(threads=1, weights="bf16")
    amx = llm.load(threads=1, weights="q4_1").model if _amx.available() else None
    os.environ["TESSERA_AMX"] = "0"  # PyTorch's int4 kernel on the same blocks
    try:
        q4 = llm.load(threads=1, weights="q4_1")
    finally:
        del os.environ["TESSERA_AMX"]
    cost = products(torch, bf16.model, q4.model, amx, args.repeats)
    anchors = {t: llama_batches(default_gguf_path(), t, args.repeats) for t in (1, 2)}
    torch.set_num_threads(1)
    llama = None
    try:
        from llama_cpp import Llama

        llama = Llama(
            model_path=str(default_gguf_path()),
            n_ctx=WINDOW,
            n_threads=2,
            logits_all=True,
            verbose=False,
        )
    except ImportError:
        pass
    tokens = bf16.tokenizer(TEXT.read_text(encoding="utf-8"))["input_ids"]
    scores = int8_quality(torch, llm, llama, tokens)

    capability = torch.backends.cpu.get_cpu_capability()
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    amx = "amx_bf16" in flags
    lines = [
        "## llm-routes",
        "",
        "Routes to a faster decoding pass (issue #20), `python benchmarks/llm_routes.py "
        "--write`: the default model's own weights; machine: "
        f"{platform.machine()}, {os.cpu_count()} logical CPUs (shared), torch "
        f"{torch.__version__} (CPU capability {capability}, AMX {'yes' if amx else 'no'}), "
        f"1 torch thread, median of {args.repeats} calls, load average at start "
        f"{os.getloadavg()[0]:.1f}.",
        "",
        "### The 30 layers' products (ms) by rows in the pass",
        "",
        *table(
            ["route", *(f"{r} rows" for r in ROWS)],
            [[label, *(f"{by_rows[r]:.1f}" for r in ROWS)] for label, by_rows in cost.items()],
        ),
        "",
        "### llama.cpp: one decode of n tokens, all logits (ms)",
        "",
        *table(
            ["threads", *(str(r) for r in LLAMA_ROWS)],
            [
                [str(t), *(f"{by_rows[r]:.1f}" for r in LLAMA_ROWS)]
                if by_rows
                else [str(t), "llama-cpp-python not installed (`make bench-llm`)"]
                for t, by_rows in anchors.items()
            ],
        ),
        "",
        f"### Quality on `benchmarks/data/quality/heldout.txt` ({len(tokens)} tokens, "
        f"{WINDOW}-token windows)",
        "",
        *table(
            ["weights", "perplexity", "greedy top-1 agreement with bf16"],
            [[name, f"{ppl:.3f}", f"{agree:.4f}"] for name, (ppl, agree) in scores.items()],
        ),
    ]
    lines += [
        "",
        "- Products: bf16 pads passes of fewer than 4 rows to 4, as the bf16 pass does. The "
        "int8 x int8 row quantises no activations inside the timing (a real pass would). "
        "The compiled rows are `torch.compile(..., dynamic=False)` of the same module, one "
        "compilation per row count; below 8 rows inductor's autotuning may keep the eager "
        "kernel.",
        "- The int8 quality rows are simulated in floating point; the bf16 model they start "
        "from is the GGUF's Q4_1 weights de-quantised, so per-channel int8 re-rounds them.",
        f"- Whole run: {time.perf_counter() - started:.0f} s.",
    ]
    return publish("llm-routes", lines, args.write)


if __name__ == "__main__":
    raise SystemExit(main())
