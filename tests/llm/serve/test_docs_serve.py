"""The serve how-to (docs/how-to/serve.md) runs as written, every command, against a real server.

The page is read into steps, in its order:

* each command of a ```bash block (lines ending in ``\\`` joined, whole-line comments skipped);
* each ```python block (those without ``>>>``: doctests are ``tests/test_docs.py``'s), run as
  a script;
* each ```json or ```text block: the expected output of the command just before it. A
  command may also end with its expected answer as a comment (``# {"ref": ...}``).

How the steps run, as a newcomer runs them:

* In a scratch folder (``flow.json`` is written there), with a fresh ``$TESSERA_HOME`` (its
  ``models`` folder shared with the test session's, so the embedded model is converted once),
  the test's ``tessera`` and ``python`` first on ``PATH``, and the environment that the
  commands before exported (``export TESSERA_KEY=$(tessera keys create ...)`` carries on).
* ``tessera serve ...``: the first of a block becomes the page's server from then on (it
  replaces the one before, as "stop it and start it again" does); the block's other
  ``tessera serve`` commands are alternatives, each started, checked (``GET /healthz``, and
  ``GET /v1/models`` lists its ``--model`` ids) and stopped. Every server gets a free
  loopback port for its ``--port``.
* The page's one address is ``http://127.0.0.1:8000`` (the port of its server's command):
  the test writes the real address in its place in every command and script, and fails on
  a command that names ``localhost`` or another ``:8000``.
* Any other command runs in ``bash``. ``curl`` runs with ``--fail-with-body``, so an HTTP
  error fails the step, unless the expected answer is an error object. Where curl is not
  installed (or ``TESSERA_DOCS_CURL=httpx``), a ``curl`` shell function hands the same
  arguments to :func:`curl_with_httpx` below, which translates the options the page uses.

Expected outputs: JSON has the same keys and list lengths, a string holding ``…`` matches
any text there, other strings are equal except the model's text (``content``), and numbers
(ids, times, token counts) are compared by type. In a text block every non-blank line
matches, in order, the next non-blank line of the output (``…`` in a line matches any text;
a line ``…`` alone skips any number of lines).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

PAGE = Path(__file__).resolve().parents[3] / "docs" / "how-to" / "serve.md"
ADDRESS = "127.0.0.1:8000"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
ELLIPSIS = "…"
STEP_TIMEOUT = 300  # seconds; the flow's first run loads the model on a busy 2-core box


@dataclass
class Step:
    """A command or script of the page, and what it must answer."""

    kind: str  # "bash", "serve" or "python"
    text: str
    block: int  # index of its code block: the first serve of a block is the page's server
    expected: tuple[str, Any] | None = None  # ("json", value) or ("text", lines)

    @property
    def expects_error(self) -> bool:
        return (
            self.expected is not None
            and self.expected[0] == "json"
            and isinstance(self.expected[1], dict)
            and "error" in self.expected[1]
        )


def _split_comment(line: str) -> tuple[str, str]:
    """``line`` split at its first ``#`` that bash reads as a comment (outside quotes)."""
    quote = ""
    escaped = False
    for index, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip(), line[index + 1 :].strip()
    return line.rstrip(), ""


def _commands(block: str) -> Iterator[tuple[str, str]]:
    """(command, trailing comment) for each command of a bash block."""
    joined = re.sub(r"\\\n", "", block)
    for line in joined.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        yield _split_comment(line)


