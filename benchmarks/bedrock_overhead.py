"""What the Bedrock wire costs over tessera's own API, side by side on one server (issue 23).

The same guardrail (custom words and an email filter: no model, no embeddings, so the
request path dominates) is applied N times through boto3's ``apply_guardrail`` (SigV4
signed, verified on the server, AWS JSON) and through ``POST /v1/guardrails/apply`` with a
bearer key (urllib3, boto3's own HTTP client); it prints the median and p95 of each and their ratio.

Run: ``.venv/bin/python benchmarks/bedrock_overhead.py [N]``
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main(n: int = 200) -> None:
    import boto3
    import urllib3
    from botocore.config import Config

    from tessera.llm.serve import KeyStore, RateLimit, create_app, start_server
    from tessera.llm.serve._aws_credentials import AwsCredentialStore
    from tessera.llm.serve._guard_routes import GuardrailStore

    db = Path(tempfile.mkdtemp()) / "tessera.db"
    guardrail = {
        "sensitive_information": {"entities": ["EMAIL"], "action": "ANONYMIZE"},
        "words": {"words": ["zorblax"], "action": "BLOCK"},
    }
    store = GuardrailStore(db)
    store.create("bench", guardrail)
    store.commit("bench", "v1")
    keys = KeyStore(db)
    key_id, key = keys.create("bench", ["guardrails:apply"])
    keys.close()
    credentials = AwsCredentialStore(db)
    issued = credentials.issue(key_id)
    credentials.close()
    app = create_app(db_path=db, rate_limit=RateLimit(100_000, burst=100_000))
    server = start_server(app)
    text = "Mail ann@example.org about the order"
    runtime = boto3.client(
        "bedrock-runtime",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=issued.access_key_id,
        aws_secret_access_key=issued.secret_access_key,
        config=Config(retries={"total_max_attempts": 1}),
    )
    # urllib3 on both sides (boto3's own HTTP client), so that only the API differs.
    http = urllib3.PoolManager()
    body = json.dumps({"guardrail": "bench@1", "text": text}).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def bedrock() -> None:
        runtime.apply_guardrail(
            guardrailIdentifier="bench",
            guardrailVersion="1",
            source="INPUT",
            content=[{"text": {"text": text}}],
        )

    def tessera() -> None:
        url = f"{server.url}/v1/guardrails/apply"
        response = http.request("POST", url, body=body, headers=headers)
        assert response.status == 200, response.data

    timings: dict[str, list[float]] = {
        "bedrock (boto3, SigV4)": [],
        "tessera (urllib3, bearer)": [],
    }
    try:
        for call in (bedrock, tessera):  # warm both paths
            call()
        for _ in range(n):  # interleaved, so that load on the machine hits both alike
            for name, call in zip(timings, (bedrock, tessera), strict=True):
                started = time.perf_counter()
                call()
                timings[name].append((time.perf_counter() - started) * 1000)
    finally:
        runtime.close()
        http.clear()
        server.stop()
    medians = {}
    for name, values in timings.items():
        values.sort()
        medians[name] = statistics.median(values)
        p95 = values[int(0.95 * (len(values) - 1))]
        print(f"{name:28s} median {medians[name]:6.2f} ms   p95 {p95:6.2f} ms   (n={n})")
    bedrock_ms, tessera_ms = medians.values()
    print(f"ratio of medians (bedrock / tessera): {bedrock_ms / tessera_ms:.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
