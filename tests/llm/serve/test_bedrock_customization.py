"""bedrock's model customization jobs as background LoRA runs on local files (issue 23)."""

from __future__ import annotations

import json
import subprocess
import sys
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


def _bedrock(live: Live) -> Any:
    store = AwsCredentialStore(live.db)
    try:
        creds = store.issue(live.key_ids["admin"])
    finally:
        store.close()
    return boto3.client(
        "bedrock",
        endpoint_url=live.url,
        region_name="us-east-1",
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        config=Config(retries={"total_max_attempts": 1}),
    )


def test_jobs_are_kept_in_the_database_across_a_restart(tuning_live: Live, tiny_llama: Any) -> None:
    # A second server on the same database (the first one's jobs finished above).
    from tessera.llm.serve._bedrock_jobs import STOPPED_MESSAGE

    # A job whose server died mid-training: recorded by a process that has exited.
    script = (
        "import sys; from tessera.llm.serve._bedrock_jobs import JobStore; "
        "s = JobStore(sys.argv[1]); "
        "s.create('orphan-1', {'customModelName': 'orphan'}, 'tessera'); s.close()"
    )
    subprocess.run([sys.executable, "-c", script, str(tuning_live.db)], check=True)
    for restarted in start_live(
        tuning_live.db,
        models=(f"tessera:{tiny_llama.folder}",),
        rate_limit=RateLimit(1000, burst=1000),
    ):
        bedrock = _bedrock(restarted)
        summaries = bedrock.list_model_customization_jobs()["modelCustomizationJobSummaries"]
        assert [(s["jobName"], s["status"]) for s in summaries] == [
            ("words-1", "Completed"),
            ("bad-1", "Failed"),
            ("orphan-1", "Failed"),
        ]
        job = bedrock.get_model_customization_job(jobIdentifier="words-1")
        assert job["outputModelArn"].endswith("custom-model/custom:words@1")
        orphan = bedrock.get_model_customization_job(jobIdentifier="orphan-1")
        assert orphan["failureMessage"] == STOPPED_MESSAGE
        completed = bedrock.list_model_customization_jobs(statusEquals="Completed")
        assert [s["jobName"] for s in completed["modelCustomizationJobSummaries"]] == ["words-1"]
        with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
            bedrock.get_model_customization_job(jobIdentifier="never-made")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("jobName", "-starts-with-dash"),
        ("jobName", "x" * 64),
        ("jobName", "caf\u00e9"),
        ("jobName", "a\u202eb"),
        ("customModelName", "two__underscores"),
        ("customModelName", "space name"),
    ],
)
def test_bad_job_and_model_names_are_validation_errors(
    tuning_live: Live, tiny_llama: Any, field: str, value: str
) -> None:
    bedrock = _bedrock(tuning_live)
    request = {
        "jobName": "fine-name",
        "customModelName": "fine_name",
        "roleArn": "arn:aws:iam::123456789012:role/tuning",
        "baseModelIdentifier": f"tessera:{tiny_llama.folder}",
        "trainingDataConfig": {"s3Uri": "s3://training-data/train.jsonl"},
        "outputDataConfig": {"s3Uri": "s3://training-data/out/"},
        "hyperParameters": {"epochCount": "9" * 5000},
    }
    request[field] = value
    with pytest.raises(bedrock.exceptions.ValidationException) as caught:
        bedrock.create_model_customization_job(**request)
    assert field in caught.value.response["Error"]["Message"]


def test_huge_hyperparameters_are_validation_errors(tuning_live: Live, tiny_llama: Any) -> None:
    bedrock = _bedrock(tuning_live)
    for hyper in ({"epochCount": "9" * 5000}, {"batchSize": "1e400"}, {"epochCount": "\u0663"}):
        with pytest.raises(bedrock.exceptions.ValidationException):
            bedrock.create_model_customization_job(
                jobName="huge-1",
                customModelName="huge",
                roleArn="arn:aws:iam::123456789012:role/tuning",
                baseModelIdentifier=f"tessera:{tiny_llama.folder}",
                trainingDataConfig={"s3Uri": "s3://training-data/train.jsonl"},
                outputDataConfig={"s3Uri": "s3://training-data/out/"},
                hyperParameters=hyper,
            )
