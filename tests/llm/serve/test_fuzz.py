"""The whole HTTP API fuzzed from its own OpenAPI document with Schemathesis.

A real server on loopback (the tiny random Llama as its only model, so that chats are
quick) and an admin key, which every route admits. Every operation gets a bounded number
of generated requests, derandomized so that a run is the same run every time: requests
that follow the document, then requests that break it (wrong types, missing fields,
mangled headers). No answer may be a 5xx, and each must match the schema the document
declares for its status; every error status is documented as OpenAI's error object, so
this also checks that every error answers in that shape.

The operations are driven from the test itself (Schemathesis's Python API under
Hypothesis) rather than by its pytest plugin, whose lazy loading from a fixture does not
run on pytest 9.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

# Imported at collection, not lazily by from_url inside the test: CPython 3.11's parser
# can fail on the modules it pulls in when deep in the test's stack, under pytest's
# assertion rewriting ("AST constructor recursion depth mismatch").
from schemathesis.specs.openapi.schemas import OpenApiSchema  # noqa: E402, F401
from serve_live import Live, start_live  # noqa: E402

from tessera.llm.serve import RateLimit  # noqa: E402

#: Generated requests per operation and mode: enough to reach past validation, small
#: enough for CI (about a minute on two cores).
EXAMPLES = {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 6}
#: The most tokens a generated chat may ask for: the tiny model answers a few in no time.
MAX_TOKENS = 4


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory, tiny_llama: Any) -> Iterator[Live]:
    """Its own server: the fuzzer creates and deletes what it likes there."""
    db = tmp_path_factory.mktemp("fuzz") / "tessera.db"
    yield from start_live(
        db,
        models=(f"tessera:{tiny_llama.folder}",),
        rate_limit=RateLimit(100_000, burst=100_000),
    )


def _bounded(body: Any) -> Any:
    """A generated chat asks for at most MAX_TOKENS tokens (values beyond any context stay:
    they are refused before any decoding)."""
    if isinstance(body, dict):
        for field in ("max_tokens", "max_completion_tokens"):
            value = body.get(field)
            if isinstance(value, int) and MAX_TOKENS < value <= 1_000_000:
                body[field] = MAX_TOKENS
    return body


@pytest.mark.parametrize("mode", list(EXAMPLES), ids=lambda mode: mode.value)
def test_no_operation_answers_5xx_or_off_schema(fuzzed: Live, mode: GenerationMode) -> None:
    """Every operation of /openapi.json, EXAMPLES[mode] generated requests each."""
    schema = schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json")
    headers = {"Authorization": f"Bearer {fuzzed.keys['admin']}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40  # every route of the service, not a part of it
    failures: list[str] = []
    for operation in operations:

        @settings(
            max_examples=EXAMPLES[mode],
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def call(case: Any) -> None:
            if case.path == "/v1/chat/completions" or case.path.endswith("/run"):
                case.body = _bounded(case.body)
            case.call_and_validate(
                headers=headers, checks=[not_a_server_error, response_schema_conformance]
            )

        try:
            call()
        except Unsatisfiable:  # nothing to break (GET /healthz takes no input)
            assert mode is GenerationMode.NEGATIVE, operation.label
        except Exception as exc:  # every operation runs; the failures are shown together
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
