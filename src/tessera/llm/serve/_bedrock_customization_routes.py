"""bedrock's model customization jobs as background LoRA fine-tuning on local files.

CreateModelCustomizationJob starts :func:`tessera.llm.tune.fine_tune` in a thread of its
own on the JSONL that ``trainingDataConfig.s3Uri`` names, read from the folder its bucket
is bound to (``s3:`` in ``--bedrock-bindings``); the result is registered as the custom
model ``customModelName`` (``custom:<name>@<version>``, usable by ``--model``).
GetModelCustomizationJob and ListModelCustomizationJobs report ``InProgress``,
``Completed`` or ``Failed`` (with the failure message). Records are Bedrock's
conversation format (``schemaVersion: bedrock-conversation-2024``, ``system`` and
``content`` as text blocks) or tessera's (plain strings). Hyperparameters:
``epochCount``, ``batchSize``, ``learningRateMultiplier``. Jobs live in the server's
memory (a restart forgets them; the registered models stay). Scope ``admin``: training
takes the server's CPU for minutes.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tessera.errors import InvalidInputError, NotFoundError
from tessera.llm.serve._aws import AwsError, AwsRoute
from tessera.llm.serve._bedrock_agent_routes import ARN_PREFIX
from tessera.llm.serve._http import AdminKey, ServiceState, service

__all__ = ["router"]

router = APIRouter(tags=["bedrock"], route_class=AwsRoute, include_in_schema=False)
_JOBS = "bedrock_customization_jobs"


@dataclass
class _Job:
    name: str
    request: dict[str, Any]
    base: str
    created: str
    status: str = "InProgress"
    ended: str | None = None
    failure: str | None = None
    model: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def arn(self) -> str:
        return f"{ARN_PREFIX}:model-customization-job/{self.name}"

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "jobArn": self.arn,
            "jobName": self.name,
            "baseModelArn": f"{ARN_PREFIX}:foundation-model/{self.base}",
            "status": self.status,
            "creationTime": self.created,
            "lastModifiedTime": self.ended or self.created,
            "customModelName": self.request["customModelName"],
            "customizationType": "FINE_TUNING",
        }
        if self.ended:
            out["endTime"] = self.ended
        if self.model:
            out["customModelArn"] = f"{ARN_PREFIX}:custom-model/{self.model}"
        return out


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _jobs(state: ServiceState) -> dict[str, _Job]:
    found: dict[str, _Job] = state.extras.setdefault(_JOBS, {})
    return found


def _local_file(state: ServiceState, uri: Any, field_name: str) -> Path:
    """The local file an ``s3://bucket/key`` names through the server's s3 bindings."""
    from tessera.llm.bedrock import Bindings

    bindings: Bindings = state.extras.get("bedrock_bindings") or Bindings()
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise InvalidInputError(f"{field_name}={uri!r} is invalid: pass an s3:// URI.")
    prefixes = sorted((p for p in bindings.s3 if uri.startswith(p.rstrip("/"))), key=len)
    if not prefixes:
        raise InvalidInputError(
            f"{field_name}={uri!r} is invalid: no s3 binding covers it. Bind its bucket to a "
            "folder in the bindings file (s3: {s3://bucket: ./folder}) and restart the server."
        )
    prefix = prefixes[-1].rstrip("/")
    folder = Path(bindings.s3[prefixes[-1]]).resolve()
    path = (folder / uri[len(prefix) :].lstrip("/")).resolve()
    if folder not in path.parents:
        raise InvalidInputError(f"{field_name}={uri!r} is invalid: it leaves its bound folder.")
    return path


def _records(path: Path, field_name: str) -> list[dict[str, Any]]:
    """JSONL records in tessera's chat format (Bedrock's conversation format converted)."""

    def text(value: Any) -> Any:
        if isinstance(value, list):
            return "".join(b.get("text", "") for b in value if isinstance(b, dict))
        return value

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidInputError(f"{field_name}: {path} cannot be read ({exc.strerror}).") from None
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise InvalidInputError(
                f"{field_name}: line {number} of {path.name} is not JSON. Fix the line."
            ) from None
        if not isinstance(record, dict):
            raise InvalidInputError(f"{field_name}: line {number} of {path.name} is not an object.")
        record.pop("schemaVersion", None)
        if "system" in record:
            record["system"] = text(record["system"])
        messages = record.get("messages")
        if isinstance(messages, list):
            record["messages"] = [
                {**m, "content": text(m.get("content"))} if isinstance(m, dict) else m
                for m in messages
            ]
        records.append(record)
    return records


