"""Presigned (query-string) SigV4 URLs made by botocore's own presigner (issue 23)."""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3")
pytest.importorskip("cryptography")

from botocore.config import Config  # noqa: E402
from serve_live import Live, start_live  # noqa: E402

from tessera.llm.serve import RateLimit  # noqa: E402
from tessera.llm.serve._aws_credentials import AwsCredentialStore  # noqa: E402

DATA = Path(__file__).parents[1] / "bedrock" / "data"
ROLE = "arn:aws:iam::123456789012:role/flows"


@pytest.fixture(scope="module")
def presign_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    db = tmp_path_factory.mktemp("bedrock-presign") / "tessera.db"
    yield from start_live(db, models=("tessera",), rate_limit=RateLimit(1000, burst=1000))


@pytest.fixture(scope="module")
def agent(presign_live: Live) -> Any:
    store = AwsCredentialStore(presign_live.db)
    try:
        creds = store.issue(presign_live.key_ids["admin"])
    finally:
        store.close()
    client = boto3.client(
        "bedrock-agent",
        endpoint_url=presign_live.url,
        region_name="us-east-1",
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        config=Config(retries={"total_max_attempts": 1}),
    )
    source = json.loads((DATA / "flow_condition.json").read_text(encoding="utf-8"))
    client.create_flow(name=source["name"], executionRoleArn=ROLE, definition=source["definition"])
    return client


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refused:
        with refused:
            return refused.code, (
                refused.headers.get("x-amzn-ErrorType"),
                json.loads(refused.read()).get("message", ""),
            )


def test_a_presigned_get_works_until_it_expires(agent: Any) -> None:
    url = agent.generate_presigned_url(
        "get_flow", Params={"flowIdentifier": "PriceCheck"}, ExpiresIn=2
    )
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=2" in url
    status, body = _get(url)
    assert status == 200 and body["id"] == "PriceCheck"
    assert _get(url)[0] == 200  # usable again within its lifetime, as on AWS
    time.sleep(3.1)  # X-Amz-Expires is whole seconds; wait past it
    status, (code, message) = _get(url)
    assert (status, code) == (403, "InvalidSignatureException")
    assert "Request has expired" in message and "Presign it again" in message


def test_a_tampered_or_malformed_presigned_url_is_refused(agent: Any) -> None:
    url = agent.generate_presigned_url("list_flows", Params={"maxResults": 5}, ExpiresIn=300)
    assert _get(url)[0] == 200
    # Another parameter value, an extra parameter, another path: the signature breaks.
    for tampered in (
        url.replace("maxResults=5", "maxResults=50"),
        url + "&nextToken=abc",
        url.replace("/flows/", "/prompts/"),
    ):
        status, (code, _) = _get(tampered)
        assert (status, code) == (403, "InvalidSignatureException"), tampered
    parts = urllib.parse.urlsplit(url)
    pairs = urllib.parse.parse_qsl(parts.query)

    def rebuilt(changed: dict[str, str], drop: str = "") -> str:
        query = [(k, changed.get(k, v)) for k, v in pairs if k != drop]
        return parts._replace(query=urllib.parse.urlencode(query)).geturl()

    refusals = [
        (rebuilt({"X-Amz-Expires": "604801"}), 400, "7 days"),
        (rebuilt({"X-Amz-Expires": "-5"}), 400, "X-Amz-Expires"),
        (rebuilt({"X-Amz-Expires": "9" * 400}), 400, "X-Amz-Expires"),
        (rebuilt({"X-Amz-Expires": "\u0663\u0660"}), 400, "X-Amz-Expires"),  # Arabic-Indic 30
        (rebuilt({}, drop="X-Amz-Date"), 400, "X-Amz-Date"),
        (rebuilt({"X-Amz-Date": "20261301T000000Z"}), 400, "X-Amz-Date"),
        (rebuilt({"X-Amz-Algorithm": "AWS4-HMAC-SHA1"}), 400, "X-Amz-Algorithm"),
        (rebuilt({"X-Amz-Signature": "0" * 64}), 403, "does not match"),
        (rebuilt({"X-Amz-Signature": "\u202e" * 64}), 400, "Signature"),
        (url + "&X-Amz-Signature=" + "0" * 64, 400, "twice"),
    ]
    for bad, status_wanted, words in refusals:
        status, (_, message) = _get(bad)
        assert status == status_wanted and words in message, (bad, status, message)


def test_a_presigned_url_for_another_service_or_from_the_future_is_refused(
    agent: Any, presign_live: Live
) -> None:
    store = AwsCredentialStore(presign_live.db)
    try:
        creds = store.issue(presign_live.key_ids["admin"])
    finally:
        store.close()
    session = boto3.session.Session(
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        region_name="us-east-1",
    )
    s3 = session.client(
        "s3", endpoint_url=presign_live.url, config=Config(signature_version="s3v4")
    )
    url = s3.generate_presigned_url("list_buckets", ExpiresIn=60)
    status, (code, message) = _get(url)
    assert (status, code) == (403, "InvalidSignatureException") and "'s3'" in message
    # A URL dated tomorrow (a client clock far ahead) is refused even though it has not
    # "expired".
    future = agent.generate_presigned_url("list_flows", ExpiresIn=60)
    date = urllib.parse.parse_qs(urllib.parse.urlsplit(future).query)["X-Amz-Date"][0]
    stamp = dt.datetime.strptime(date, "%Y%m%dT%H%M%SZ") + dt.timedelta(days=1)
    later = stamp.strftime("%Y%m%dT%H%M%SZ")
    status, (_, message) = _get(future.replace(date, later).replace(date[:8], later[:8]))
    assert status == 403 and "after the server's time" in message
