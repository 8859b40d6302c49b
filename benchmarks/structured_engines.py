"""Grammar engines side by side on the embedded model's tokenizer (issue 19).

Measures, for llguidance, xgrammar and outlines-core, on SmolLM2-135M-Instruct's
tokenizer (49152 tokens):

* tokenizer setup: the engine's view of the vocabulary, built once per model;
* compile: a JSON Schema turned into the engine's grammar (cold, no cache), per schema;
* mask: the allowed-token mask of one decoding step, and consume: advancing by the
  chosen token, per generated token, while the real model decodes greedily under the
  constraint (so every engine walks a realistic path).

Run: ``.venv/bin/python benchmarks/structured_engines.py`` (needs the three engines:
``pip install llguidance outlines-core`` and ``pip install --no-deps xgrammar
apache-tvm-ffi``; xgrammar's own dependencies pull triton, which CPU decoding never uses).
Prints a markdown table; the figures are recorded in docs/explanation/structured.md.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

SCHEMAS: dict[str, dict[str, Any]] = {
    "flat": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    },
    "contact": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "email": {"type": "string"},
            "phone": {"type": "string"},
            "address": {
                "type": "object",
                "properties": {
                    "street": {"type": "string"},
                    "city": {"type": "string"},
                    "zip": {"type": "string"},
                },
                "required": ["street", "city"],
                "additionalProperties": False,
            },
        },
        "required": ["name", "email", "address"],
        "additionalProperties": False,
    },
    "order": {
        "type": "object",
        "properties": {
            "status": {"enum": ["pending", "shipped", "delivered", "cancelled"]},
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "sku": {"type": "string"},
                        "quantity": {"type": "integer", "minimum": 1},
                        "price": {"type": "number"},
                    },
                    "required": ["sku", "quantity", "price"],
                    "additionalProperties": False,
                },
                "minItems": 1,
            },
            "total": {"type": "number"},
        },
        "required": ["status", "items", "total"],
        "additionalProperties": False,
    },
    "weather": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "day": {
                            "enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                        },
                        "high": {"type": "number"},
                        "low": {"type": "number"},
                        "sky": {"enum": ["sunny", "cloudy", "rain", "snow"]},
                    },
                    "required": ["day", "high", "low", "sky"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["city", "days"],
        "additionalProperties": False,
    },
}

PROMPTS = {
    "flat": "Give the name and age of a fictional person as JSON.",
    "contact": "Ana Lopez, ana@example.com, +1 555 0100, 12 Main St, Springfield 01101. As JSON.",
    "order": "An order of 2 pens at 1.50 and 1 notebook at 4.00, shipped. As JSON.",
    "weather": "A three-day weather forecast for Lisbon as JSON.",
}

NEW_TOKENS = 96


class Engine:
    """One engine behind the calls the comparison needs."""

    name: str

    def compile(self, schema: dict[str, Any]) -> Any:
        raise NotImplementedError

    def start(self, compiled: Any) -> Any:
        raise NotImplementedError

    def mask(self, state: Any) -> torch.Tensor:
        """A bool tensor over the model's vocabulary: True where allowed."""
        raise NotImplementedError

    def consume(self, state: Any, token: int) -> None:
        raise NotImplementedError

    def done(self, state: Any) -> bool:
        raise NotImplementedError


class LLGuidance(Engine):
    name = "llguidance 1.9"

    def __init__(self, tokenizer: Any, vocab: int) -> None:
        import llguidance
        import llguidance.hf
        import llguidance.torch

        self.ll = llguidance
        self.lt = llguidance.torch
        self.tokenizer = llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab)
        self.vocab = vocab
        self.bitmask = self.lt.allocate_token_bitmask(1, vocab)

    def compile(self, schema: dict[str, Any]) -> Any:
        grammar = self.ll.LLMatcher.grammar_from_json_schema(json.dumps(schema))
        # the matcher compiles the grammar against the tokenizer lazily; force it here
        matcher = self.ll.LLMatcher(self.tokenizer, grammar)
        self.lt.fill_next_token_bitmask(matcher, self.bitmask, 0)
        return grammar

    def start(self, compiled: Any) -> Any:
        return self.ll.LLMatcher(self.tokenizer, compiled)

    def mask(self, state: Any) -> torch.Tensor:
        self.lt.fill_next_token_bitmask(state, self.bitmask, 0)
        return _unpack(self.bitmask[0], self.vocab)

    def consume(self, state: Any, token: int) -> None:
        assert state.consume_token(token), state.get_error()

    def done(self, state: Any) -> bool:
        return bool(state.is_stopped())


class XGrammar(Engine):
    name = "xgrammar 0.2"

    def __init__(self, tokenizer: Any, vocab: int) -> None:
        import xgrammar

        self.xgr = xgrammar
        self.info = xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab)
        self.vocab = vocab
        self.bitmask = xgrammar.allocate_token_bitmask(1, vocab)

    def compile(self, schema: dict[str, Any]) -> Any:
        compiler = self.xgr.GrammarCompiler(self.info, cache_enabled=False)
        return compiler.compile_json_schema(json.dumps(schema))

    def start(self, compiled: Any) -> Any:
        return self.xgr.GrammarMatcher(compiled)

    def mask(self, state: Any) -> torch.Tensor:
        state.fill_next_token_bitmask(self.bitmask, 0)
        return _unpack(self.bitmask[0], self.vocab)

    def consume(self, state: Any, token: int) -> None:
        assert state.accept_token(token)

    def done(self, state: Any) -> bool:
        return bool(state.is_terminated())


