"""Bedrock API keys (bearer tokens) over TLS: boto3 sends them only over HTTPS (issue 23)."""

from __future__ import annotations

import datetime as dt
import gc
import ipaddress
from pathlib import Path
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3")
pytest.importorskip("cryptography")

from botocore.config import Config  # noqa: E402
from serve_live import make_keys  # noqa: E402

from tessera.errors import InvalidInputError  # noqa: E402
from tessera.llm.serve import RateLimit, create_app, start_server  # noqa: E402


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1 (the test's own CA)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_a_tessera_key_works_as_a_bedrock_api_key_over_tls(
    tmp_path: Path, tiny_llama: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "tessera.db"
    keys, _ = make_keys(db, ("models:invoke",))
    model = f"tessera:{tiny_llama.folder}"
    app = create_app(db_path=db, models=(model,), rate_limit=RateLimit(1000, burst=1000))
    cert, key = self_signed(tmp_path)
    server = start_server(app, tls_cert=cert, tls_key=key)
    try:
        assert server.url.startswith("https://")
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", keys["models:invoke"])
        runtime = boto3.client(
            "bedrock-runtime",
            endpoint_url=server.url,
            region_name="us-east-1",
            verify=str(cert),
            config=Config(retries={"total_max_attempts": 1}),
        )
        answer = runtime.converse(
            modelId=model,
            messages=[{"role": "user", "content": [{"text": "Hi"}]}],
            inferenceConfig={"maxTokens": 2},
        )
        assert answer["usage"]["outputTokens"] <= 2
        monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "tsk_000000000000_" + "x" * 43)
        wrong = boto3.client(
            "bedrock-runtime",
            endpoint_url=server.url,
            region_name="us-east-1",
            verify=str(cert),
            config=Config(retries={"total_max_attempts": 1}),
        )
        with pytest.raises(wrong.exceptions.ClientError) as caught:
            wrong.converse(modelId=model, messages=[{"role": "user", "content": [{"text": "Hi"}]}])
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        # Open keep-alive TLS connections would hold the server's graceful shutdown (asyncio
        # waits up to 30 s for a close_notify): close the clients' pools first.
        runtime.close()
        wrong.close()
        del runtime, wrong, caught
        gc.collect()
    finally:
        server.stop()


def test_tls_needs_both_files(tmp_path: Path) -> None:
    app = create_app(db_path=tmp_path / "t.db", models=("tessera",))
    with pytest.raises(InvalidInputError, match="tls_key"):
        start_server(app, tls_cert=tmp_path / "cert.pem")
