"""tessera.llm.backends: parameters, stop sequences, model ids, the local backend."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tessera.errors import InvalidInputError
from tessera.llm.backends import (
    GenerationParams,
    LocalBackend,
    OpenAIBackend,
    StopCutter,
    get_backend,
    register_endpoint,
)


def _cut_reference(text: str, stop: list[str]) -> tuple[str, bool]:
    hits = [i for i in (text.find(s) for s in stop) if i >= 0]
    return (text[: min(hits)], True) if hits else (text, False)


@given(
    st.text(alphabet="ab\n.", max_size=40),
    st.lists(st.text(alphabet="ab\n.", min_size=1, max_size=3), max_size=3),
    st.lists(st.integers(min_value=0, max_value=40), max_size=8),
)
def test_stop_cutter_matches_cutting_the_whole_text(
    text: str, stop: list[str], splits: list[int]
) -> None:
    """However the text is split into pieces, the emitted text is the text cut at the first stop."""
    cuts = sorted({min(s, len(text)) for s in splits} | {0, len(text)})
    pieces = [text[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
    cutter = StopCutter(stop)
    out = "".join(cutter.feed(p) for p in pieces) + cutter.flush()
    expected, stopped = _cut_reference(text, stop)
    assert out == expected
    assert cutter.stopped == stopped


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 2.5}, "max_tokens"),
        ({"temperature": -1}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"top_k": 0}, "top_k"),
        ({"stop": [""]}, "stop"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"seed": "x"}, "seed"),
        ({"seed": 2**63}, "seed"),
        ({"seed": -1}, "seed"),
        ({"temperature": 2.01}, "temperature"),
        ({"temperature": 10**400}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_p": float("inf")}, "top_p"),
        ({"top_k": True}, "top_k"),
    ],
)
def test_bad_params_name_the_argument(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(InvalidInputError, match=rf"^{name}=") as refused:
        GenerationParams(**kwargs)
    if name in ("temperature", "top_p", "top_k", "seed"):
        # The one sampling contract: medusa's Sampling refuses it with the same message.
        pytest.importorskip("torch")
        from tessera.llm.medusa import Sampling

        with pytest.raises(InvalidInputError) as sampling:
            Sampling(**kwargs)
        assert str(sampling.value) == str(refused.value)


def test_the_contracts_edges_are_accepted_and_normalised() -> None:
    import numpy as np

    params = GenerationParams(
        max_tokens=np.int64(1), temperature=2, top_p=np.float32(1), top_k=1, seed=2**63 - 1
    )
    assert (params.max_tokens, params.temperature, params.top_p, params.top_k) == (1, 2.0, 1.0, 1)
    assert params.seed == 2**63 - 1 and type(params.temperature) is float
    # Below 1e-5 a temperature is greedy decoding (dividing logits by it overflows).
    assert GenerationParams(temperature=1e-300).temperature == 0.0
    assert GenerationParams(temperature=1e-5).temperature == 1e-5


def test_params_from_mapping() -> None:
    params = GenerationParams.from_mapping({"max_tokens": 8, "stop": ["\n"], "top_k": 5})
    assert params == GenerationParams(max_tokens=8, stop=("\n",), top_k=5)
    assert GenerationParams(stop="x").stop == ("x",)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="unknown parameter"):
        GenerationParams.from_mapping({"max_new_tokens": 8})


def test_model_ids() -> None:
    assert isinstance(get_backend(None), LocalBackend)
    assert get_backend("tessera") is get_backend(None)
    local = get_backend("tessera:/some/folder")
    assert isinstance(local, LocalBackend) and local.model == "/some/folder"
    with pytest.raises(InvalidInputError, match="no endpoint named 'nowhere'"):
        get_backend("nowhere:model")
    with pytest.raises(InvalidInputError, match="model="):
        get_backend("")
    endpoint = register_endpoint("unit-test", "http://127.0.0.1:9/v1/", api_key="sk-secret")
    assert "sk-secret" not in repr(endpoint)
    remote = get_backend("unit-test:llama3:8b")
    assert isinstance(remote, OpenAIBackend)
    assert (remote.base_url, remote.model) == ("http://127.0.0.1:9/v1", "llama3:8b")
    assert "sk-secret" not in repr(remote)
    with pytest.raises(InvalidInputError, match="base_url="):
        register_endpoint("bad", "ftp://x")
    with pytest.raises(InvalidInputError, match="name="):
        register_endpoint("tessera", "http://x")


def test_endpoint_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_ENDPOINT_ENVTEST_URL", "http://127.0.0.1:1/v1")
    monkeypatch.setenv("TESSERA_ENDPOINT_ENVTEST_KEY", "k")
    backend = get_backend("envtest:m")
    assert isinstance(backend, OpenAIBackend) and backend.base_url == "http://127.0.0.1:1/v1"


def test_endpoint_from_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path))
    monkeypatch.setenv("FILETEST_KEY", "secret")
    (tmp_path / "endpoints.yaml").write_text(
        "filetest: {base_url: 'http://127.0.0.1:2/v1', api_key_env: FILETEST_KEY}\n"
    )
    backend = get_backend("filetest:m")
    assert isinstance(backend, OpenAIBackend) and backend.base_url == "http://127.0.0.1:2/v1"


def test_unreachable_endpoint_is_a_clear_error() -> None:
    from tessera.llm.backends import EndpointError

    register_endpoint("closed", "http://127.0.0.1:9/v1")
    with pytest.raises(EndpointError, match="cannot reach"):
        get_backend("closed:m").chat([{"role": "user", "content": "hi"}], GenerationParams())


def test_bad_messages() -> None:
    backend = get_backend("tessera:/never/loaded")
    for messages, name in [
        ([], "messages"),
        ("hi", "messages"),
        ([{"role": "robot", "content": "x"}], r"messages\[0\].role"),
        ([{"role": "user", "content": 3}], r"messages\[0\].content"),
    ]:
        with pytest.raises(InvalidInputError, match=rf"^{name}="):
            backend.chat(messages, GenerationParams())


def test_import_does_not_load_torch() -> None:
    code = "import sys, tessera.llm.backends; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


class TestLocal:
    """The local backend on the tiny random Llama (real generation, gibberish text)."""

    @pytest.fixture
    def backend(self, tiny_llama: Any) -> Any:
        return get_backend(f"tessera:{tiny_llama.folder}")

    def test_chat_counts_and_length(self, backend: Any) -> None:
        messages = [{"role": "user", "content": "write a story"}]
        result = backend.chat(messages, GenerationParams(max_tokens=6))
        runtime = backend.runtime
        assert result.prompt_tokens == len(runtime.encode(messages))
        assert 1 <= result.completion_tokens <= 6
        plain = runtime.generate(messages, max_new_tokens=6)
        assert result.text == str(plain)
        expected = "length" if len(plain.token_ids) == 6 else "stop"
        assert result.finish_reason == expected

    def test_stream_joins_to_chat(self, backend: Any) -> None:
        messages = [{"role": "user", "content": "list tips"}]
        params = GenerationParams(max_tokens=8)
        whole = backend.chat(messages, params)
        stream = backend.stream(messages, params)
        assert stream.result is None
        assert "".join(stream) == whole.text
        assert stream.result is not None
        assert stream.result.text == whole.text
        assert stream.result.finish_reason == whole.finish_reason
        assert (stream.result.prompt_tokens, stream.result.completion_tokens) == (
            whole.prompt_tokens,
            whole.completion_tokens,
        )

    def test_stop_sequence_cuts_the_reply(self, backend: Any) -> None:
        messages = [{"role": "user", "content": "explain the sun"}]
        full = backend.chat(messages, GenerationParams(max_tokens=12)).text
        words = full.split()
        if len(words) < 3:
            pytest.skip("the random model stopped too early for this check")
        stop = " " + words[2]
        result = backend.chat(messages, GenerationParams(max_tokens=12, stop=(stop,)))
        assert result.text == full[: full.find(stop)]
        assert result.finish_reason == "stop"

    def test_sampling_with_top_k_is_seeded(self, backend: Any) -> None:
        messages = [{"role": "user", "content": "write a poem"}]
        params = GenerationParams(max_tokens=8, temperature=1.0, top_k=3, seed=7)
        assert backend.chat(messages, params).text == backend.chat(messages, params).text

    def test_top_k_one_is_greedy(self, backend: Any) -> None:
        """Sampling among the single most likely token is greedy decoding, whatever the seed."""
        messages = [{"role": "user", "content": "define a tree"}]
        greedy = backend.chat(messages, GenerationParams(max_tokens=8)).text
        for seed in (0, 1, 2):
            params = GenerationParams(max_tokens=8, temperature=1.5, top_k=1, seed=seed)
            assert backend.chat(messages, params).text == greedy

    def test_too_long_requests_name_this_apis_arguments(self, backend: Any) -> None:
        limit = backend.runtime.context_length
        messages = [{"role": "user", "content": "the sun"}]
        with pytest.raises(InvalidInputError, match=r"^max_tokens=.*Pass max_tokens <= "):
            backend.chat(messages, GenerationParams(max_tokens=limit))
        long = [{"role": "user", "content": "sun " * limit}]
        with pytest.raises(InvalidInputError, match=r"^messages="):
            backend.stream(long, GenerationParams(max_tokens=1))
