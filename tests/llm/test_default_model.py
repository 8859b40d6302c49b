"""The embedded default model (SmolLM2-135M-Instruct) with the shipped Medusa heads."""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")

from tessera.errors import InvalidInputError  # noqa: E402

PROMPTS = [
    "What is the capital of France?",
    "Give me three tips for staying focused while studying.",
    "Write a short poem about the sea.",
]


def test_default_model_is_converted_once_and_reused(
    default_runtime: Any, tessera_home: Any
) -> None:
    from tessera.llm._model import DEFAULT_MODEL

    folder = tessera_home / "models" / (DEFAULT_MODEL + "-bf16")
    assert (folder / "model.safetensors").is_file()
    assert default_runtime.folder == folder
    assert default_runtime.model.dtype == torch.bfloat16
    assert default_runtime.heads is not None and default_runtime.tree is not None
    # the runtime's heads are the root-conditioned ones (not the exportable set)
    assert default_runtime.heads.config.root_conditioned


def test_shipped_exportable_heads_export_and_decode_identically(
    default_runtime: Any, tmp_path: Any
) -> None:
    import json

    from tessera.llm import default_heads_folder, load
    from tessera.llm.medusa import export_heads, load_heads

    folder = default_heads_folder(exportable=True)
    assert folder != default_heads_folder()
    heads, metadata = load_heads(folder)
    assert not heads.config.root_conditioned and len(metadata.accuracies) == 3
    lm_head = default_runtime.model.get_output_embeddings()
    out = export_heads(
        heads, tmp_path / "vllm", format="vllm", base_model="org/base", lm_head=lm_head
    )
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "medusa" and config["num_heads"] == 3
    with pytest.raises(InvalidInputError, match="root_conditioned=True.*exportable=True"):
        export_heads(
            default_runtime.heads, tmp_path / "x", format="vllm", base_model="org/base",
            lm_head=lm_head,
        )  # fmt: skip
    runtime = load(heads=folder, threads=1)
    assert runtime.datastore is None  # the exportable set ships without one
    plain = default_runtime.generate(PROMPTS[2], max_new_tokens=48, medusa=False)
    fast = runtime.generate(PROMPTS[2], max_new_tokens=48, medusa=True)
    assert fast.token_ids == plain.token_ids and fast.steps < plain.steps


@pytest.fixture(scope="module")
def float32_runtime(default_runtime: Any) -> Any:
    from tessera.llm import load

    return load(dtype="float32", threads=1, datastore=False)


def test_float32_runtime_without_datastore(float32_runtime: Any) -> None:
    assert float32_runtime.datastore is None and float32_runtime.lookup_min_ngram == 1


@pytest.mark.parametrize("prompt", PROMPTS)
def test_medusa_greedy_is_identical_to_plain_greedy_in_float32(
    float32_runtime: Any, prompt: str
) -> None:
    plain = float32_runtime.generate(prompt, max_new_tokens=48, medusa=False)
    fast = float32_runtime.generate(prompt, max_new_tokens=48, medusa=True)
    assert fast.token_ids == plain.token_ids
    assert fast.text == plain.text and plain.text.strip()
    assert fast.steps < plain.steps


@pytest.mark.parametrize("weights", ["default", "bf16"])
@pytest.mark.parametrize("prompt", PROMPTS)
def test_medusa_greedy_is_identical_to_plain_greedy(
    request: pytest.FixtureRequest, weights: str, prompt: str
) -> None:
    """The default weights (q4_1 on CPUs with AMX, else bf16) and bf16, batch-invariant
    kernels: the same tokens, byte for byte."""
    from tessera.llm import is_batch_invariant

    default = request.getfixturevalue("default_runtime")
    runtime = default if weights == "default" else request.getfixturevalue("bf16_runtime")
    if weights == "bf16" and runtime is default:
        pytest.skip("the default weights are bf16 on this machine (the other case)")
    assert is_batch_invariant(runtime.model)
    # the shipped heads come with their datastore (drafts when prompt lookup has no match)
    assert runtime.datastore is not None and len(runtime.datastore) > 10_000
    plain = runtime.generate(prompt, max_new_tokens=64, medusa=False)
    fast = runtime.generate(prompt, max_new_tokens=64, medusa=True)
    assert fast.token_ids == plain.token_ids
    assert fast.text.encode() == plain.text.encode() and plain.text.strip()
    assert fast.steps < plain.steps


@pytest.mark.parametrize(
    ("question", "answer"),
    [("What is the capital of Germany?", "Berlin"), ("What is 2 + 2?", "4")],
)
def test_answer_is_coherent(default_runtime: Any, question: str, answer: str) -> None:
    assert answer in str(default_runtime.generate(question, max_new_tokens=24))