def read_steps(page: Path = PAGE) -> list[Step]:
    """The page's commands, scripts and expected outputs, in order."""
    steps: list[Step] = []
    for block_index, match in enumerate(FENCE.finditer(page.read_text(encoding="utf-8"))):
        language, body = match.group(1), match.group(2)
        if language in ("bash", "sh", "shell"):
            for command, comment in _commands(body):
                kind = "serve" if command.split()[:2] == ["tessera", "serve"] else "bash"
                step = Step(kind, command, block_index)
                if comment.startswith("{"):
                    step.expected = ("json", json.loads(comment))
                steps.append(step)
        elif language == "python" and ">>>" not in body:
            steps.append(Step("python", body, block_index))
        elif language in ("json", "text"):
            assert steps, f"the output block {body[:40]!r} follows no command"
            value = json.loads(body) if language == "json" else body.splitlines()
            assert steps[-1].expected is None, f"two expected outputs for {steps[-1].text!r}"
            steps[-1].expected = (language, value)
        elif language != "python":
            raise AssertionError(
                f"a ```{language} block ({body[:40]!r}): say in read_steps how it runs or what "
                "it checks, so that no block of the page goes untested"
            )
    return steps


def same_json(expected: Any, actual: Any, where: str = "$") -> list[str]:
    """Where ``actual`` differs from the page's ``expected`` JSON (see the module notes)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {actual!r:.80}"]
        if set(expected) != set(actual):
            return [f"{where}: keys {sorted(actual)} differ from the page's {sorted(expected)}"]
        return [d for k in expected for d in same_json(expected[k], actual[k], f"{where}.{k}")]
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{where}: expected {len(expected)} items, got {actual!r:.80}"]
        return [
            d
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for d in same_json(e, a, f"{where}[{i}]")
        ]
    if isinstance(expected, str):
        model_text = where.endswith(".content")
        if isinstance(actual, str) and (model_text or _matches(expected, actual)):
            return []
        return [f"{where}: {actual!r:.80} does not match the page's {expected!r:.80}"]
    if isinstance(expected, bool) or expected is None:
        return [] if actual is expected else [f"{where}: {actual!r} is not {expected!r}"]
    if type(actual) is type(expected):  # int or float: ids, times and counts vary
        return []
    return [f"{where}: {actual!r} is not a {type(expected).__name__}"]


def _matches(pattern: str, text: str) -> bool:
    regex = ".*".join(re.escape(part) for part in pattern.split(ELLIPSIS))
    return re.fullmatch(regex, text, re.DOTALL) is not None


def same_text(expected: list[str], output: str) -> list[str]:
    """Where ``output`` differs from the page's text block (see the module notes)."""
    lines = [line for line in output.splitlines() if line.strip()]
    position, skipping = 0, False
    for pattern in (p for p in expected if p.strip()):
        if pattern.strip() == ELLIPSIS:
            skipping = True
            continue
        while position < len(lines) and skipping and not _matches(pattern, lines[position]):
            position += 1
        if position == len(lines) or not _matches(pattern, lines[position]):
            found = lines[position] if position < len(lines) else "the end of the output"
            return [f"no line matches the page's {pattern!r:.120} (at {found!r:.120})"]
        position, skipping = position + 1, False
    if not skipping and position < len(lines):
        return [f"the output goes on past the page's last line: {lines[position]!r:.120}"]
    return []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """A ``tessera serve`` process started from a command of the page."""

    process: subprocess.Popen[bytes]
    port: int
    doc_port: int
    models: list[str]
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Reader:
    """Runs the page's steps as a newcomer would, and says where one fails."""

    work: Path
    env: dict[str, str]
    curl_preamble: str
    server: Server | None = None
    started: list[Server] = field(default_factory=list)
    count: int = 0

    def address(self, text: str) -> str:
        """``text`` with the page's address replaced by its server's."""
        if self.server is not None:
            text = text.replace(
                f"127.0.0.1:{self.server.doc_port}", f"127.0.0.1:{self.server.port}"
            )
        stray = re.search(r"localhost|:8000\b", text)
        assert stray is None, (
            f"{text!r:.120} names {stray.group()!r}: write the page's address as "
            f"http://{ADDRESS} so that it runs against the page's server"
        )
        return text

    def start(self, command: str) -> Server:
        argv = shlex.split(command)
        doc_port = 8000
        for index, arg in enumerate(argv):
            if arg == "--port":
                doc_port = int(argv[index + 1])
                del argv[index : index + 2]
                break
        port = _free_port()
        argv[0] = shutil.which(argv[0], path=self.env["PATH"]) or argv[0]
        models = [argv[i + 1] for i, arg in enumerate(argv) if arg in ("--model", "-m")]
        self.count += 1
        log = self.work.parent / f"server-{self.count}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [*argv, "--port", str(port)],
                cwd=self.work,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Server(process, port, doc_port, models or ["tessera"], log)
        self.started.append(server)
        self._wait_healthy(server, command)
        return server

    def _wait_healthy(self, server: Server, command: str) -> None:
        import httpx

        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline:
            assert server.process.poll() is None, (
                f"{command!r} exited with {server.process.returncode}:\n{server.log_tail()}"
            )
            try:
                if httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=2).is_success:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{command!r} did not answer /healthz:\n{server.log_tail()}")

    def serve(self, step: Step, first_of_block: bool) -> None:
        import httpx

        if first_of_block:
            if self.server is not None:
                self.server.stop()  # "stop the server (Ctrl+C) and start it again"
            self.server = self.start(step.text)
            return
        alternative = self.start(step.text)
        try:
            response = httpx.get(
                f"http://127.0.0.1:{alternative.port}/v1/models",
                headers={"Authorization": f"Bearer {self.env.get('TESSERA_KEY', '')}"},
                timeout=30,
            )
            assert response.status_code == 200, (step.text, response.text)
            assert [m["id"] for m in response.json()["data"]] == alternative.models, step.text
        finally:
            alternative.stop()

    def run(self, step: Step) -> str:
        """Run a bash or python step; its standard output."""
        text = self.address(step.text)
        state = self.work.parent / "environment"
        if step.kind == "python":
            script = self.work.parent / f"step-{self.count}.py"
            self.count += 1
            script.write_text(text, encoding="utf-8")
            argv = [sys.executable, str(script)]
        else:
            curl = (
                self.curl_preamble.replace("--fail-with-body ", "")
                if step.expects_error
                else self.curl_preamble
            )
            save = f"env -0 > {shlex.quote(str(state))}"  # what the command exported
            argv = [
                "bash",
                "-c",
                f"set -o pipefail\n{curl}\n{text}\nstatus=$?\n{save}\nexit $status",
            ]
        done = subprocess.run(
            argv,
            cwd=self.work,
            env=self.env,
            capture_output=True,
            timeout=STEP_TIMEOUT,
            check=False,
        )
        stdout = done.stdout.decode("utf-8", errors="replace")
        stderr = done.stderr.decode("utf-8", errors="replace")
        assert done.returncode == 0, (
            f"{step.text!r} exited with {done.returncode}\nstdout: {stdout[-2000:]}\n"
            f"stderr: {stderr[-2000:]}"
        )
        if step.kind != "python":
            pairs = state.read_bytes().split(b"\0")
            self.env = dict(p.decode().split("=", 1) for p in pairs if b"=" in p)
        return stdout

    def check(self, step: Step, output: str) -> None:
        if step.expected is None:
            return
        kind, value = step.expected
        if kind == "json":
            try:
                actual = json.loads(output)
            except json.JSONDecodeError:
                pytest.fail(f"{step.text!r} answered {output[:300]!r}, not JSON")
            problems = same_json(value, actual)
        else:
            problems = same_text(value, output)
        assert problems == [], f"{step.text!r}:\n" + "\n".join(problems) + f"\n{output[:2000]}"

    def close(self) -> None:
        for server in self.started:
            server.stop()


