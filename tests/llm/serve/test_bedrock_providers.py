"""InvokeModel in every provider's body format, picked by model id, through boto3 (issue 23).

The same conversation, written in each provider's format, must get the answer Converse
gives (greedy decoding on one local model): a metamorphic check of every request reader,
and the streamed pieces must join to the unstreamed answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

boto3 = pytest.importorskip("boto3")
pytest.importorskip("cryptography")

from botocore.config import Config  # noqa: E402
from serve_live import Live, start_live  # noqa: E402

from tessera.llm.bedrock._providers import prompt_turns, provider_for  # noqa: E402
from tessera.llm.serve import RateLimit  # noqa: E402
from tessera.llm.serve._aws_credentials import AwsCredentialStore  # noqa: E402

LLAMA = "meta.llama3-8b-instruct-v1:0"
MISTRAL = "mistral.mistral-7b-instruct-v0:2"
TITAN = "amazon.titan-text-express-v1"
NOVA = "us.amazon.nova-lite-v1:0"
COMMAND_R = "cohere.command-r-v1:0"
COMMAND = "cohere.command-text-v14"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
IDS = (LLAMA, MISTRAL, TITAN, NOVA, COMMAND_R, COMMAND, HAIKU)

#: model id -> (body with a system prompt or None, body without, the answer's text, a
#: stream chunk's text)
Case = tuple[Any, dict[str, Any], Callable[[Any], str], Callable[[Any], str]]
CASES: dict[str, Case] = {
    LLAMA: (
        {
            "prompt": "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief."
            "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
            "max_gen_len": 6,
            "temperature": 0,
        },
        {"prompt": "Hi", "max_gen_len": 6, "temperature": 0},
        lambda body: body["generation"],
        lambda chunk: chunk["generation"],
    ),
    MISTRAL: (
        {
            "prompt": "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]",
            "max_tokens": 6,
            "temperature": 0,
        },
        {"prompt": "<s>[INST] Hi [/INST]", "max_tokens": 6, "temperature": 0.0},
        lambda body: body["outputs"][0]["text"],
        lambda chunk: chunk["outputs"][0]["text"],
    ),
    TITAN: (
        None,
        {
            "inputText": "User: Hi\nBot:",
            "textGenerationConfig": {"maxTokenCount": 6, "temperature": 0},
        },
        lambda body: body["results"][0]["outputText"],
        lambda chunk: chunk["outputText"],
    ),
    NOVA: (
        {
            "schemaVersion": "messages-v1",
            "system": [{"text": "Be brief."}],
            "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
            "inferenceConfig": {"max_new_tokens": 6, "temperature": 0},
        },
        {
            "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
            "inferenceConfig": {"maxTokens": 6, "temperature": 0},
        },
        lambda body: body["output"]["message"]["content"][0]["text"],
        lambda chunk: chunk.get("contentBlockDelta", {}).get("delta", {}).get("text", ""),
    ),
    COMMAND_R: (
        {"preamble": "Be brief.", "message": "Hi", "max_tokens": 6, "temperature": 0},
        {"message": "Hi", "chat_history": [], "max_tokens": 6, "temperature": 0},
        lambda body: body["text"],
        lambda chunk: chunk.get("text", ""),
    ),
    COMMAND: (
        None,
        {"prompt": "Hi", "max_tokens": 6, "temperature": 0},
        lambda body: body["generations"][0]["text"],
        lambda chunk: chunk.get("text", ""),
    ),
    HAIKU: (
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 6,
            "system": "Be brief.",
            "messages": [{"role": "user", "content": "Hi"}],
        },
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 6,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        },
        lambda body: body["content"][0]["text"],
        lambda chunk: chunk.get("delta", {}).get("text", ""),
    ),
}


@pytest.fixture(scope="module")
def providers_live(tmp_path_factory: pytest.TempPathFactory, tiny_llama: Any) -> Iterator[Live]:
    db = tmp_path_factory.mktemp("bedrock-providers") / "tessera.db"
    model = f"tessera:{tiny_llama.folder}"
    yield from start_live(
        db,
        models=(model,),
        rate_limit=RateLimit(1000, burst=1000),
        bedrock_models={model_id: model for model_id in IDS},
        max_body_bytes=64_000,
    )


@pytest.fixture(scope="module")
def runtime(providers_live: Live) -> Any:
    store = AwsCredentialStore(providers_live.db)
    try:
        creds = store.issue(providers_live.key_ids["models:invoke"])
    finally:
        store.close()
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=providers_live.url,
        region_name="us-east-1",
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        config=Config(retries={"total_max_attempts": 1}, read_timeout=120),
    )


def _converse(runtime: Any, system: bool) -> str:
    answer = runtime.converse(
        modelId=HAIKU,
        messages=[{"role": "user", "content": [{"text": "Hi"}]}],
        inferenceConfig={"maxTokens": 6, "temperature": 0},
        **({"system": [{"text": "Be brief."}]} if system else {}),
    )
    text: str = answer["output"]["message"]["content"][0]["text"]
    return text


@pytest.mark.parametrize("model_id", IDS)
def test_each_provider_body_gets_the_converse_answer(runtime: Any, model_id: str) -> None:
    with_system, plain, text_of, piece_of = CASES[model_id]
    for body, system in ((with_system, True), (plain, False)):
        if body is None:
            continue
        response = runtime.invoke_model(
            modelId=model_id, body=json.dumps(body), contentType="application/json"
        )
        answer = json.loads(response["body"].read())
        assert text_of(answer) == _converse(runtime, system), (model_id, answer)
        streamed = runtime.invoke_model_with_response_stream(
            modelId=model_id, body=json.dumps(body)
        )
        chunks = [json.loads(event["chunk"]["bytes"]) for event in streamed["body"]]
        assert "".join(piece_of(c) for c in chunks) == text_of(answer)
        metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
        assert metrics["outputTokenCount"] >= 1


def test_answers_have_the_provider_shape(runtime: Any) -> None:
    def invoke(model_id: str, body: dict[str, Any]) -> Any:
        response = runtime.invoke_model(modelId=model_id, body=json.dumps(body))
        return json.loads(response["body"].read())

    llama = invoke(LLAMA, CASES[LLAMA][1])
    assert set(llama) == {
        "generation",
        "prompt_token_count",
        "generation_token_count",
        "stop_reason",
    }
    assert llama["stop_reason"] in ("stop", "length") and llama["generation_token_count"] <= 6
    titan = invoke(TITAN, CASES[TITAN][1])
    assert titan["results"][0]["completionReason"] in ("FINISH", "LENGTH")
    assert titan["inputTextTokenCount"] >= 1
    nova = invoke(NOVA, CASES[NOVA][1])
    assert nova["stopReason"] in ("end_turn", "max_tokens")
    assert (
        nova["usage"]["totalTokens"] == nova["usage"]["inputTokens"] + nova["usage"]["outputTokens"]
    )
    command = invoke(COMMAND_R, CASES[COMMAND_R][1])
    assert command["finish_reason"] in ("COMPLETE", "MAX_TOKENS")
    # A stop at the token budget reads as the provider's "length".
    short = invoke(MISTRAL, {**CASES[MISTRAL][1], "max_tokens": 1})
    assert short["outputs"][0]["stop_reason"] == "length"


@pytest.mark.parametrize(
    ("model_id", "body", "field"),
    [
        (LLAMA, {"prompt": 5}, "prompt"),
        (LLAMA, {"prompt": "Hi", "max_gen_len": 10**400}, "max_gen_len"),
        (LLAMA, {"prompt": "Hi", "images": ["..."]}, "images"),
        (MISTRAL, {"prompt": ""}, "prompt"),
        (MISTRAL, {"prompt": "Hi", "temperature": "hot"}, "temperature"),
        (
            TITAN,
            {"inputText": "Hi", "textGenerationConfig": {"topP": 7}},
            "textGenerationConfig.topP",
        ),
        (TITAN, {"inputText": "Hi", "textGenerationConfig": []}, "textGenerationConfig"),
        (
            NOVA,
            {"messages": [{"role": "user", "content": [{"image": {}}]}]},
            "messages[0].content[0].image",
        ),
        (NOVA, {"schemaVersion": "messages-v2", "messages": []}, "schemaVersion"),
        (
            NOVA,
            {
                "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
                "inferenceConfig": {"max_new_tokens": -1},
            },
            "inferenceConfig.max_new_tokens",
        ),
        (
            COMMAND_R,
            {"message": "Hi", "chat_history": [{"role": "BOT", "message": "x"}]},
            "chat_history[0].role",
        ),
        (COMMAND_R, {"message": "\u202e\u0000\U0001f600", "k": 1.5}, "k"),
        (COMMAND, {"prompt": "Hi", "num_generations": 3}, "num_generations"),
        (
            HAIKU,
            {
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 1e308,
                "messages": [{"role": "user", "content": "x"}],
            },
            "max_tokens",
        ),
    ],
)
def test_bad_bodies_are_validation_errors_naming_the_field(
    runtime: Any, model_id: str, body: Any, field: str
) -> None:
    with pytest.raises(runtime.exceptions.ValidationException) as caught:
        runtime.invoke_model(modelId=model_id, body=json.dumps(body))
    assert field in caught.value.response["Error"]["Message"]


def test_hostile_bodies_never_get_a_5xx(runtime: Any) -> None:
    from botocore.exceptions import ClientError

    hostile = [
        b'{"prompt": "\\ud800"}',  # a lone surrogate
        b"[" * 5000 + b"]" * 5000,  # nesting
        b'{"prompt": "' + b"x" * 70_000 + b'"}',  # past the body limit
        b"\xff\xfe not json",
        json.dumps({"prompt": "\U0001f600" * 2000, "max_gen_len": 2}).encode(),
    ]
    for model_id in IDS:
        for body in hostile:
            try:
                runtime.invoke_model(modelId=model_id, body=body)
            except ClientError as exc:
                status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
                assert 400 <= status < 500, (model_id, body[:40], status)


def test_provider_is_picked_by_model_id_through_profiles_and_arns() -> None:
    assert provider_for("us.meta.llama3-2-1b-instruct-v1:0").name == "meta"
    arn = "arn:aws:bedrock:us-east-1::foundation-model/mistral.mixtral-8x7b-instruct-v0:1"
    assert provider_for(arn).name == "mistral"
    assert provider_for("amazon.titan-text-lite-v1").name == "titan"
    assert provider_for("eu.amazon.nova-pro-v1:0").name == "nova"
    assert provider_for("cohere.command-light-text-v14").name == "cohere-command"
    assert provider_for("cohere.command-r-plus-v1:0").name == "cohere"
    assert provider_for("tessera").name == "anthropic"  # a served id: the Anthropic body


def test_raw_prompts_are_read_back_into_turns() -> None:
    llama2 = (
        "<s>[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nHello [/INST] Hi there </s><s>[INST] Bye [/INST]"
    )
    assert prompt_turns(llama2) == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi there"},
        {"role": "user", "content": "Bye"},
    ]
    llama3 = (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nA<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nB<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nC<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    assert [t["content"] for t in prompt_turns(llama3)] == ["A", "B", "C"]
    assert prompt_turns("just text [INST") == [{"role": "user", "content": "just text [INST"}]


_TEXT = (
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="<|[]"),
        min_size=1,
        max_size=40,
    )
    .map(str.strip)
    .filter(bool)
)


@settings(max_examples=60, deadline=None)
@given(
    system=st.one_of(st.none(), _TEXT),
    turns=st.lists(_TEXT, min_size=1, max_size=6).filter(lambda t: len(t) % 2 == 1),
)
def test_templated_prompts_give_back_their_turns(system: str | None, turns: list[str]) -> None:
    """Property: a conversation written in Llama 3's or Llama 2's template reads back as is."""
    roles = ["user" if i % 2 == 0 else "assistant" for i in range(len(turns))]
    expected = ([{"role": "system", "content": system}] if system else []) + [
        {"role": r, "content": t} for r, t in zip(roles, turns, strict=True)
    ]
    llama3 = "<|begin_of_text|>" + "".join(
        f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content']}<|eot_id|>"
        for m in expected
    )
    llama3 += "<|start_header_id|>assistant<|end_header_id|>\n\n"
    assert prompt_turns(llama3) == expected
    llama2 = ""
    for index in range(0, len(turns), 2):
        head = f"<<SYS>>\n{system}\n<</SYS>>\n\n" if system and index == 0 else ""
        llama2 += f"<s>[INST] {head}{turns[index]} [/INST]"
        if index + 1 < len(turns):
            llama2 += f" {turns[index + 1]} </s>"
    assert prompt_turns(llama2) == expected
