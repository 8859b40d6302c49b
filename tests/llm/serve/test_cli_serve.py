"""``tessera keys ...`` through CliRunner, and ``tessera serve`` as a real process."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tessera.cli import _serve  # noqa: F401  (registers the commands on the app)
from tessera.cli._app import app
from tessera.llm.serve import authenticate, list_keys

runner = CliRunner()
KEY = re.compile(r"^tsk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$")


def test_keys_create_list_revoke_audit(tmp_path: Path) -> None:
    db = str(tmp_path / "tessera.db")
    made = runner.invoke(app, ["keys", "create", "ci bot", "--scopes", "prompts:read", "--db", db])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    assert KEY.match(key), made.stdout  # the key alone on stdout
    assert "not shown again" in made.stderr and key not in made.stderr
    key_id = key.split("_")[1]
    assert authenticate(key, path=db).scopes == ("prompts:read",)

    listed = runner.invoke(app, ["keys", "list", "--db", db])
    assert listed.exit_code == 0 and key_id in listed.stdout and "ci bot" in listed.stdout
    assert key.split("_", 2)[2] not in listed.stdout

    revoked = runner.invoke(app, ["keys", "revoke", key_id, "--db", db])
    assert revoked.exit_code == 0 and f"revoked key {key_id}" in revoked.stdout
    assert list_keys(path=db)[0].revoked_at is not None

    audit = runner.invoke(app, ["keys", "audit", "--db", db])
    assert audit.exit_code == 0 and "DELETE" in audit.stdout and "POST" in audit.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["keys", "create", "x", "--scopes", "prompts:reed"], "unknown scope(s) ['prompts:reed']"),
        (["keys", "revoke", "000000000000"], "no such API key"),
        (["serve", "--host", "0.0.0.0"], "--allow-public"),
        (["serve", "--rate", "0"], "per_second=0.0 is invalid"),
    ],
)
def test_bad_input_is_one_red_line(tmp_path: Path, args: list[str], says: str) -> None:
    result = runner.invoke(app, [*args, "--db", str(tmp_path / "tessera.db")])
    assert result.exit_code == 1
    assert says in " ".join(result.stderr.split()) and "Traceback" not in result.output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_tessera_serve_runs_and_stops_on_ctrl_c(tmp_path: Path, tiny_llama: Any) -> None:
    db = str(tmp_path / "tessera.db")
    key = runner.invoke(app, ["keys", "create", "t", "--scopes", "models:invoke", "--db", db])
    key = key.stdout.strip()
    port = _free_port()
    model = f"tessera:{tiny_llama.folder}"
    tessera = Path(sys.executable).with_name("tessera")
    command = [str(tessera), "serve", "--port", str(port), "--db", db, "--model", model]
    env = {**os.environ, "TESSERA_HOME": str(tmp_path)}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[0]
                assert time.monotonic() < deadline, "tessera serve did not start in 60 s"
                time.sleep(0.2)
        models = httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {key}"})
        assert [m["id"] for m in models.json()["data"]] == [model]
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal: 130 is Ctrl-C's status.
    assert process.returncode in (0, 130), output
    assert "Finished server process" in output and "Traceback" not in output
    assert "GET /v1/models" in output  # uvicorn's access log...
    assert key.split("_", 2)[2] not in output  # ...without the key
