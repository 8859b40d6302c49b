"""A small, bounded load test of ``tessera serve`` on loopback.

Starts ``tessera serve`` as its own process (so the clients below do not share its
interpreter) on a temporary database, then runs N concurrent clients x M requests per
scenario and prints requests/s, p50/p95 latency and error counts:

- ``GET /healthz``: the HTTP stack alone (no key);
- ``GET /v1/models``: plus key authentication (a cached argon2 check) and the rate limiter;
- ``POST /v1/prompts/{ref}/render``: plus a registry read, rendering and an audit-log write;
- ``POST /v1/chat/completions`` on a tiny random Llama (16 new tokens): generation, one
  request at a time per model;
- the same on the embedded SmolLM2-135M-Instruct (8 new tokens), fewer requests.

Usage::

    python benchmarks/serve_load.py            # prints a markdown table (under a minute)
    python benchmarks/serve_load.py --write    # also writes the ``## serve`` section
"""

from __future__ import annotations

import argparse
import importlib.util
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
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
    text = (
        "## serve\n\n"
        "Load test, `python benchmarks/serve_load.py --write`: `tessera serve` in its own "
        "process, clients in threads of another, all on loopback; every client sends its "
        "requests one after another. Machine: "
        f"{platform.machine()}, {os.cpu_count()} logical CPUs shared with other work, "
        f"Python {platform.python_version()}. Generation runs one request at a time per "
        "model, so its requests/s is the model's speed.\n\n"
        f"{table(rows)}\n\n- Timed part: {elapsed:.1f} s.\n"
    )
    print(text)
    if args.write:
        write_section("serve", text, RESULTS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
