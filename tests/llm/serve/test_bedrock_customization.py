"""bedrock's model customization jobs as background LoRA runs on local files (issue 23)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3")
pytest.importorskip("cryptography")
pytest.importorskip("peft")

from botocore.config import Config  # noqa: E402
from serve_live import Live, start_live  # noqa: E402

from tessera.llm.serve import RateLimit  # noqa: E402
from tessera.llm.serve._aws_credentials import AwsCredentialStore  # noqa: E402


def conversation(question: str, answer: str) -> dict[str, Any]:
    """One record in Bedrock's conversation format."""
    return {
        "schemaVersion": "bedrock-conversation-2024",
        "system": [{"text": "Answer with one word."}],
        "messages": [
            {"role": "user", "content": [{"text": question}]},
            {"role": "assistant", "content": [{"text": answer}]},
        ],
    }


@pytest.fixture(scope="module")
def tuning_live(tmp_path_factory: pytest.TempPathFactory, tiny_llama: Any) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("customization")
    data = root / "bucket"
    data.mkdir()
    pairs = [("cat", "dog"), ("sun", "moon"), ("sea", "river"), ("car", "road")] * 2
    lines = [json.dumps(conversation(f"what is {q}", a)) for q, a in pairs]
    (data / "train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (data / "bad.jsonl").write_text('{"messages": [{"role": "user"}]}\n', encoding="utf-8")
    bindings = root / "bindings.yaml"
    bindings.write_text(f"s3:\n  s3://training-data: {data}\n", encoding="utf-8")
    yield from start_live(
        root / "tessera.db",
        models=(f"tessera:{tiny_llama.folder}",),
        rate_limit=RateLimit(1000, burst=1000),
        bedrock_bindings=bindings,
    )


def wait(bedrock: Any, arn: str) -> dict[str, Any]:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        job: dict[str, Any] = bedrock.get_model_customization_job(jobIdentifier=arn)
        if job["status"] != "InProgress":
            return job
        time.sleep(0.5)
    raise AssertionError(f"{arn} did not finish")


def test_a_job_trains_and_registers_the_model(
    tuning_live: Live, tiny_llama: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path))  # where the custom model is registered
    store = AwsCredentialStore(tuning_live.db)
    creds = store.issue(tuning_live.key_ids["admin"])
    reader = store.issue(tuning_live.key_ids["models:invoke"])
    store.close()

    def client(issued: Any) -> Any:
        return boto3.client(
            "bedrock",
            endpoint_url=tuning_live.url,
            region_name="us-east-1",
            aws_access_key_id=issued.access_key_id,
            aws_secret_access_key=issued.secret_access_key,
            config=Config(retries={"total_max_attempts": 1}),
        )

    bedrock = client(creds)
    common = {
        "roleArn": "arn:aws:iam::123456789012:role/tuning",
        "baseModelIdentifier": f"tessera:{tiny_llama.folder}",
        "outputDataConfig": {"s3Uri": "s3://training-data/out/"},
        "hyperParameters": {"epochCount": "1", "batchSize": "4"},
    }
    started = bedrock.create_model_customization_job(
        jobName="words-1",
        customModelName="words",
        trainingDataConfig={"s3Uri": "s3://training-data/train.jsonl"},
        **common,
    )
    job = wait(bedrock, started["jobArn"])
    assert job["status"] == "Completed", job.get("failureMessage")
    assert job["outputModelArn"].endswith("custom-model/custom:words@1")
    failed = bedrock.create_model_customization_job(
        jobName="bad-1",
        customModelName="bad",
        trainingDataConfig={"s3Uri": "s3://training-data/bad.jsonl"},
        **common,
    )
    job = wait(bedrock, failed["jobArn"])
    assert job["status"] == "Failed" and "content" in job["failureMessage"]
    summaries = bedrock.list_model_customization_jobs()["modelCustomizationJobSummaries"]
    assert [(s["jobName"], s["status"]) for s in summaries] == [
        ("words-1", "Completed"),
        ("bad-1", "Failed"),
    ]
    with pytest.raises(bedrock.exceptions.ValidationException):
        bedrock.create_model_customization_job(
            jobName="nowhere",
            customModelName="x",
            trainingDataConfig={"s3Uri": "s3://unbound-bucket/train.jsonl"},
            **common,
        )
    with pytest.raises(client(reader).exceptions.AccessDeniedException):
        client(reader).list_model_customization_jobs()
