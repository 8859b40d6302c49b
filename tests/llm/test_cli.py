"""``tessera llm``: generate, medusa bench and export via CliRunner, on the tiny Llama."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

from tessera.cli import _llm  # noqa: E402,F401  (registers the commands on the app)
from tessera.cli._app import app  # noqa: E402
from tessera.llm import load  # noqa: E402
from tessera.llm.medusa import (  # noqa: E402
    HeadsMetadata,
    MedusaConfig,
    MedusaHeads,
    MedusaTree,
    load_heads,
    save_heads,
)

runner = CliRunner()
PROMPT = "what is the sun"
TREE = [(0,), (1,), (0, 0), (1, 0), (0, 0, 0)]


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path / "home"))
    torch.set_num_threads(1)


def _random_heads(model: Any, seed: int) -> MedusaHeads:
    weight = model.get_output_embeddings().weight
    heads = MedusaHeads(MedusaConfig(hidden_size=weight.shape[1], vocab_size=weight.shape[0]))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in heads.parameters():
            parameter.copy_(0.2 * torch.randn(parameter.shape, generator=generator))
    return heads


@pytest.fixture(scope="module")
def heads_folder(tiny_llama: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random (untrained) heads for the tiny model, with a tree and its base model's path."""
    folder = tmp_path_factory.mktemp("heads")
    metadata = HeadsMetadata(tree=TREE, base_model=str(tiny_llama.folder))
    return save_heads(_random_heads(tiny_llama.model, seed=1), folder, metadata)


def invoke(*args: Any) -> Any:
    return runner.invoke(app, ["llm", *map(str, args)])


def generate(tiny_llama: Any, *args: Any) -> Any:
    return invoke("generate", PROMPT, "--model", tiny_llama.folder, "-n", 24, *args)


def one_error_line(result: Any) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_generate_prints_what_the_library_generates(tiny_llama: Any) -> None:
    result = generate(tiny_llama, "--no-medusa")
    assert result.exit_code == 0, result.output
    expected = load(tiny_llama.folder).generate(PROMPT, max_new_tokens=24, medusa=False)
    assert expected.text
    assert result.stdout == expected.text + "\n"


def test_medusa_greedy_prints_the_plain_greedy_text(tiny_llama: Any, heads_folder: Path) -> None:
    plain = generate(tiny_llama, "--no-medusa")
    medusa = generate(tiny_llama, "--heads", heads_folder)
    assert plain.exit_code == 0 and medusa.exit_code == 0, medusa.output
    assert medusa.stdout == plain.stdout


@pytest.mark.parametrize("medusa", ["--medusa", "--no-medusa"])
def test_stream_prints_the_same_text(tiny_llama: Any, heads_folder: Path, medusa: str) -> None:
    whole = generate(tiny_llama, "--heads", heads_folder, medusa)
    streamed = generate(tiny_llama, "--heads", heads_folder, medusa, "--stream")
    assert whole.exit_code == 0 and streamed.exit_code == 0, streamed.output
    assert streamed.stdout == whole.stdout
    assert whole.stderr == streamed.stderr == ""


@pytest.mark.parametrize("stream", [[], ["--stream"]])
def test_stats_go_to_stderr(tiny_llama: Any, heads_folder: Path, stream: list[str]) -> None:
    result = generate(tiny_llama, "--heads", heads_folder, "--stats", *stream)
    assert result.exit_code == 0, result.output
    assert "tokens/s" not in result.stdout
    nodes = MedusaTree.from_paths(TREE).num_nodes
    assert "tokens/s" in result.stderr and "tokens/step" in result.stderr
    assert f"Medusa, tree of {nodes} tokens" in result.stderr
    tokens = int(result.stderr.split(" tokens in ")[0])
    assert 1 <= tokens <= 24
    plain = generate(tiny_llama, "--no-medusa", "--stats", *stream)
    assert "1.00 tokens/step (plain decoding)" in plain.stderr


def test_sampling_with_a_seed_repeats(tiny_llama: Any) -> None:
    args = ("--no-medusa", "--temperature", 1.5, "--top-p", 0.9, "--seed", 7)
    first, second = generate(tiny_llama, *args), generate(tiny_llama, *args)
    assert first.exit_code == 0, first.output
    assert first.stdout == second.stdout
    greedy = generate(tiny_llama, "--no-medusa")
    others = {generate(tiny_llama, *args[:-1], seed).stdout for seed in range(4)}
    # At temperature 1.5 on a random model, four seeds do not all give the greedy text.
    assert others != {greedy.stdout}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-n", 0], "max_new_tokens=0 is invalid"),
        (["--temperature", -1], "temperature=-1.0 is invalid"),
        (["--top-p", 0], "top_p=0.0 is invalid"),
        (["-n", 100_000], "max_new_tokens=100000 is invalid"),
    ],
)
def test_bad_generation_arguments(tiny_llama: Any, args: list[Any], expected: str) -> None:
    line = one_error_line(generate(tiny_llama, *args))
    assert expected in line


