"""bedrock's model customization jobs as background LoRA fine-tuning on local files.

CreateModelCustomizationJob starts :func:`tessera.llm.tune.fine_tune` in a thread of its
own on the JSONL that ``trainingDataConfig.s3Uri`` names, read from the folder its bucket
is bound to (``s3:`` in ``--bedrock-bindings``); the result is registered as the custom
model ``customModelName`` (``custom:<name>@<version>``, usable by ``--model``).
GetModelCustomizationJob and ListModelCustomizationJobs report ``InProgress``,
``Completed`` or ``Failed`` (with the failure message). Records are Bedrock's
conversation format (``schemaVersion: bedrock-conversation-2024``, ``system`` and
``content`` as text blocks) or tessera's (plain strings). Hyperparameters:
``epochCount``, ``batchSize``, ``learningRateMultiplier``. Jobs are kept in the
service's database (:mod:`tessera.llm.serve._bedrock_jobs`): a restart keeps them, and a
job the stopped server was still training reads ``Failed``, saying so. Scope ``admin``:
training takes the server's CPU for minutes.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from tessera.errors import InvalidInputError, NotFoundError
from tessera.llm.serve._aws import AwsError, AwsRoute
from tessera.llm.serve._bedrock_agent_routes import ARN_PREFIX
from tessera.llm.serve._http import AdminKey, ServiceState, service

__all__ = ["router"]

router = APIRouter(tags=["bedrock"], route_class=AwsRoute, include_in_schema=False)
_JOBS = "bedrock_customization_jobs"
#: Bedrock's patterns for jobName and customModelName (63 characters at most).
_JOB_NAME = re.compile(r"(?=.{1,63}$)[a-zA-Z0-9](-*[a-zA-Z0-9+.])*")
_MODEL_NAME = re.compile(r"(?=.{1,63}$)([0-9a-zA-Z][_-]?)+")


def _arn(name: str) -> str:
    return f"{ARN_PREFIX}:model-customization-job/{name}"


def _summary(job: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "jobArn": _arn(job.name),
        "jobName": job.name,
        "baseModelArn": f"{ARN_PREFIX}:foundation-model/{job.base}",
        "status": job.status,
        "creationTime": job.created,
        "lastModifiedTime": job.ended or job.created,
        "customModelName": job.request["customModelName"],
        "customizationType": "FINE_TUNING",
    }
    if job.ended:
        out["endTime"] = job.ended
    if job.model:
        out["customModelArn"] = f"{ARN_PREFIX}:custom-model/{job.model}"
    return out


def _jobs(state: ServiceState) -> Any:
    from tessera.llm.serve._bedrock_jobs import JobStore

    found = state.extras.get(_JOBS)
    if found is None:
        found = state.extras.setdefault(_JOBS, JobStore(state.db_path))
    return found


_WHOLE = re.compile(r"[0-9]{1,6}")
_DECIMAL = re.compile(r"[0-9]{0,6}(\.[0-9]{1,12})?")


def _hyper(values: dict[str, Any], name: str, default: str, pattern: re.Pattern[str]) -> str:
    """A hyperparameter as Bedrock sends it: a string of ASCII digits (checked)."""
    value = values.get(name, default)
    text = str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not text or not pattern.fullmatch(text):
        raise InvalidInputError(
            f"hyperParameters.{name}={value!r:.60} is invalid: it must be a number written "
            "in ASCII digits, such as '2' or '0.5'. Fix the value."
        )
    return text


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


def _run(
    store: Any,
    job: Any,
    records: list[Any],
    validation: list[Any] | None,
    params: Any,
) -> None:
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
    except Exception as exc:  # reported by GetModelCustomizationJob
        store.finish(job.name, failure=str(exc)[:2000] or type(exc).__name__)
    else:
        store.finish(job.name, model=registered.spec)


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
    for field_name, value, pattern, rule in (
        ("jobName", name, _JOB_NAME, "letters, digits, + - . (starting with a letter or digit)"),
        ("customModelName", custom, _MODEL_NAME, "letters, digits, _ and - (no two in a row)"),
    ):
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise InvalidInputError(
                f"{field_name}={value!r:.80} is invalid: it must be 1 to 63 {rule}, as Bedrock "
                "names are. Rename it."
            )
    if body.get("customizationType", "FINE_TUNING") != "FINE_TUNING":
        raise InvalidInputError(
            f"customizationType={body.get('customizationType')!r} is invalid: only FINE_TUNING "
            "(LoRA on the CPU) runs locally."
        )
    jobs = _jobs(state)
    if await run_in_threadpool(jobs.get, name) is not None:
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
    if not isinstance(hyper, dict):
        raise InvalidInputError(f"hyperParameters={hyper!r:.80} is invalid: send an object.")
    try:
        params = TuneParams(
            epoch_count=int(_hyper(hyper, "epochCount", "2", _WHOLE)),
            batch_size=int(_hyper(hyper, "batchSize", "8", _WHOLE)),
            learning_rate_multiplier=float(
                _hyper(hyper, "learningRateMultiplier", "1.0", _DECIMAL)
            ),
        )
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"hyperParameters={hyper!r:.200} is invalid: {exc}") from None
    if not await run_in_threadpool(jobs.create, str(name), body, base):
        raise AwsError(409, "ConflictException", f"jobName={name!r} exists already: pick another.")
    job = await run_in_threadpool(jobs.get, str(name))
    thread = threading.Thread(
        target=_run,
        args=(jobs, job, training, validation, params),
        name=f"tessera-tune-{job.name}",
        daemon=True,
    )
    thread.start()
    return JSONResponse({"jobArn": _arn(job.name)}, status_code=201)


async def _job(state: ServiceState, identifier: str) -> Any:
    name = identifier.rsplit("model-customization-job/", 1)[-1]
    found = await run_in_threadpool(_jobs(state).get, name)
    if found is None:
        raise NotFoundError(f"jobIdentifier={identifier!r} is invalid: no such job on this server.")
    return found


@router.get("/model-customization-jobs/{identifier:path}", summary="GetModelCustomizationJob")
async def get_job(identifier: str, request: Request, _key: AdminKey) -> Any:
    """Scope ``admin``."""
    job = await _job(service(request), identifier)
    request_body = job.request
    answer: dict[str, Any] = {
        "jobArn": _arn(job.name),
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
    """Scope ``admin``. Every job in the database, oldest first."""
    jobs = await run_in_threadpool(_jobs(service(request)).jobs)
    summaries = [_summary(job) for job in jobs if statusEquals in (None, job.status)]
    return {"modelCustomizationJobSummaries": summaries}