def _run(job: _Job, records: list[Any], validation: list[Any] | None, params: Any) -> None:
    from tessera.llm.tune import fine_tune, register_model

    try:
        model = None if job.base == "tessera" else job.base.removeprefix("tessera:")
        # threads=None: leave the server's torch threads as they are.
        result = fine_tune(
            records,
            validation=validation,
            model=model,
            params=params,
            progress=False,
            threads=None,
        )
        registered = register_model(result, job.request["customModelName"])
        with job.lock:
            job.model = registered.spec
            job.status = "Completed"
    except Exception as exc:  # reported by GetModelCustomizationJob
        with job.lock:
            job.status = "Failed"
            job.failure = str(exc)[:2000]
    finally:
        with job.lock:
            job.ended = _now()


@router.post("/model-customization-jobs", status_code=201, summary="CreateModelCustomizationJob")
async def create_job(request: Request, _key: AdminKey) -> Any:
    """Scope ``admin``. Starts fine-tuning in the background; returns the job's ARN."""
    from tessera.llm.serve._bedrock_routes import _model, request_json
    from tessera.llm.tune import TuneParams

    state = service(request)
    body = await request_json(request)
    if not isinstance(body, dict):
        raise InvalidInputError("the body is invalid: it must be a JSON object.")
    name, custom = body.get("jobName"), body.get("customModelName")
    for field_name, value in (("jobName", name), ("customModelName", custom)):
        if not isinstance(value, str) or not value:
            raise InvalidInputError(f"{field_name} is required: name it.")
    if body.get("customizationType", "FINE_TUNING") != "FINE_TUNING":
        raise InvalidInputError(
            f"customizationType={body.get('customizationType')!r} is invalid: only FINE_TUNING "
            "(LoRA on the CPU) runs locally."
        )
    jobs = _jobs(state)
    if name in jobs:
        raise AwsError(409, "ConflictException", f"jobName={name!r} exists already: pick another.")
    base = _model(state, str(body.get("baseModelIdentifier")))
    training = _records(
        _local_file(
            state, (body.get("trainingDataConfig") or {}).get("s3Uri"), "trainingDataConfig.s3Uri"
        ),
        "trainingDataConfig",
    )
    validators = (body.get("validationDataConfig") or {}).get("validators") or []
    validation = None
    if validators:
        uri = validators[0].get("s3Uri") if isinstance(validators[0], dict) else None
        validation = _records(
            _local_file(state, uri, "validationDataConfig.validators[0].s3Uri"),
            "validationDataConfig",
        )
    hyper = body.get("hyperParameters") or {}
    try:
        params = TuneParams(
            epoch_count=int(hyper.get("epochCount", 2)),
            batch_size=int(hyper.get("batchSize", 8)),
            learning_rate_multiplier=float(hyper.get("learningRateMultiplier", 1.0)),
        )
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"hyperParameters={hyper!r} is invalid: {exc}") from None
    job = _Job(str(name), body, base, _now())
    jobs[job.name] = job
    thread = threading.Thread(
        target=_run,
        args=(job, training, validation, params),
        name=f"tessera-tune-{job.name}",
        daemon=True,
    )
    thread.start()
    return JSONResponse({"jobArn": job.arn}, status_code=201)


def _job(state: ServiceState, identifier: str) -> _Job:
    name = identifier.rsplit("model-customization-job/", 1)[-1]
    found = _jobs(state).get(name)
    if found is None:
        raise NotFoundError(f"jobIdentifier={identifier!r} is invalid: no such job on this server.")
    return found


@router.get("/model-customization-jobs/{identifier:path}", summary="GetModelCustomizationJob")
async def get_job(identifier: str, request: Request, _key: AdminKey) -> Any:
    """Scope ``admin``."""
    job = _job(service(request), identifier)
    with job.lock:
        request_body = job.request
        answer: dict[str, Any] = {
            "jobArn": job.arn,
            "jobName": job.name,
            "outputModelName": request_body["customModelName"],
            "roleArn": request_body.get("roleArn", ""),
            "status": job.status,
            "creationTime": job.created,
            "lastModifiedTime": job.ended or job.created,
            "baseModelArn": f"{ARN_PREFIX}:foundation-model/{job.base}",
            "hyperParameters": request_body.get("hyperParameters") or {},
            "trainingDataConfig": request_body.get("trainingDataConfig"),
            "validationDataConfig": request_body.get("validationDataConfig") or {"validators": []},
            "outputDataConfig": request_body.get("outputDataConfig"),
            "customizationType": "FINE_TUNING",
        }
        if job.ended:
            answer["endTime"] = job.ended
        if job.failure:
            answer["failureMessage"] = job.failure
        if job.model:
            answer["outputModelArn"] = f"{ARN_PREFIX}:custom-model/{job.model}"
    return answer


@router.get("/model-customization-jobs", summary="ListModelCustomizationJobs")
async def list_jobs(request: Request, _key: AdminKey, statusEquals: str | None = None) -> Any:
    """Scope ``admin``. Every job of this server's lifetime, oldest first."""
    jobs = list(_jobs(service(request)).values())
    summaries = []
    for job in jobs:
        with job.lock:
            if statusEquals is None or job.status == statusEquals:
                summaries.append(job.summary())
    return {"modelCustomizationJobSummaries": summaries}
