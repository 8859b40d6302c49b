"""Wrong keys against ``tessera serve``: its memory, and how valid keys fare meanwhile.

Starts ``tessera serve`` (the CLI's default limits) as its own process on a temporary
database and sends ``--attempts`` wrong keys from concurrent clients on loopback, each
request on a connection of its own, in two scenarios:

- ``one address, one key id`` (``--threads`` clients): wrong secrets for a real key id,
  all from 127.0.0.1 (the attack of issue 17): the failed-login buckets refuse most
  attempts before hashing;
- ``one address per attempt, random key ids`` (``--spread-threads`` clients): every
  attempt from another loopback address (127.1.x.y) with an unknown key id, so no bucket
  ever refuses: only the bound on argon2 checks (two threads, a queue of 32, then 503)
  holds the server up.

Meanwhile one client keeps calling ``GET /v1/models`` with a key the server has already
checked, and half a second in, a client on 127.0.0.2 sends a key the server has not
checked yet. Prints the server's resident memory before, after and at its peak, the
statuses the attack got, and the valid keys' latencies (before the attack too).

Usage::

    python benchmarks/serve_auth.py                 # both scenarios, 400 attempts each
    python benchmarks/serve_auth.py --attempts 100 --threads 8
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from tessera.llm.serve import create_key

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import RESULTS, write_section  # noqa: E402

#: Never loaded: these requests stop at the guards or at GET /v1/models.
MODEL = "tessera:/nonexistent-model-never-loaded"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def memory_mb(pid: int) -> tuple[float, float]:
    """The process's resident set now and at its peak (VmRSS, VmHWM), in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value
    return tuple(int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


def start(db: Path) -> tuple[subprocess.Popen[str], str, int]:
    port = free_port()
    command = [str(Path(sys.executable).with_name("tessera")), "serve", "--port", str(port)]
    command += ["--db", str(db), "--model", MODEL]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return process, url, port
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("tessera serve did not start within 60 s")


def forged(key: str, n: int, spread: bool) -> tuple[str, str]:
    """A wrong key and the address to send it from.

    Not spread: ``key`` with its last six characters replaced (the same key id, a wrong
    secret), from 127.0.0.1. Spread: a random key id, from an address of its own.
    """
    if not spread:
        return key[:-6] + f"{n:06d}", "127.0.0.1"
    return (
        f"tsk_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}",
        f"127.1.{n // 250}.{n % 250 + 1}",
    )


def raw_get(port: int, path: str, key: str, address: str) -> int:
    """The status of one GET sent from ``address`` on a connection of its own.

    A plain socket rather than an HTTP client: attackers cost the machine (two cores,
    shared with the server) as little as possible, so the figures are the server's.
    """
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        "Connection: close\r\n\r\n"
    )
    with socket.create_connection(
        ("127.0.0.1", port), timeout=300, source_address=(address, 0)
    ) as sock:
        sock.sendall(request.encode("ascii"))
        head = sock.recv(64).decode("ascii", "replace")
    return int(head.split()[1])


def percentiles(latencies: list[float]) -> str:
    cuts = statistics.quantiles(latencies, n=20, method="inclusive")
    return (
        f"{statistics.median(latencies) * 1000:.0f} / {cuts[18] * 1000:.0f} / "
        f"{max(latencies) * 1000:.0f}"
    )