def test_bad_model_and_heads_paths(tiny_llama: Any, tmp_path: Path) -> None:
    line = one_error_line(invoke("generate", PROMPT, "--model", tmp_path / "nowhere"))
    assert "must name an existing model folder or .gguf file" in line
    empty = tmp_path / "empty"
    empty.mkdir()
    line = one_error_line(generate(tiny_llama, "--heads", empty))
    assert "must hold medusa.json and heads.safetensors" in line


def test_missing_extra_is_one_line(monkeypatch: pytest.MonkeyPatch, tiny_llama: Any) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now fails
    line = one_error_line(generate(tiny_llama))
    assert "pip install 'tessera[llm]'" in line


def test_help_does_not_import_torch() -> None:
    code = (
        "import sys; from tessera.cli import _llm; from tessera.cli._app import app; "
        "from typer.testing import CliRunner; "
        "r = CliRunner().invoke(app, ['llm', 'medusa', '--help']); "
        "assert r.exit_code == 0 and 'export' in r.output, r.output; "
        "assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("fmt", "files"),
    [
        ("vllm", ["config.json", "model.safetensors"]),
        ("fasterdecoding", ["config.json", "medusa_lm_head.pt", "medusa_lm_head.safetensors"]),
    ],
)
def test_export_writes_the_engine_folder(
    tiny_llama: Any, heads_folder: Path, tmp_path: Path, fmt: str, files: list[str]
) -> None:
    out = tmp_path / fmt
    result = invoke("medusa", "export", heads_folder, "--format", fmt, "--out", out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == files
    config = json.loads((out / "config.json").read_text())
    # The base model defaults to the one named in the heads' metadata.
    assert config["base_model_name_or_path"] == str(tiny_llama.folder)
    heads, _ = load_heads(heads_folder)
    lm_head = tiny_llama.model.get_output_embeddings().weight.to(torch.bfloat16)
    tensors = safetensors_torch.load_file(str(out / files[-1]))
    if fmt == "vllm":
        assert config["num_heads"] == 3 and config["original_lm_head"] is True
        block, projection = tensors["blocks.2.layers.0.weight"], tensors["lm_head.weight"]
    else:
        assert config["medusa_num_heads"] == 3 and config["medusa_num_layers"] == 1
        block, projection = tensors["2.0.linear.weight"], tensors["2.1.weight"]
    assert torch.equal(block, heads.blocks[2][0].linear.weight)
    # The shared projection is the base model's own lm_head, loaded from the model folder.
    assert torch.equal(projection, lm_head)


def test_export_names_the_base_model_given(heads_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "vllm"
    result = invoke(
        "medusa", "export", heads_folder, "-f", "vllm", "-o", out, "--base-model", "org/base"
    )
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["base_model_name_or_path"] == "org/base"


def test_export_errors(tiny_llama: Any, tmp_path: Path) -> None:
    anonymous = save_heads(_random_heads(tiny_llama.model, seed=2), tmp_path / "anonymous")
    line = one_error_line(
        invoke("medusa", "export", anonymous, "--format", "vllm", "--out", tmp_path / "x")
    )
    assert "--model=None is invalid" in line and "Pass --model" in line
    # With --model the same heads export.
    out = tmp_path / "ok"
    ok = invoke(
        "medusa", "export", anonymous, "-f", "vllm", "-o", out, "--model", tiny_llama.folder
    )
    assert ok.exit_code == 0, ok.output
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    one_error_line(
        invoke("medusa", "export", anonymous, "-f", "vllm", "-o", occupied, "-m", tiny_llama.folder)
    )
    bad_format = invoke("medusa", "export", anonymous, "--format", "onnx", "--out", out)
    assert bad_format.exit_code == 2


def test_bench_prints_the_comparison(tiny_llama: Any, heads_folder: Path) -> None:
    result = invoke(
        "medusa", "bench", "--model", tiny_llama.folder, "--heads", heads_folder,
        "--prompts", 2, "-n", 12,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "2 held-out prompts" in out
    assert "identical output: 2/2 prompts" in out
    assert f"tree: {len(TREE)} nodes" in out
    assert len(re.findall(r"\d tokens/s\b", out)) == 2 and "tokens/step" in out
    assert "head top-1: " in out and "head top-5: " in out


TRAIN = ("-p", 6, "-n", 12, "--epochs", 1, "--heldout", 2, "--num-heads", 2, "-q")


def test_train_writes_heads_that_generate(tiny_llama: Any, tmp_path: Path) -> None:
    out, data = tmp_path / "heads", tmp_path / "answers.npz"
    result = invoke(
        "medusa", "train", "--model", tiny_llama.folder, "--out", out, "--data", data, *TRAIN
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"Trained 2 heads on \d+ positions in \d+ s", result.stdout), result.stdout
    assert f"--heads {out}" in result.stdout
    phases = r"phases: generating \d+ s, caching \d+ s, training \d+ s, held-out answers \d+ s"
    assert re.search(phases, result.stdout), result.stdout
    assert data.is_file()
    heads, metadata = load_heads(out)
    assert heads.config.num_heads == 2
    assert heads.config.root_conditioned  # the default, as the shipped heads
    assert metadata.base_model == str(tiny_llama.folder)
    assert len(metadata.accuracies) == 2
    # Training again from the saved answers (no generation) gives the same heads, bit for bit.
    again = invoke(
        "medusa", "train", "--model", tiny_llama.folder, "-o", tmp_path / "again", "--data", data,
        *TRAIN,
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert (tmp_path / "again" / "heads.safetensors").read_bytes() == (
        out / "heads.safetensors"
    ).read_bytes()
    # the datastore is built from the same answers, beside the heads
    from tessera.llm.medusa import Datastore, DistillationData, build_datastore

    store = Datastore.load(out / "datastore.npz")
    assert store.table == build_datastore(DistillationData.load(data)).table
    assert Datastore.load(tmp_path / "again" / "datastore.npz").table == store.table
    with_heads = generate(tiny_llama, "--heads", out, "--stats")
    assert "Medusa, tree of" in with_heads.stderr
    assert with_heads.stdout == generate(tiny_llama, "--no-medusa").stdout


def test_train_plain_heads_for_export(tiny_llama: Any, tmp_path: Path) -> None:
    conditioned, plain = tmp_path / "conditioned", tmp_path / "plain"
    for out, flag in ((conditioned, "--root-conditioned"), (plain, "--plain")):
        result = invoke("medusa", "train", "--model", tiny_llama.folder, "-o", out, flag, *TRAIN)
        assert result.exit_code == 0, result.output
        with_heads = generate(tiny_llama, "--heads", out, "--stats")
        assert "Medusa, tree of" in with_heads.stderr
        assert with_heads.stdout == generate(tiny_llama, "--no-medusa").stdout
    assert load_heads(conditioned)[0].config.root_conditioned
    assert not load_heads(plain)[0].config.root_conditioned
    refused = invoke("medusa", "export", conditioned, "--format", "vllm", "--out", tmp_path / "x")
    assert refused.exit_code == 1 and "root" in refused.output
    exported = invoke("medusa", "export", plain, "--format", "vllm", "--out", tmp_path / "y")
    assert exported.exit_code == 0, exported.output
    assert (tmp_path / "y" / "config.json").is_file()


def test_train_defaults_to_the_model_folder(tiny_llama: Any, tmp_path: Path) -> None:
    model = shutil.copytree(tiny_llama.folder, tmp_path / "model")
    result = invoke("medusa", "train", "--model", model, *TRAIN)
    assert result.exit_code == 0, result.output
    assert (model / "medusa" / "heads.safetensors").is_file()
    # `generate --model` now finds the heads by itself.
    found = invoke("generate", PROMPT, "--model", model, "-n", 8, "--stats")
    assert found.exit_code == 0, found.output
    assert "Medusa, tree of" in found.stderr


def test_train_quick_try_answers_fewer_heldout_prompts(tiny_llama: Any, tmp_path: Path) -> None:
    out = tmp_path / "quick"
    result = invoke(
        "medusa", "train", "--model", tiny_llama.folder, "-o", out,
        "-p", 6, "-n", 12, "--epochs", 1, "--num-heads", 2, "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    training = load_heads(out)[1].training
    # --prompts 6 without --heldout: heldout_count(6) = 16 held-out prompts, not the 64 of
    # the full recipe; one torch thread unless --threads says otherwise.
    assert training["heldout_prompts"] == 16
    assert training["torch_threads"] == 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--vocabulary", "most"], "vocabulary='most' is invalid"),
        (["--prompts", 0], "is invalid"),
        (["--epochs", 0], "epochs=0 is invalid"),
        (["--threads", 0], "threads=0 is invalid"),
    ],
)
def test_bad_training_arguments(
    tiny_llama: Any, tmp_path: Path, args: list[Any], expected: str
) -> None:
    result = invoke(
        "medusa", "train", "--model", tiny_llama.folder, "-o", tmp_path / "h", *TRAIN, *args
    )
    assert expected in one_error_line(result)