def _curl_preamble() -> str:
    """A ``curl`` shell function: curl with --fail-with-body, or the httpx translation."""
    if shutil.which("curl") and os.environ.get("TESSERA_DOCS_CURL") != "httpx":
        return 'curl() { command curl --fail-with-body "$@"; }'
    shim = f"{shlex.quote(sys.executable)} {shlex.quote(__file__)}"
    return f'curl() {{ {shim} --fail-with-body "$@"; }}'


def curl_with_httpx(argv: list[str]) -> int:
    """Run a curl command line of the page with httpx (where curl is not installed).

    Translates what the page uses: ``-s``, ``-S``, ``-N`` (no effect here: the body is
    written as it arrives), ``-X``, ``-H``, ``-d``, ``--fail-with-body`` (exit status 22 on an
    HTTP error, after writing the body) and one URL. Anything else exits with 2, naming it.
    """
    import httpx

    method: str | None = None
    headers: list[tuple[str, str]] = []
    data: str | None = None
    url: str | None = None
    fail = False
    args = iter(argv)
    for arg in args:
        if arg == "--fail-with-body":
            fail = True
        elif arg in ("-X", "--request"):
            method = next(args)
        elif arg in ("-H", "--header"):
            name, _, value = next(args).partition(":")
            headers.append((name.strip(), value.strip()))
        elif arg in ("-d", "--data"):
            data = next(args)
        elif re.fullmatch(r"-[sSN]+", arg):
            pass
        elif not arg.startswith("-") and url is None:
            url = arg
        else:
            print(f"curl_with_httpx: {arg!r} is not translated; add it here", file=sys.stderr)
            return 2
    if url is None:
        print("curl_with_httpx: no URL", file=sys.stderr)
        return 2
    if data is not None and not any(n.lower() == "content-type" for n, _ in headers):
        headers.append(("Content-Type", "application/x-www-form-urlencoded"))
    method = method or ("POST" if data is not None else "GET")
    url = url if "://" in url else f"http://{url}"
    content = None if data is None else data.encode("utf-8")
    with (
        httpx.Client(timeout=STEP_TIMEOUT) as client,
        client.stream(method, url, headers=headers, content=content) as response,
    ):
        for chunk in response.iter_bytes():
            sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
    return 22 if fail and response.status_code >= 400 else 0


