"""``tessera serve`` (the HTTP service) and ``tessera keys ...`` (its API keys).

Presentation only: the work is done by :mod:`tessera.llm.serve`, imported inside the
commands so that ``tessera --help`` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from tessera.cli._app import DbOption, app, console, edge, err_console

keys_app = typer.Typer(
    name="keys",
    help="API keys of the HTTP service: create (shown once), list, revoke; the audit log.",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")

Database = DbOption


@app.command("serve")
@edge
def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; loopback unless --allow-public.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="A model id chat completions may use (repeat for several; the first is the "
            "default): 'tessera', 'tessera:<folder or .gguf>', '<endpoint>:<model>'.",
            show_default=False,
        ),
    ] = None,
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", help="Largest request body accepted (413 above).")
    ] = 1 << 20,
    rate: Annotated[
        float, typer.Option("--rate", help="Requests per second per key (sustained).")
    ] = 10.0,
    burst: Annotated[int, typer.Option("--burst", help="Requests per key at once.")] = 40,
    allow_code: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-code",
            help="A function flows' Code nodes may call, 'package.module:function', or "
            "'package.module:*' for the public functions defined in that module (not the "
            "names it imports); repeat for several; none by default.",
            show_default=False,
        ),
    ] = None,
    retrieval_root: Annotated[
        list[Path] | None,
        typer.Option(
            "--retrieval-root",
            help="A folder flows' Retrieval nodes may read inside of (repeat for several; "
            "only the shipped knowledge folders by default).",
            show_default=False,
        ),
    ] = None,
    storage_root: Annotated[
        list[Path] | None,
        typer.Option(
            "--storage-root",
            help="A folder flows' Storage nodes may write and read inside of (repeat for "
            "several; none by default, so flows write no files).",
            show_default=False,
        ),
    ] = None,
    guardrail: Annotated[
        str | None,
        typer.Option(
            "--guardrail",
            help="A stored guardrail (NAME@label) checked on every chat completion, whatever "
            "the key (requests may not name another).",
            show_default=False,
        ),
    ] = None,
    allow_public: Annotated[
        bool,
        typer.Option(
            "--allow-public",
            help="Allow a non-loopback --host (other machines can then reach the service).",
        ),
    ] = False,
    bedrock_model: Annotated[
        list[str] | None,
        typer.Option(
            "--bedrock-model",
            help="BEDROCK_ID=MODEL: answer Bedrock requests for BEDROCK_ID (e.g. "
            "anthropic.claude-3-haiku-20240307-v1:0) with the served MODEL; repeat for several.",
            show_default=False,
        ),
    ] = None,
    tls_cert: Annotated[
        Path | None,
        typer.Option(
            "--tls-cert",
            help="A PEM certificate: serve HTTPS (with --tls-key).",
            show_default=False,
        ),
    ] = None,
    tls_key: Annotated[
        Path | None,
        typer.Option("--tls-key", help="The certificate's PEM private key.", show_default=False),
    ] = None,
    bedrock_bindings: Annotated[
        Path | None,
        typer.Option(
            "--bedrock-bindings",
            help="A bindings file for Bedrock flows: knowledge bases, S3 buckets and Lambda "
            "functions mapped to local folders and allow-listed functions.",
            show_default=False,
        ),
    ] = None,
    db: Database = None,
) -> None:
    """Run the HTTP service: OpenAI-compatible chat completions, prompts, flows."""
    from tessera.llm.serve import RateLimit, check_host, create_app, is_loopback
    from tessera.llm.serve import serve as run

    check_host(host, allow_public=allow_public)
    application = create_app(
        db_path=db,
        models=tuple(model) if model else ("tessera",),
        max_body_bytes=max_body_bytes,
        rate_limit=RateLimit(rate, burst=burst),
        allowed_code=tuple(allow_code or ()),
        retrieval_roots=tuple(retrieval_root or ()),
        storage_roots=tuple(storage_root or ()),
        guardrail=guardrail,
        bedrock_models=_bindings(bedrock_model or ()),
        bedrock_bindings=bedrock_bindings,
    )
    if not is_loopback(host):
        err_console.print(
            f"[bold yellow]warning:[/] serving on {escape(host)}: any machine that can reach "
            "it may try keys. Use TLS (a reverse proxy) and keys with the fewest scopes.",
            highlight=False,
            soft_wrap=True,
        )
    run(
        application,
        host=host,
        port=port,
        allow_public=allow_public,
        tls_cert=tls_cert,
        tls_key=tls_key,
    )


def _bindings(values: list[str] | tuple[str, ...]) -> dict[str, str]:
    from tessera._validation import bad_value

    bound: dict[str, str] = {}
    for value in values:
        bedrock_id, sep, model = value.partition("=")
        if not sep or not bedrock_id or not model:
            raise bad_value(
                "--bedrock-model",
                value,
                "it reads BEDROCK_ID=MODEL",
                "Pass e.g. anthropic.claude-3-haiku-20240307-v1:0=tessera.",
            )
        bound[bedrock_id] = model
    return bound


@keys_app.command("create")
@edge
def create(
    name: Annotated[str, typer.Argument(help="What the key is for, e.g. 'ci-bot'.")],
    scopes: Annotated[
        str,
        typer.Option(
            "--scopes",
            "-s",
            help="Comma-separated: admin, models:invoke, prompts:read, prompts:write, "
            "flows:read, flows:write, flows:invoke, guardrails:read, guardrails:write, "
            "guardrails:apply.",
        ),
    ],
    db: Database = None,
) -> None:
    """Create a key and print it alone on one line; it is never shown again."""
    from tessera.llm.serve import create_key, parse_scopes

    key_id, key = create_key(name, parse_scopes(scopes), path=db)
    err_console.print(
        f"key {key_id} ({escape(name)}) with scopes {escape(scopes)}; store it now, it is "
        "not shown again:",
        highlight=False,
        soft_wrap=True,
    )
    print(key)


@keys_app.command("aws")
@edge
def aws(
    key_id: Annotated[str, typer.Argument(help="The key's id (the part after tsk_).")],
    db: Database = None,
) -> None:
    """Issue AWS credentials (SigV4, for boto3) that carry the key's scopes.

    Prints the access key id and the secret as AWS environment variables; the secret is
    stored encrypted and never shown again.
    """
    from tessera.llm.serve._aws_credentials import issue_aws_credentials

    issued = issue_aws_credentials(key_id, path=db)
    err_console.print(
        f"AWS credentials for key {key_id}; store the secret now, it is not shown again:",
        highlight=False,
        soft_wrap=True,
    )
    print(f"AWS_ACCESS_KEY_ID={issued.access_key_id}")
    print(f"AWS_SECRET_ACCESS_KEY={issued.secret_access_key}")


@keys_app.command("aws-list")
@edge
def aws_list(
    key_id: Annotated[
        str | None, typer.Argument(help="Only this key's credentials.", show_default=False)
    ] = None,
    db: Database = None,
) -> None:
    """List issued AWS credentials: access key id and API key (never the secrets)."""
    from tessera.llm.serve._aws_credentials import AwsCredentialStore

    store = AwsCredentialStore(db)
    try:
        issued = store.list(key_id)
    finally:
        store.close()
    table = Table("access key id", "key")
    for credentials in issued:
        table.add_row(credentials.access_key_id, credentials.key_id)
    console.print(table)


@keys_app.command("aws-revoke")
@edge
def aws_revoke(
    access_key_id: Annotated[str, typer.Argument(help="The access key id (TSKA...).")],
    db: Database = None,
) -> None:
    """Delete AWS credentials: requests signed with them fail from now on."""
    from tessera.llm.serve._aws_credentials import AwsCredentialStore

    store = AwsCredentialStore(db)
    try:
        store.delete(access_key_id)
    finally:
        store.close()
    console.print(f"revoked AWS credentials {escape(access_key_id)}", highlight=False)


@keys_app.command("list")
@edge
def list_(db: Database = None) -> None:
    """List the keys (never their secrets)."""
    from tessera.llm.serve import list_keys

    records = list_keys(path=db)
    if not records:
        console.print("no keys yet: create one with `tessera keys create NAME --scopes ...`")
        return
    table = Table("id", "name", "scopes", "created", "revoked")
    for record in records:
        table.add_row(
            record.id,
            escape(record.name),
            " ".join(record.scopes),
            record.created_at[:19],
            (record.revoked_at or "")[:19],
        )
    console.print(table)


@keys_app.command("revoke")
@edge
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (the part after tsk_).")],
    db: Database = None,
) -> None:
    """Revoke a key: requests with it fail from now on."""
    from tessera.llm.serve import revoke_key

    record = revoke_key(key_id, path=db)
    console.print(f"revoked key {record.id} ({escape(record.name)}) at {record.revoked_at}")


@keys_app.command("audit")
@edge
def audit(
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many entries.")] = 20,
    key_id: Annotated[
        str | None, typer.Option("--key", help="Only this key's entries.", show_default=False)
    ] = None,
    db: Database = None,
) -> None:
    """The newest audit-log entries: every write, who made it and how it ended."""
    from tessera.llm.serve import AuditLog

    log = AuditLog(db)
    try:
        entries = log.entries(limit=limit, key_id=key_id)
    finally:
        log.close()
    table = Table("id", "at", "key", "who", "method", "path", "status", "client")
    for e in entries:
        table.add_row(
            str(e.id),
            e.at[:19],
            e.key_id or "",
            escape(e.key_name or ""),
            e.method,
            escape(e.path),
            str(e.status),
            e.client or "",
        )
    console.print(table)
