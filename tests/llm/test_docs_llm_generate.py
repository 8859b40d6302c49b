"""Every command of docs/how-to/llm-generate.md runs, in the page's order.

The ```python blocks run in one namespace per section and the ``$ tessera`` lines of its
```console blocks through typer's CliRunner. Where the page names a user's own files
(``path/to/my-model``, ``path/to/heads``) the test puts a tiny random Llama and heads
trained for it there; where a command would run for minutes (training on every shipped
prompt, a benchmark of 8 prompts of 128 tokens) the test runs it at a smaller size, and
says so below (:data:`SMALLER`). The install block is what ``make test`` itself runs.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")

PAGE = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "llm-generate.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)

#: Sizes the test lowers so the suite stays short (the commands are otherwise as written).
SMALLER = {
    # medusa train: a few prompts, short answers, one epoch (tests/llm/test_cli.py's TRAIN)
    "train": ["-p", "6", "-n", "12", "--epochs", "1", "--heldout", "2", "--num-heads", "2"],
    # medusa bench: one prompt of 16 tokens instead of 8 of 128
    "bench": {"--prompts": "1", "--max-new-tokens": "16"},
    # training_prompts(200) in the Python recipe
    "training_prompts(200)": "training_prompts(4)",
    # -n 200 (a sampled story)
    "-n": "24",
}


def section(name: str) -> str:
    text = PAGE.read_text(encoding="utf-8")
    start = text.index(f"\n## {name}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def blocks(name: str, kind: str) -> list[str]:
    return [code for found, code in BLOCK.findall(section(name)) if found == kind]


def commands(name: str) -> list[list[str]]:
    lines = [
        line[2:]
        for code in blocks(name, "console")
        for line in code.splitlines()
        if line.startswith("$ tessera ")
    ]
    return [shlex.split(line)[1:] for line in lines]


def run_python(code: str, namespace: dict[str, Any], places: dict[str, str]) -> str:
    for before, after in places.items():
        code = code.replace(before, after)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(PAGE), "exec"), namespace)  # noqa: S102
    return out.getvalue()


@pytest.fixture(scope="module")
def cli() -> Any:
    from typer.testing import CliRunner

    from tessera.cli import _llm  # noqa: F401  (registers the commands)
    from tessera.cli._app import app

    runner = CliRunner()

    def invoke(args: list[str]) -> str:
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output, result.exception)
        return str(result.output)

    return invoke


def smaller(args: list[str], places: dict[str, str]) -> list[str]:
    """``args`` with the page's placeholders filled and its long runs made short."""
    out = [places.get(arg, arg) for arg in args]
    bench = out[:3] == ["llm", "medusa", "bench"]
    sizes: dict[str, str] = {"-n": str(SMALLER["-n"])}
    if bench:
        sizes.update(SMALLER["bench"])  # type: ignore[arg-type]
    for i in range(1, len(out)):
        if out[i - 1] in sizes:
            out[i] = sizes[out[i - 1]]
    if out[:3] == ["llm", "medusa", "train"]:
        out += [*SMALLER["train"], "-q"]
    return out


def test_python_and_terminal_with_the_default_model(default_runtime: Any, cli: Any) -> None:
    namespace: dict[str, Any] = {}
    python = blocks("From Python", "python")
    assert len(python) == 5
    printed = run_python(python[0], namespace, {})
    assert "Berlin" in printed
    assert re.search(r"[\d.]+ tokens/s, [\d.]+ tokens/step", printed)
    for code in python[1:]:
        run_python(code, namespace, {})
    assert namespace["story"].text and namespace["baseline"].text
    terminal = commands("From the terminal")
    assert len(terminal) == 4
    outputs = [cli(smaller(args, {})) for args in terminal]
    assert "Berlin" in outputs[0]
    assert "tokens/s" in outputs[1] and "tokens/step" in outputs[1]
    bench = commands("Measure the speed-up")
    assert len(bench) == 1
    report = cli(smaller(bench[0], {}))
    assert "identical" in report.lower()


def test_own_model_training_and_export(tiny_llama: Any, cli: Any, tmp_path: Path) -> None:
    model = tmp_path / "my-model"
    model.mkdir()
    for file in tiny_llama.folder.iterdir():
        (model / file.name).write_bytes(file.read_bytes())
    places = {"path/to/my-model": str(model)}
    train = commands("Train heads for your model")
    assert [args[:3] for args in train] == [
        ["llm", "medusa", "train"],
        ["llm", "generate", "Hello"],
    ]
    cli(smaller(train[0], places))
    assert (model / "medusa" / "medusa.json").is_file()
    assert "tokens/s" in cli(smaller(train[1], places))
    # The Python recipe writes the same folder; exportable heads go beside it.
    recipe = blocks("Train heads for your model", "python")
    assert len(recipe) == 1
    namespace: dict[str, Any] = {}
    run_python(
        recipe[0],
        namespace,
        {**places, "training_prompts(200)": str(SMALLER["training_prompts(200)"])},
    )
    assert len(namespace["result"].top1) == 4
    heads = tmp_path / "heads"
    cli(
        [
            "llm",
            "medusa",
            "train",
            "--model",
            str(model),
            "--out",
            str(heads),
            "--plain",
            *SMALLER["train"],
            "-q",
        ]
    )
    own = blocks("Use your own model", "python")
    assert len(own) == 1
    run_python(own[0], namespace, {**places, "path/to/heads": str(heads)})
    assert namespace["llm"].model.dtype.is_floating_point
    export = commands("Export the heads to vLLM or FasterDecoding")
    assert len(export) == 2
    for args in export:
        filled = [str(tmp_path / arg) if arg.startswith("heads-") else arg for arg in args]
        cli(smaller(filled, {"path/to/heads": str(heads)}))
    assert (tmp_path / "heads-vllm" / "config.json").is_file()
    assert any((tmp_path / "heads-fd").iterdir())
