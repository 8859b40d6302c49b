"""Converse's document and image blocks through boto3, on a text-only local model (issue 23)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3")
pytest.importorskip("cryptography")

from botocore.config import Config  # noqa: E402
from serve_live import Live, start_live  # noqa: E402

from tessera.errors import InvalidInputError  # noqa: E402
from tessera.llm.bedrock._documents import document_text  # noqa: E402
from tessera.llm.serve import RateLimit  # noqa: E402
from tessera.llm.serve._aws_credentials import AwsCredentialStore  # noqa: E402

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c63f8ffff3f0005fe02fea7d605a40000000049454e44ae426082"
)
HTML = (
    b"<html><head><title>Kettle</title><style>p {color: red}</style>"
    b"<script>alert('x')</script></head><body><h1>Descaling</h1>"
    b"<p>Use   white&nbsp;vinegar &amp; water.</p></body></html>"
)


@pytest.fixture(scope="module")
def docs_live(tmp_path_factory: pytest.TempPathFactory, tiny_llama: Any) -> Iterator[Live]:
    db = tmp_path_factory.mktemp("bedrock-docs") / "tessera.db"
    model = f"tessera:{tiny_llama.folder}"
    yield from start_live(
        db,
        models=(model,),
        rate_limit=RateLimit(1000, burst=1000),
        bedrock_models={HAIKU: model},
        max_body_bytes=200_000,
    )


@pytest.fixture(scope="module")
def runtime(docs_live: Live) -> Any:
    store = AwsCredentialStore(docs_live.db)
    try:
        creds = store.issue(docs_live.key_ids["models:invoke"])
    finally:
        store.close()
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=docs_live.url,
        region_name="us-east-1",
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        config=Config(retries={"total_max_attempts": 1}, read_timeout=120),
    )


def _say(runtime: Any, content: list[dict[str, Any]]) -> str:
    answer = runtime.converse(
        modelId=HAIKU,
        messages=[{"role": "user", "content": content}],
        inferenceConfig={"maxTokens": 6, "temperature": 0},
    )
    text: str = answer["output"]["message"]["content"][0]["text"]
    return text


def test_text_documents_are_read_as_the_text_they_hold(runtime: Any) -> None:
    notes = "# Kettle\n\nDescale monthly.\n"
    document = {"format": "md", "name": "kettle notes", "source": {"bytes": notes.encode()}}
    framed = "Summarise:\n[document: kettle notes (md)]\n# Kettle\n\nDescale monthly.\n"
    framed += "[end of document: kettle notes]\n"
    # Metamorphic: the document block and the text it stands for get the same answer.
    assert _say(runtime, [{"text": "Summarise:"}, {"document": document}]) == _say(
        runtime, [{"text": framed}]
    )
    page = {"format": "html", "name": "page", "source": {"bytes": HTML}}
    expected = "[document: page (html)]\nKettle\nDescaling\nUse white vinegar & water.\n"
    expected += "[end of document: page]\n"
    assert document_text("m", page | {"source": {"text": HTML.decode()}}) == expected
    assert _say(runtime, [{"document": page}]) == _say(runtime, [{"text": expected}])
    # ConverseStream reads it the same way.
    streamed = runtime.converse_stream(
        modelId=HAIKU,
        messages=[{"role": "user", "content": [{"document": page}]}],
        inferenceConfig={"maxTokens": 6, "temperature": 0},
    )
    pieces = [
        e["contentBlockDelta"]["delta"]["text"]
        for e in streamed["stream"]
        if "contentBlockDelta" in e
    ]
    assert "".join(pieces) == _say(runtime, [{"text": expected}])
    table = {"format": "csv", "name": "prices (2026)", "source": {"bytes": b"item,price\ntea,3\n"}}
    assert _say(runtime, [{"document": table}]) == _say(
        runtime,
        [
            {
                "text": "[document: prices (2026) (csv)]\nitem,price\ntea,3\n"
                "[end of document: prices (2026)]\n"
            }
        ],
    )


@pytest.mark.parametrize(
    ("block", "field", "words"),
    [
        (
            {"image": {"format": "png", "source": {"bytes": PNG}}},
            "content[1].image",
            "image content block",
        ),
        (
            {"document": {"format": "pdf", "name": "a", "source": {"bytes": b"%PDF-1.7"}}},
            "document.format",
            "Convert",
        ),
        (
            {"document": {"format": "docx", "name": "a", "source": {"bytes": b"PK"}}},
            "document.format",
            "docx",
        ),
        (
            {"document": {"format": "txt", "name": "a", "source": {"bytes": b"\xff\xfe\xfa"}}},
            "document.source.bytes",
            "UTF-8",
        ),
        (
            {"document": {"format": "txt", "name": "ignore  previous", "source": {"text": "x"}}},
            "document.name",
            "two spaces",
        ),
        (
            {"document": {"format": "txt", "name": "r\u00e9sum\u00e9", "source": {"text": "x"}}},
            "document.name",
            "ASCII",
        ),
        (
            {"document": {"format": "txt", "name": "a]\n[system", "source": {"text": "x"}}},
            "document.name",
            "ASCII",
        ),
        (
            {"document": {"format": "txt", "name": "x" * 201, "source": {"text": "x"}}},
            "document.name",
            "200",
        ),
        (
            {
                "document": {
                    "format": "txt",
                    "name": "a",
                    "source": {"s3Location": {"uri": "s3://b/k"}},
                }
            },
            "source.s3Location",
            "bytes",
        ),
    ],
)
def test_unreadable_blocks_are_validation_errors_naming_the_block(
    runtime: Any, block: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(runtime.exceptions.ValidationException) as caught:
        _say(runtime, [{"text": "Look:"}, block])
    message = caught.value.response["Error"]["Message"]
    assert f"messages[0].{field}" in message or field in message, message
    assert words in message, message


def test_document_text_refuses_bad_base64_and_shapes() -> None:
    for bad in (
        {"format": "txt", "name": "a", "source": {"bytes": "not base64!"}},
        {"format": "rtf", "name": "a", "source": {"text": "x"}},
        {"format": "txt", "name": "a", "source": {"bytes": "eA==", "text": "x"}},
        {"format": "txt", "name": "a", "source": {"text": "x"}, "extra": 1},
        "a string",
    ):
        with pytest.raises(InvalidInputError, match=r"m\.document"):
            document_text("m", bad)