class OutlinesCore(Engine):
    name = "outlines-core 0.2"

    def __init__(self, tokenizer: Any, vocab: int) -> None:
        import outlines_core

        self.oc = outlines_core
        self.vocab = vocab
        decoder = _byte_decoder()
        table: dict[bytes, list[int]] = {}
        special = set(tokenizer.all_special_ids)
        for text, index in tokenizer.get_vocab().items():
            if index in special:
                continue
            table.setdefault(bytes(decoder[c] for c in text), []).append(index)
        self.vocabulary = outlines_core.Vocabulary(tokenizer.eos_token_id, table)
        self.eos = tokenizer.eos_token_id

    def compile(self, schema: dict[str, Any]) -> Any:
        regex = self.oc.json_schema.build_regex_from_schema(json.dumps(schema))
        return self.oc.Index(regex, self.vocabulary)

    def start(self, compiled: Any) -> Any:
        return self.oc.Guide(compiled)

    def mask(self, state: Any) -> torch.Tensor:
        allowed = torch.zeros(self.vocab, dtype=torch.bool)
        allowed[torch.tensor(state.get_tokens())] = True
        return allowed

    def consume(self, state: Any, token: int) -> None:
        state.advance(token)

    def done(self, state: Any) -> bool:
        return bool(state.is_finished())


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet, reversed (the tokenizer's token strings to bytes)."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, codes, strict=True)}


def _unpack(bits: torch.Tensor, vocab: int) -> torch.Tensor:
    shifts = torch.arange(32, dtype=torch.int32)
    return ((bits.view(-1, 1) >> shifts) & 1).view(-1)[:vocab].bool()


def _timed(call: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = call()
    return value, time.perf_counter() - start


def run_engine(engine_type: type[Engine], runtime: Any) -> dict[str, Any]:
    vocab = int(runtime.model.config.vocab_size)
    engine, setup = _timed(lambda: engine_type(runtime.tokenizer, vocab))
    compile_ms: dict[str, float] = {}
    mask_ms: list[float] = []
    consume_ms: list[float] = []
    valid = 0
    for name, schema in SCHEMAS.items():
        compiled, seconds = _timed(lambda schema=schema: engine.compile(schema))
        compile_ms[name] = seconds * 1000
        state = engine.start(compiled)
        ids = runtime.encode(PROMPTS[name])
        out: list[int] = []
        with torch.inference_mode():
            from tessera.llm.medusa._decode import _new_cache, _pass

            cache = _new_cache(runtime.model)
            _, logits = _pass(runtime.model, torch.tensor(ids), cache)
            for _ in range(NEW_TOKENS):
                allowed, seconds = _timed(lambda state=state: engine.mask(state))
                mask_ms.append(seconds * 1000)
                row = logits[0].float().masked_fill(~allowed, float("-inf"))
                token = int(torch.argmax(row))
                _, seconds = _timed(lambda token=token, state=state: engine.consume(state, token))
                consume_ms.append(seconds * 1000)
                if token in runtime.eos_token_ids:
                    break
                out.append(token)
                if engine.done(state):
                    break
                _, logits = _pass(runtime.model, torch.tensor([token]), cache)
        text = runtime.tokenizer.decode(out, skip_special_tokens=True)
        try:
            import jsonschema

            jsonschema.validate(json.loads(text), schema)
            valid += 1
        except (ValueError, jsonschema.ValidationError):
            pass  # cut at NEW_TOKENS (a repeating array); counted as not valid
    return {
        "engine": engine.name,
        "setup_s": setup,
        "compile_ms": compile_ms,
        "mask_ms": statistics.median(mask_ms),
        "mask_p95_ms": sorted(mask_ms)[int(0.95 * len(mask_ms))],
        "consume_ms": statistics.median(consume_ms),
        "tokens": len(mask_ms),
        "valid": valid,
    }


def main() -> None:
    import platform

    from tessera.llm import load

    torch.set_num_threads(1)
    runtime = load(threads=1)
    rows = [run_engine(kind, runtime) for kind in (LLGuidance, XGrammar, OutlinesCore)]
    names = list(SCHEMAS)
    print(f"machine: {platform.processor() or platform.machine()}, 1 torch thread")
    print(
        "| engine | tokenizer setup (s) | "
        + " | ".join(f"compile {n} (ms)" for n in names)
        + " | mask p50 (ms) | mask p95 (ms) | consume p50 (ms) | valid |"
    )
    print("|---" * (len(names) + 6) + "|")
    for row in rows:
        compiles = " | ".join(f"{row['compile_ms'][n]:.1f}" for n in names)
        print(
            f"| {row['engine']} | {row['setup_s']:.2f} | {compiles} | {row['mask_ms']:.3f} | "
            f"{row['mask_p95_ms']:.3f} | {row['consume_ms']:.3f} | {row['valid']}/{len(names)} |"
        )


if __name__ == "__main__":
    main()
