"""Structured output (issue 19): JSON Schema, grammar and regex constraints while decoding.

Everything runs on the embedded SmolLM2-135M-Instruct with its shipped Medusa heads and
the real engine (llguidance). Checked: bad constraints are refused before decoding with
the argument named; constrained output parses and validates (or ends with finish reason
``length``); greedy Medusa under a constraint is constrained plain greedy byte for byte;
concurrent constrained generations equal their solo runs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("llguidance")
jsonschema = pytest.importorskip("jsonschema")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tessera.errors import InvalidInputError  # noqa: E402

BENCH_PROMPTS = Path(__file__).resolve().parents[2] / "benchmarks/data/structured/prompts.jsonl"

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 30},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "pets": {"type": "array", "items": {"enum": ["cat", "dog", "fish"]}, "maxItems": 2},
    },
    "required": ["name", "age", "pets"],
    "additionalProperties": False,
}


def _cases(count: int) -> list[dict[str, Any]]:
    lines = BENCH_PROMPTS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines[:count]]


@pytest.fixture(scope="module")
def person(default_runtime: Any) -> Any:
    return default_runtime.constraint(json_schema=PERSON)


# -- refused before decoding, naming the argument --------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "name", "words"),
    [
        ({"json_schema": {"type": "foo"}}, "json_schema", "not a valid JSON Schema"),
        ({"json_schema": {"type": "object", "not": {}}}, "json_schema", '"not"'),
        ({"json_schema": "{not json"}, "json_schema", "not JSON"),
        ({"json_schema": 3}, "json_schema", "must be a JSON Schema"),
        ({"regex": "(ab"}, "regex", "does not compile"),
        ({"regex": "[^\\s\\S]"}, "regex", "matches no text"),
        ({"grammar": "start: foo"}, "grammar", "unknown name"),
        ({"grammar": 'start: x\nx: x "a"'}, "grammar", "matches no text"),
        ({"grammar": ""}, "grammar", "non-empty string"),
        ({"regex": "a+", "grammar": 'start: "a"'}, "regex", "only one constraint"),
        # Control characters in a pattern: the engine once wrote backslashes for them.
        (
            {"json_schema": {"type": "string", "pattern": "^[\\u0000-\\u001f]{2}$"}},
            "json_schema",
            "control characters",
        ),
        (
            {"json_schema": {"patternProperties": {"^[\\x00-\\x1f]$": {}}}},
            "json_schema",
            "control characters",
        ),
    ],
)
def test_bad_constraints_are_refused_naming_the_argument(
    default_runtime: Any, kwargs: dict[str, Any], name: str, words: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        default_runtime.generate("Hi", max_new_tokens=4, **kwargs)
    message = str(caught.value)
    assert message.startswith(f"{name}=")
    assert words in message


def test_a_compiled_constraint_and_a_schema_together_are_refused(
    default_runtime: Any, person: Any
) -> None:
    with pytest.raises(InvalidInputError, match="only one constraint"):
        default_runtime.stream("Hi", json_schema=PERSON, constraint=person)
    with pytest.raises(InvalidInputError, match="^constraint="):
        default_runtime.generate("Hi", constraint=PERSON)


# -- the state object the HTTP layer drives --------------------------------------------


def test_constraint_state_masks_consumes_forces_and_rolls_back(default_runtime: Any) -> None:
    tokenizer = default_runtime.tokenizer
    constraint = default_runtime.constraint(regex=r"yes|no")
    state = constraint.start()
    allowed = state.allowed()
    assert allowed.shape == (constraint.vocab_size,)
    allowed_text = {tokenizer.decode([i]) for i in allowed.nonzero()[0]}
    assert "yes" in allowed_text and "no" in allowed_text and "maybe" not in allowed_text
    assert not any(allowed[i] for i in constraint.eos_token_ids)  # nothing matched yet
    assert not state.complete and not state.finished
    (yes,) = tokenizer("yes", add_special_tokens=False)["input_ids"]
    state.consume([yes])
    assert state.complete and state.finished
    assert state.allowed()[constraint.eos_token_ids].all()
    state.rollback(1)
    assert not state.complete and state.consumed == 0
    with pytest.raises(Exception, match="refused"):
        state.consume(tokenizer("maybe", add_special_tokens=False)["input_ids"])

    keys = default_runtime.constraint(json_schema=PERSON).start()
    forced = tokenizer.decode(keys.forced())
    assert forced.startswith('{"name')  # the braces, the first key and its quote
    assert keys.valid_prefix(tokenizer('{"age"', add_special_tokens=False)["input_ids"]) < 3


# -- outputs are valid, finish reasons honest ------------------------------------------


def test_json_schema_output_parses_and_validates(default_runtime: Any, person: Any) -> None:
    result = default_runtime.generate(
        "Describe Bob, 42, who has a cat, as JSON.", constraint=person, max_new_tokens=64
    )
    assert result.finish_reason == "stop"
    jsonschema.validate(result.json(), PERSON)
    person.check_text(result.text)


def test_a_cut_generation_says_length(default_runtime: Any, person: Any) -> None:
    result = default_runtime.generate("Describe Bob as JSON.", constraint=person, max_new_tokens=5)
    assert result.finish_reason == "length"
    assert len(result.token_ids) == 5
    with pytest.raises(InvalidInputError, match="finish_reason='length'"):
        result.json()


def test_regex_and_grammar_outputs_match(default_runtime: Any) -> None:
    pattern = r"\(\d{3}\) \d{3}-\d{4}"
    phone = default_runtime.generate("Invent a phone number.", regex=pattern, max_new_tokens=20)
    assert re.fullmatch(pattern, phone.text) and phone.finish_reason == "stop"
    answer = default_runtime.generate(
        "Is the sky green?", grammar='start: "yes" | "no"', max_new_tokens=8
    )
    assert answer.text in ("yes", "no")
    gbnf = default_runtime.generate(
        "Pick a colour.", grammar='root ::= "red" | "green" | "blue"', max_new_tokens=8
    )
    assert gbnf.text in ("red", "green", "blue")


def test_stream_pieces_join_to_the_generated_text(default_runtime: Any, person: Any) -> None:
    prompt = "Describe Ana, 31, with a dog and a fish, as JSON."
    whole = default_runtime.generate(prompt, constraint=person, max_new_tokens=64)
    stream = default_runtime.stream(prompt, json_schema=PERSON, max_new_tokens=64)
    assert stream.finish_reason is None
    assert "".join(stream) == whole.text
    assert stream.finish_reason == whole.finish_reason == "stop"


def test_sampled_medusa_output_validates(default_runtime: Any, person: Any) -> None:
    for seed in (1, 2):
        result = default_runtime.generate(
            "Invent a person as JSON.",
            constraint=person,
            temperature=0.9,
            seed=seed,
            max_new_tokens=64,
        )
        if result.finish_reason == "stop":
            jsonschema.validate(result.json(), PERSON)


# -- Medusa under a constraint is constrained plain greedy -----------------------------


@pytest.mark.parametrize("case", _cases(6), ids=lambda c: c["id"])
def test_constrained_medusa_greedy_equals_constrained_plain_greedy(
    default_runtime: Any, case: dict[str, Any]
) -> None:
    constraint = default_runtime.constraint(json_schema=case["schema"])
    medusa = default_runtime.generate(case["prompt"], constraint=constraint, max_new_tokens=48)
    plain = default_runtime.generate(
        case["prompt"], constraint=constraint, max_new_tokens=48, medusa=False
    )
    assert medusa.token_ids == plain.token_ids
    assert medusa.finish_reason == plain.finish_reason
    assert medusa.steps < plain.steps  # drafting (forced tokens included) paid off
    if medusa.finish_reason == "stop":
        jsonschema.validate(medusa.json(), case["schema"])


_leaf = st.sampled_from(
    [
        {"type": "string", "maxLength": 12},
        {"type": "integer", "minimum": -50, "maximum": 500},
        {"type": "number"},
        {"type": "boolean"},
        {"enum": ["red", "green", "blue"]},
        {"enum": [1, 2, 3]},
    ]
)
_names = st.sampled_from(["id", "name", "size", "colour", "score", "tags", "owner", "ok"])


def _objects(children: Any) -> Any:
    return st.dictionaries(_names, children, min_size=1, max_size=3).map(
        lambda props: {
            "type": "object",
            "properties": props,
            "required": sorted(props),
            "additionalProperties": False,
        }
    )


_schemas = st.recursive(
    _leaf,
    lambda inner: (
        _objects(inner) | inner.map(lambda items: {"type": "array", "items": items, "maxItems": 2})
    ),
    max_leaves=5,
).filter(lambda schema: schema.get("type") in ("object", "array"))


@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(schema=_schemas)
def test_any_schema_is_valid_or_length_and_medusa_agrees(
    default_runtime: Any, schema: dict[str, Any]
) -> None:
    prompt = "Fill in this JSON Schema with an example: " + json.dumps(schema)
    medusa = default_runtime.generate(prompt, json_schema=schema, max_new_tokens=40)
    plain = default_runtime.generate(prompt, json_schema=schema, max_new_tokens=40, medusa=False)
    assert medusa.text == plain.text
    if medusa.finish_reason == "stop":
        jsonschema.validate(json.loads(medusa.text), schema)
    else:
        assert len(medusa.token_ids) == 40


# -- batched decoding -----------------------------------------------------------------


def test_concurrent_constrained_generations_equal_their_solo_runs(default_runtime: Any) -> None:
    import threading

    from tessera.llm._batching import ForwardBatcher

    runtime = default_runtime
    cases = _cases(9)[6:9]
    jobs: list[dict[str, Any]] = [
        {"prompt": c["prompt"], "json_schema": c["schema"]} for c in cases[:2]
    ] + [{"prompt": "Invent a phone number.", "regex": r"\d{3}-\d{4}"}, {"prompt": "Say hi."}]

    def decode(job: dict[str, Any]) -> list[int]:
        options = {k: v for k, v in job.items() if k != "prompt"}
        steps = runtime.token_stream(job["prompt"], max_new_tokens=40, **options)
        return [token for step in steps for token in step]

    alone = [decode(job) for job in jobs]
    batcher = ForwardBatcher(runtime.model, max_wait=30.0, draft_limit=len(jobs))
    results: list[Any] = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def work(i: int) -> None:
        barrier.wait()
        with batcher.session():
            results[i] = decode(jobs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    finally:
        batcher.close()
    assert results == alone
    assert batcher.rounds < batcher.passes


def test_every_benchmark_schema_is_valid_and_compiles(default_runtime: Any) -> None:
    cases = _cases(1000)
    assert len(cases) >= 24 and len({c["id"] for c in cases}) == len(cases)
    for case in cases:
        jsonschema.validators.validator_for(case["schema"]).check_schema(case["schema"])
        constraint = default_runtime.constraint(json_schema=case["schema"])
        assert constraint.kind == "json_schema" and constraint.source == case["schema"]


_words = st.sampled_from(["yes", "no", "red", "blue", "cat", "dog", "42", "ok"])
_pieces = st.one_of(
    st.lists(_words, min_size=1, max_size=3, unique=True).map(lambda w: "(" + "|".join(w) + ")"),
    st.integers(1, 4).map(lambda n: f"[0-9]{{{n}}}"),
    st.sampled_from(["[a-z]{2,5}", "-", ", ", " ", "[A-Z]"]),
)
_regexes = st.lists(_pieces, min_size=1, max_size=4).map("".join)


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(pattern=_regexes)
def test_any_regex_output_matches_or_says_length(default_runtime: Any, pattern: str) -> None:
    result = default_runtime.generate(
        "Write something that matches " + pattern, regex=pattern, max_new_tokens=24
    )
    if result.finish_reason == "stop":
        assert re.fullmatch(pattern, result.text), (pattern, result.text)
    else:
        assert len(result.token_ids) == 24