@pytest.fixture
def reader(tmp_path: Path, tessera_home: Path) -> Iterator[Reader]:
    """A newcomer's shell: a scratch folder, a fresh TESSERA_HOME, the test's tessera first."""
    pytest.importorskip("torch")
    for module in ("fastapi", "uvicorn", "httpx", "argon2", "yaml"):
        pytest.importorskip(module)
    from tessera.errors import MissingExtraError
    from tessera.llm._model import default_gguf_path

    try:
        default_gguf_path()
    except MissingExtraError as exc:
        pytest.skip(str(exc))
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    shared_models = tessera_home / "models"
    shared_models.mkdir(exist_ok=True)
    (home / "models").symlink_to(shared_models, target_is_directory=True)
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env["TESSERA_HOME"] = str(home)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    found = Reader(work, env, _curl_preamble())
    try:
        yield found
    finally:
        found.close()


def test_the_page_has_commands_of_each_kind() -> None:
    """The reading itself: a change of the page's layout must not silently skip commands."""
    steps = read_steps()
    kinds = [s.kind for s in steps]
    assert kinds.count("serve") >= 2 and kinds.count("python") >= 1, kinds
    assert any(s.text.startswith("curl ") for s in steps)
    assert sum(s.expected is not None for s in steps) >= 4, "the page's outputs are checked"


def test_every_command_of_the_page_runs_as_written(reader: Reader) -> None:
    served_blocks: set[int] = set()
    for step in read_steps():
        if step.kind == "serve":
            reader.serve(step, first_of_block=step.block not in served_blocks)
            served_blocks.add(step.block)
        else:
            reader.check(step, reader.run(step))


if __name__ == "__main__":  # the shell's `curl` where curl is not installed
    sys.exit(curl_with_httpx(sys.argv[1:]))
