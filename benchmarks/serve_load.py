"""A small, bounded load test of ``tessera serve`` on loopback.

Starts ``tessera serve`` as its own process (so the clients below do not share its
interpreter) on a temporary database, then runs N concurrent clients x M requests per
scenario and prints requests/s, p50/p95 latency and error counts:

- ``GET /healthz``: the HTTP stack alone (no key);
- ``GET /v1/models``: plus key authentication (a cached argon2 check) and the rate limiter;
- ``POST /v1/prompts/{ref}/render``: plus a registry read, rendering and an audit-log write;
- ``POST /v1/chat/completions`` on a tiny random Llama (16 new tokens): generation, one
  request at a time per model;
- the same on the embedded SmolLM2-135M-Instruct (8 new tokens), fewer requests;
- **concurrent streams**: 8 streamed chats of 128 tokens on SmolLM2 (held-out prompts),
  first one at a time (one client alone), then all 8 at once while another client polls
  ``/healthz`` every 25 ms: time to first token, aggregate tokens/s, health latency, and
  whether every concurrent answer is the answer its prompt got alone; three times (the
  machine is shared), the run of the median ratio reported with the others' ratios;
- **mixed**: 2,000 requests from 16 clients (health, model list, renders, chats on the tiny
  model, wrong keys, and draft + commit writes, each client to its own prompt): 5xx
  count, writes lost or out of order (every client's versions read back), and the
  server's resident memory before and after; twice (to new prompts), so that the second
  round shows whether memory keeps growing once every route has run.

Usage::

    python benchmarks/serve_load.py            # prints a markdown table (a few minutes)
    python benchmarks/serve_load.py --write    # also writes the ``## serve`` section
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tessera.llm.serve import create_key

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import RESULTS, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Scenario:
    name: str
    method: str
    path: str
    body: dict[str, Any] | None
    clients: int
    requests: int
    auth: bool = True


def tiny_model(folder: Path) -> Path:
    """Save the test suite's tiny random Llama (tests/llm/conftest.py builds it) to ``folder``."""
    import torch

    torch.set_num_threads(1)
    spec = importlib.util.spec_from_file_location("tiny_llm", ROOT / "tests/llm/conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build_tiny_llama().save_pretrained(folder)
    module.build_tiny_tokenizer().save_pretrained(folder)
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(db: Path, models: list[str]) -> tuple[subprocess.Popen[str], str]:
    """``tessera serve`` on a free port; its state in ``db``, models cached in $TESSERA_HOME."""
    port = free_port()
    command = [str(Path(sys.executable).with_name("tessera")), "serve", "--port", str(port)]
    command += ["--db", str(db), "--rate", "100000", "--burst", "100000"]
    for model in models:
        command += ["--model", model]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True, env=env
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("tessera serve did not start within 60 s")


def run(url: str, key: str, scenario: Scenario) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[int] = []
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {key}"} if scenario.auth else {}

    def client() -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
            for _ in range(scenario.requests):
                started = time.perf_counter()
                response = http.request(scenario.method, scenario.path, json=scenario.body)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    if response.status_code != 200:
                        errors.append(response.status_code)

    threads = [threading.Thread(target=client) for _ in range(scenario.clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=20, method="inclusive")
    return {
        "scenario": scenario.name,
        "load": f"{scenario.clients} x {scenario.requests}",
        "requests/s": len(latencies) / wall,
        "p50 ms": statistics.median(latencies) * 1000,
        "p95 ms": cuts[18] * 1000,
        "errors": len(errors),
    }


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stream_chat(url: str, key: str, prompt: str, max_tokens: int) -> dict[str, Any]:
    """One streamed chat: its text, completion tokens, time to first token and wall time."""
    body = {
        "model": "tessera",
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    headers = {"Authorization": f"Bearer {key}"}
    pieces: list[str] = []
    tokens = 0
    first: float | None = None
    started = time.perf_counter()
    with (
        httpx.Client(base_url=url, headers=headers, timeout=600) as http,
        http.stream("POST", "/v1/chat/completions", json=body) as response,
    ):
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[len("data: ") :])
            if event.get("usage"):
                tokens = event["usage"]["completion_tokens"]
            for choice in event.get("choices", []):
                content = choice["delta"].get("content")
                if content:
                    if first is None:
                        first = time.perf_counter() - started
                    pieces.append(content)
    return {
        "text": "".join(pieces),
        "tokens": tokens,
        "ttft": first if first is not None else float("nan"),
        "wall": time.perf_counter() - started,
    }


def run_threads(target: Any, count: int) -> float:
    """Run ``target(i)`` for i in range(count), each in its own thread; the wall time."""
    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def concurrent_streams(url: str, key: str, clients: int, max_tokens: int) -> dict[str, Any]:
    """One client alone on each prompt, then every prompt at once while /healthz is polled."""
    from tessera.llm.medusa import heldout_prompts

    prompts = heldout_prompts(12)[:clients]
    started = time.perf_counter()
    alone = [stream_chat(url, key, p, max_tokens) for p in prompts]
    alone_wall = time.perf_counter() - started
    results: list[dict[str, Any] | None] = [None] * clients
    health: list[float] = []
    running = threading.Event()
    running.set()

    def poll() -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            while running.is_set():
                begun = time.perf_counter()
                http.get("/healthz").raise_for_status()
                health.append(time.perf_counter() - begun)
                time.sleep(0.025)

    def client(i: int) -> None:
        results[i] = stream_chat(url, key, prompts[i], max_tokens)

    poller = threading.Thread(target=poll)
    poller.start()
    wall = run_threads(client, clients)
    running.clear()
    poller.join()
    together = [r for r in results if r is not None]
    cuts = statistics.quantiles(health, n=100, method="inclusive")
    solo_rate = sum(r["tokens"] for r in alone) / alone_wall
    rate = sum(r["tokens"] for r in together) / wall
    return {
        "clients": clients,
        "max_tokens": max_tokens,
        "solo tokens/s": solo_rate,
        "solo ttft p50": statistics.median(r["ttft"] for r in alone),
        "tokens/s": rate,
        "ratio": rate / solo_rate,
        "ttft p50": statistics.median(r["ttft"] for r in together),
        "ttft max": max(r["ttft"] for r in together),
        "health p50 ms": statistics.median(health) * 1000,
        "health p99 ms": cuts[98] * 1000,
        "health max ms": max(health) * 1000,
        "health polls": len(health),
        "identical": sum(a["text"] == b["text"] for a, b in zip(alone, together, strict=True)),
        "tokens": sum(r["tokens"] for r in together),
        "wall": wall,
    }


def mixed(
    url: str, key: str, pid: int, tiny: str, clients: int, total: int, prefix: str = "mixed"
) -> dict[str, Any]:
    """``total`` requests of every kind from ``clients`` clients, each writing to its own
    prompt ``{prefix}-{client}``; writes checked after."""
    per_client = total // clients
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    commits: dict[int, list[str]] = {}
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
        for c in range(clients):
            body = {"type": "text", "text": f"client {c}: {{{{x}}}}", "variables": {"x": {}}}
            http.post(
                "/v1/prompts", json={"name": f"{prefix}-{c}", "body": body}
            ).raise_for_status()
    chat = {"model": tiny, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
    before = rss_mb(pid)

    def client(c: int) -> None:
        done: list[str] = []
        with (
            httpx.Client(base_url=url, headers=headers, timeout=120) as http,
            httpx.Client(base_url=url, timeout=120) as anonymous,
        ):
            for i in range(per_client):
                kind = i % 8
                if kind == 0:
                    response = anonymous.get("/healthz")
                elif kind == 1:
                    response = http.get("/v1/models")
                elif kind == 2:
                    response = http.post(
                        "/v1/prompts/greet@1/render", json={"variables": {"name": f"c{c}"}}
                    )
                elif kind == 3:
                    response = http.post("/v1/chat/completions", json=chat)
                elif kind == 4:
                    wrong = {"Authorization": f"Bearer tsk_{c:08x}_not-a-real-secret-{i}"}
                    response = anonymous.get("/v1/models", headers=wrong)
                else:  # writes: a new draft, then a commit of exactly that draft
                    text = f"client {c} write {len(done)}: {{{{x}}}}"
                    draft = {"body": {"type": "text", "text": text, "variables": {"x": {}}}}
                    response = http.put(f"/v1/prompts/{prefix}-{c}/draft", json=draft)
                    if response.status_code == 200:
                        etag = response.headers["ETag"]
                        response = http.post(
                            f"/v1/prompts/{prefix}-{c}/versions",
                            json={"message": text},
                            headers={"If-Match": etag},
                        )
                        if response.status_code == 201:
                            done.append(text)
                with lock:
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        commits[c] = done

    wall = run_threads(client, clients)
    after = rss_mb(pid)
    lost = 0
    with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
        for c, texts in commits.items():
            versions = http.get(f"/v1/prompts/{prefix}-{c}/versions").json()
            stored = [v["body"]["text"] for v in versions]
            lost += 0 if stored == texts else max(1, len(set(texts) ^ set(stored)))
    return {
        "requests": sum(statuses.values()),
        "clients": clients,
        "statuses": dict(sorted(statuses.items())),
        "5xx": sum(n for status, n in statuses.items() if status >= 500),
        "writes": sum(len(t) for t in commits.values()),
        "lost or reordered": lost,
        "rss before": before,
        "rss after": after,
        "wall": wall,
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| scenario | clients x requests | requests/s | p50 ms | p95 ms | errors |"]
    lines.append("|---|---|---:|---:|---:|---:|")
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r['load']} | {r['requests/s']:.1f} | {r['p50 ms']:.1f} "
            f"| {r['p95 ms']:.1f} | {r['errors']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=25, help="requests per client")
    parser.add_argument("--no-default-model", action="store_true", help="skip SmolLM2")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    parser.add_argument("--streams", type=int, default=8, help="concurrent streamed chats")
    parser.add_argument("--stream-tokens", type=int, default=128, help="tokens per stream")
    parser.add_argument(
        "--stream-runs",
        type=int,
        default=3,
        help="times the concurrent streams run (alone, then together, each time)",
    )
    parser.add_argument("--mixed", type=int, default=2000, help="requests of the mixed load")
    parser.add_argument("--mixed-clients", type=int, default=16, help="clients of the mixed load")
    parser.add_argument(
        "--mixed-rounds", type=int, default=2, help="rounds of the mixed load (memory growth each)"
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        db = home / "tessera.db"
        tiny = f"tessera:{tiny_model(home / 'tiny')}"
        _, key = create_key("bench", "admin", path=db)
        process, url = start(db, [tiny, "tessera"])
        try:
            http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"})
            body = {"type": "text", "text": "Hello {{name}}!", "variables": {"name": {}}}
            http.post("/v1/prompts", json={"name": "greet", "body": body}).raise_for_status()
            http.post("/v1/prompts/greet/versions", json={}).raise_for_status()
            chat = {"messages": [{"role": "user", "content": "what is the sun"}]}
            # Warm-up: load both models once, outside the timings.
            http.post("/v1/chat/completions", json={**chat, "max_tokens": 1}, timeout=120)
            if not args.no_default_model:
                warm = {**chat, "model": "tessera", "max_tokens": 1}
                http.post("/v1/chat/completions", json=warm, timeout=300).raise_for_status()
            n, m = args.clients, args.requests
            scenarios = [
                Scenario("GET /healthz (no key)", "GET", "/healthz", None, n, m, auth=False),
                Scenario("GET /v1/models", "GET", "/v1/models", None, n, m),
                Scenario(
                    "POST /v1/prompts/greet@1/render (audited)",
                    "POST",
                    "/v1/prompts/greet@1/render",
                    {"variables": {"name": "Ada"}},
                    n,
                    m,
                ),
                Scenario(
                    "chat completions, tiny Llama, 16 tokens",
                    "POST",
                    "/v1/chat/completions",
                    {**chat, "max_tokens": 16},
                    4,
                    5,
                ),
            ]
            if not args.no_default_model:
                scenarios.append(
                    Scenario(
                        "chat completions, SmolLM2-135M, 8 tokens",
                        "POST",
                        "/v1/chat/completions",
                        {**chat, "model": "tessera", "max_tokens": 8},
                        2,
                        2,
                    )
                )
            started = time.perf_counter()
            rows = [run(url, key, s) for s in scenarios]
            elapsed = time.perf_counter() - started
            streams = None
            runs: list[dict[str, Any]] = []
            if not args.no_default_model and args.streams:
                for _ in range(args.stream_runs):
                    runs.append(concurrent_streams(url, key, args.streams, args.stream_tokens))
                    print(runs[-1])
                # the run of the median ratio stands for them (the machine is shared: the
                # spread is reported beside it)
                streams = sorted(runs, key=lambda r: r["ratio"])[(len(runs) - 1) // 2]
            loads = []
            for round_ in range(args.mixed_rounds):
                loads.append(
                    mixed(
                        url,
                        key,
                        process.pid,
                        tiny,
                        args.mixed_clients,
                        args.mixed,
                        prefix=f"mixed{round_}",
                    )
                )
                print(loads[-1])
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
    text = (
        "## serve\n\n"
        "Load test, `python benchmarks/serve_load.py --write`: `tessera serve` in its own "
        "process, clients in threads of another, all on loopback; every client sends its "
        "requests one after another. Machine: "
        f"{platform.machine()}, {os.cpu_count()} logical CPUs shared with other work, "
        f"Python {platform.python_version()}. Concurrent chats of one model decode together "
        "(batched forward passes).\n\n"
        f"{table(rows)}\n\n- Timed part: {elapsed:.1f} s.\n"
    )
    if streams is not None:
        st = streams
        text += (
            f"\n### {st['clients']} concurrent streamed chats, SmolLM2-135M, "
            f"{st['max_tokens']} tokens\n\n"
            "Held-out prompts, greedy; each prompt first alone (one client at a time), then "
            "all at once (batched decoding) while another client polls `/healthz` every 25 ms."
            "\n\n| | one client alone | all at once |\n|---|---:|---:|\n"
            f"| aggregate tokens/s | {st['solo tokens/s']:.1f} | {st['tokens/s']:.1f} "
            f"({st['ratio']:.2f}x) |\n"
            f"| time to first token, p50 | {st['solo ttft p50'] * 1000:.0f} ms "
            f"| {st['ttft p50'] * 1000:.0f} ms (max {st['ttft max'] * 1000:.0f}) |\n"
            f"| `/healthz` p50 / p99 / max | | {st['health p50 ms']:.1f} / "
            f"{st['health p99 ms']:.1f} / {st['health max ms']:.1f} ms "
            f"({st['health polls']} polls) |\n"
            f"| answers identical to the solo run | | {st['identical']} of {st['clients']} |\n"
        )
        ratios = ", ".join(f"{r['ratio']:.2f}x" for r in runs)
        text += (
            f"\nThe table is the run of the median ratio of {len(runs)} (each: every prompt "
            f"alone, then all at once). Ratios of the runs: {ratios}; answers identical to "
            f"the solo run: {sum(r['identical'] for r in runs)} of "
            f"{sum(r['clients'] for r in runs)}; `/healthz` p99 at most "
            f"{max(r['health p99 ms'] for r in runs):.1f} ms.\n"
        )
    ld = loads[0]
    text += (
        f"\n### Mixed load: {ld['requests']} requests from {ld['clients']} clients\n\n"
        "Health, model list, audited renders, 8-token chats on the tiny model, wrong keys, "
        "and draft + commit (If-Match) writes, each client to its own prompt, every version "
        f"read back after. Statuses: {ld['statuses']}; 5xx: {ld['5xx']}; writes: "
        f"{ld['writes']}, lost or out of order: {ld['lost or reordered']}; server memory "
        f"{ld['rss before']:.0f} MB before, {ld['rss after']:.0f} MB after "
        f"({ld['rss after'] - ld['rss before']:+.0f} MB); {ld['wall']:.1f} s.\n"
    )
    for number, again in enumerate(loads[1:], start=2):
        text += (
            f"\nRound {number} (the same load, to new prompts): 5xx: {again['5xx']}; writes: "
            f"{again['writes']}, lost or out of order: {again['lost or reordered']}; server "
            f"memory {again['rss after'] - again['rss before']:+.0f} MB.\n"
        )
    print(text)
    if args.write:
        write_section("serve", text, RESULTS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