def scenario(name: str, spread: bool, attempts: int, threads: int) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "tessera.db"
        _, valid = create_key("valid", "models:invoke", path=db)
        _, fresh = create_key("fresh", "models:invoke", path=db)
        process, url, port = start(db)
        try:
            idle: list[float] = []
            headers = {"Authorization": f"Bearer {valid}"}
            with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
                # Warm up as a serving process would be: the valid key checked once.
                http.get("/v1/models").raise_for_status()
                for _ in range(20):
                    started = time.perf_counter()
                    http.get("/v1/models").raise_for_status()
                    idle.append(time.perf_counter() - started)
                time.sleep(1.0)
            before, _ = memory_mb(process.pid)
            statuses: Counter[int] = Counter()
            latencies: list[float] = []
            valid_statuses: Counter[int] = Counter()
            fresh_result: list[tuple[int, float]] = []
            lock = threading.Lock()
            done = threading.Event()
            per_thread = attempts // threads

            def attacker(index: int) -> None:
                for n in range(per_thread):
                    bad, address = forged(valid, index * per_thread + n, spread)
                    status = raw_get(port, "/v1/models", bad, address)
                    with lock:
                        statuses[status] += 1

            def user() -> None:
                headers = {"Authorization": f"Bearer {valid}"}
                with httpx.Client(base_url=url, headers=headers, timeout=300) as client:
                    while not done.is_set():
                        started = time.perf_counter()
                        response = client.get("/v1/models")
                        with lock:
                            latencies.append(time.perf_counter() - started)
                            valid_statuses[response.status_code] += 1
                        time.sleep(0.15)  # under the default 10 requests/s per key

            def newcomer() -> None:
                # Mid-attack, from another address (127.0.0.2): a key this process has
                # not checked yet, so it needs an argon2 check of its own.
                time.sleep(0.5)
                transport = httpx.HTTPTransport(local_address="127.0.0.2")
                with httpx.Client(base_url=url, transport=transport, timeout=300) as client:
                    started = time.perf_counter()
                    response = client.get(
                        "/v1/models", headers={"Authorization": f"Bearer {fresh}"}
                    )
                    fresh_result.append((response.status_code, time.perf_counter() - started))

            workers = [threading.Thread(target=attacker, args=(i,)) for i in range(threads)]
            watcher = threading.Thread(target=user)
            late = threading.Thread(target=newcomer)
            started = time.perf_counter()
            watcher.start()
            late.start()
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            wall = time.perf_counter() - started
            done.set()
            watcher.join()
            late.join()
            after, peak = memory_mb(process.pid)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
    fresh_status, fresh_seconds = fresh_result[0]
    return {
        "scenario": name,
        "attack": f"{per_thread * threads} in {wall:.1f} s",
        "statuses": ", ".join(f"{s}: {c}" for s, c in sorted(statuses.items())),
        "RSS MB before / after / peak": f"{before:.0f} / {after:.0f} / {peak:.0f}",
        "checked key, idle: p50 / p95 / max ms": percentiles(idle),
        "checked key, under attack: p50 / p95 / max ms": (
            f"{percentiles(latencies)} ({sum(valid_statuses.values())} requests, "
            + ", ".join(f"{s}: {c}" for s, c in sorted(valid_statuses.items()))
            + ")"
        ),
        "new key mid-attack": f"{fresh_status} in {fresh_seconds * 1000:.0f} ms",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=400, help="wrong secrets in all")
    parser.add_argument("--threads", type=int, default=16, help="concurrent attackers")
    parser.add_argument(
        "--spread-threads",
        type=int,
        default=64,
        help="concurrent attackers in the second scenario (more than the 34 checks that "
        "may run or wait, so some get 503)",
    )
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    rows = [
        scenario("one address, one key id", False, args.attempts, args.threads),
        scenario(
            "one address per attempt, random key ids", True, args.attempts, args.spread_threads
        ),
    ]
    columns = list(rows[0])
    lines = [
        "## serve-auth",
        "",
        f"Wrong keys against `tessera serve` (`python benchmarks/serve_auth.py --write`, "
        f"{args.attempts} attempts per scenario): the server's statuses and resident memory, "
        "and how fast a key it has already checked is answered meanwhile. Machine: "
        f"{platform.machine()}, {os.cpu_count()} logical CPUs shared with other work, "
        f"Python {platform.python_version()}.",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *("| " + " | ".join(row[c] for c in columns) + " |" for row in rows),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("serve-auth", text, RESULTS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