def test_bf16_answer_is_coherent(bf16_runtime: Any) -> None:
    # (the Q4_1 blocks, in tessera as in llama.cpp, answer this one with a list in French)
    answer = bf16_runtime.generate("What is the capital of France?", max_new_tokens=24)
    assert "Paris" in str(answer)


def test_stream_pieces_join_to_the_text(default_runtime: Any) -> None:
    prompt = PROMPTS[1]
    pieces = list(default_runtime.stream(prompt, max_new_tokens=32))
    assert len(pieces) > 1
    assert "".join(pieces) == default_runtime.generate(prompt, max_new_tokens=32).text


def test_too_long_prompt_is_refused(default_runtime: Any) -> None:
    with pytest.raises(InvalidInputError, match="context"):
        default_runtime.generate("word " * 9000, max_new_tokens=8)
    with pytest.raises(InvalidInputError, match="max_new_tokens"):
        default_runtime.generate("hi", max_new_tokens=9000)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"temperature": -1.0}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"medusa": "yes"}, "medusa"),
        ({"top_k": 0}, "top_k"),
    ],
)
def test_bad_arguments(default_runtime: Any, kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(InvalidInputError, match=name):
        default_runtime.generate("hi", **kwargs)


def test_bad_prompt(default_runtime: Any) -> None:
    with pytest.raises(InvalidInputError, match="prompt"):
        default_runtime.generate([{"text": "hi"}])


def test_sampling_with_typical_acceptance_is_seeded(default_runtime: Any) -> None:
    prompt = "Write one sentence about autumn."
    first = default_runtime.generate(prompt, max_new_tokens=32, temperature=0.7, seed=5)
    again = default_runtime.generate(prompt, max_new_tokens=32, temperature=0.7, seed=5)
    other = default_runtime.generate(prompt, max_new_tokens=32, temperature=0.7, seed=6)
    assert first.token_ids == again.token_ids
    assert first.token_ids != other.token_ids
    assert first.text.strip() and first.mean_accepted >= 1.0


def test_cli_exports_the_shipped_plain_heads_by_default(
    default_runtime: Any, tmp_path: Any
) -> None:
    from typer.testing import CliRunner

    from tessera.cli import _llm  # noqa: F401  (registers the llm commands)
    from tessera.cli._app import app

    out = tmp_path / "fd"
    result = CliRunner().invoke(
        app, ["llm", "medusa", "export", "--format", "fasterdecoding", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "medusa-plain" in result.stdout
    assert (out / "medusa_lm_head.safetensors").is_file()


def test_default_weights_are_q4_1_only_for_the_default_model_on_the_amx_kernel(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from tessera.llm import DEFAULT_MODEL, _amx, default_weights

    amx = "q4_1" if _amx.available() else "bf16"
    assert default_weights() == default_weights(DEFAULT_MODEL) == amx
    assert default_weights(dtype="float32") == "bf16"  # q4_1 computes in bfloat16
    assert default_weights(tmp_path / "my-model") == "bf16"
    monkeypatch.setenv("TESSERA_AMX", "0")  # PyTorch's int4 kernel: bf16 decodes faster
    assert default_weights() == "bf16"


@pytest.mark.parametrize("weights", ["auto", "bf16", "q4_1"])
def test_cli_weights_option_decodes_what_load_decodes(
    default_runtime: Any, bf16_runtime: Any, weights: str
) -> None:
    """``--weights`` picks the format (auto: ``default_weights()``), with that format's
    drafted-chain default, and prints what ``load(weights=...)`` generates."""
    from typer.testing import CliRunner

    from tessera.cli import _llm  # noqa: F401  (registers the commands)
    from tessera.cli._app import app
    from tessera.llm import default_weights, load
    from tessera.llm._runtime import DEFAULT_LOOKUP_TOKENS, DEFAULT_LOOKUP_TOKENS_Q4_1

    question = "What is 2 + 2?"
    result = CliRunner().invoke(
        app, ["llm", "generate", question, "-n", "16", "--weights", weights, "--stats"]
    )
    assert result.exit_code == 0, result.output
    chosen = default_weights() if weights == "auto" else weights
    runtime = {"bf16": bf16_runtime, default_weights(): default_runtime}.get(chosen)
    if runtime is None:
        runtime = load(threads=1, weights=chosen)
    expected = runtime.generate(question, max_new_tokens=16)
    assert result.stdout == expected.text + "\n"
    chain = DEFAULT_LOOKUP_TOKENS_Q4_1 if chosen == "q4_1" else DEFAULT_LOOKUP_TOKENS
    assert f"+ {chain} lookup" in result.stderr
