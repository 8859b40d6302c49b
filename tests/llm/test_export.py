"""Exported Medusa heads load, strictly, into the targets' own architectures and give our logits.

The reference modules below are rebuilt here from the targets' source, independent of the
exporter: FasterDecoding/Medusa ``medusa/model/medusa_model.py`` (``ResBlock``, and
``MedusaModel.medusa_head``: a ``ModuleList`` of ``Sequential(*([ResBlock(H)] * L),
Linear(H, V, bias=False))``, the repeated module included) and vLLM
``vllm/model_executor/models/medusa.py`` (``ResidualBlock``, ``Medusa`` and its
``load_weights``) with the key renaming of ``vllm/transformers_utils/configs/medusa.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

from tessera.errors import InvalidInputError, InvalidTypeError  # noqa: E402
from tessera.llm.medusa import (  # noqa: E402
    MedusaConfig,
    MedusaHeads,
    export_fasterdecoding,
    export_heads,
    export_vllm,
)

torch.set_num_threads(1)
nn = torch.nn
BASE = "HuggingFaceTB/SmolLM2-135M-Instruct"


# --- the targets, rebuilt ------------------------------------------------------------------


class FasterDecodingResBlock(nn.Module):
    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.linear = nn.Linear(hidden_size, hidden_size)
        self.act = nn.SiLU()

    def forward(self, x: Any) -> Any:
        return x + self.act(self.linear(x))


def fasterdecoding_medusa_head(hidden: int, vocab: int, heads: int, layers: int) -> Any:
    """FasterDecoding's ``medusa_head``: one ResBlock module repeated ``layers`` times."""
    return nn.ModuleList(
        [
            nn.Sequential(
                *([FasterDecodingResBlock(hidden)] * layers),
                nn.Linear(hidden, vocab, bias=False),
            )
            for _ in range(heads)
        ]
    )


def vllm_config(folder: Path) -> dict[str, Any]:
    """config.json as vLLM's MedusaConfig.from_pretrained reads it (keys with "num" renamed)."""
    document = json.loads((folder / "config.json").read_text())
    for key in list(document):
        if "num" in key:
            if "heads" in key:
                document["num_heads"] = document.pop(key)
            elif "layers" in key:
                document["num_hidden_layers"] = document.pop(key)
    document.setdefault("truncated_vocab_size", document["vocab_size"])
    return document


class VllmResidualBlock(nn.Module):
    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        hidden = config["hidden_size"]
        bias = config.get("medusa_fc_bias", False)
        self.layers = nn.ModuleList(
            [nn.Linear(hidden, hidden, bias=bias) for _ in range(config["num_hidden_layers"])]
        )
        self.act = nn.SiLU()

    def forward(self, x: Any) -> Any:
        for layer in self.layers:
            x = x + self.act(layer(x))
        return x


class VllmMedusa(nn.Module):
    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = config
        heads, hidden = config["num_heads"], config["hidden_size"]
        vocab = config["truncated_vocab_size"]
        self.blocks = nn.ModuleList([VllmResidualBlock(config) for _ in range(heads)])
        if config.get("original_lm_head", False):
            self.lm_head = nn.Linear(hidden, vocab, bias=False)
            self.lm_heads = [self.lm_head for _ in range(heads)]  # a list: not registered
        else:
            self.lm_heads = nn.ModuleList(
                [nn.Linear(hidden, vocab, bias=False) for _ in range(heads)]
            )
        self.logit_scale = config.get("logit_scale", 1.0)

    def forward(self, hidden_states: Any) -> Any:
        logits = [
            lm_head(block(hidden_states))
            for block, lm_head in zip(self.blocks, self.lm_heads, strict=True)
        ]
        return torch.stack(logits) * self.logit_scale

    def load_weights(self, weights: dict[str, Any]) -> None:
        """vLLM's name handling, made strict: every parameter set, no tensor left over."""
        params = dict(self.named_parameters())
        loaded: set[str] = set()
        unused: list[str] = []
        for name, tensor in weights.items():
            name = name.replace("medusa_heads.", "")
            if name not in params and self.config.get("original_lm_head", False):
                name = "lm_head.weight" if name == "lm_heads.0.weight" else name
            if name not in params:
                unused.append(name)
                continue
            assert params[name].shape == tensor.shape, name
            with torch.no_grad():
                params[name].copy_(tensor)
            loaded.add(name)
        assert set(params) - loaded == set(), "weights vLLM would find missing"
        assert unused == [], "tensors vLLM would silently drop"


# --- helpers ---------------------------------------------------------------------------------


def random_heads(
    hidden: int,
    vocab: int,
    num_heads: int,
    num_layers: int,
    share: bool,
    seed: int,
    *,
    same_layers: bool = False,
) -> tuple[Any, Any]:
    """Heads with random weights (and a random base lm_head)."""
    generator = torch.Generator().manual_seed(seed)
    base = nn.Linear(hidden, vocab, bias=False)
    config = MedusaConfig(hidden, vocab, num_heads, num_layers, share_lm_head=share)
    heads = MedusaHeads(config, lm_head=base)
    with torch.no_grad():
        for param in [*heads.parameters(), *base.parameters()]:
            param.copy_(torch.randn(param.shape, generator=generator) * 0.5)
        if same_layers:
            for sequential in heads.blocks:
                for block in sequential[1:]:
                    block.load_state_dict(sequential[0].state_dict())
    heads.eval()
    return heads, base


def our_logits(heads: Any, base: Any, hidden_states: Any) -> Any:
    with torch.no_grad():
        return heads(hidden_states, base if heads.config.share_lm_head else None)


def load_safetensors(path: Path) -> dict[str, Any]:
    return safetensors_torch.load_file(str(path))


# --- names, shapes, config fields ----------------------------------------------------------


def test_fasterdecoding_files_hold_exactly_the_expected_names_and_shapes(tmp_path: Path) -> None:
    heads, base = random_heads(16, 50, 3, 1, True, seed=0)
    out = export_fasterdecoding(heads, tmp_path / "fd", base_model=BASE, lm_head=base)
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "medusa_lm_head.pt",
        "medusa_lm_head.safetensors",
    ]
    expected = {
        "0.0.linear.weight": (16, 16),
        "0.0.linear.bias": (16,),
        "0.1.weight": (50, 16),
        "1.0.linear.weight": (16, 16),
        "1.0.linear.bias": (16,),
        "1.1.weight": (50, 16),
        "2.0.linear.weight": (16, 16),
        "2.0.linear.bias": (16,),
        "2.1.weight": (50, 16),
    }
    flat = load_safetensors(out / "medusa_lm_head.safetensors")
    pickled = torch.load(out / "medusa_lm_head.pt", weights_only=True)
    for state in (flat, pickled):
        assert {name: tuple(t.shape) for name, t in state.items()} == expected
        assert {t.dtype for t in state.values()} == {torch.bfloat16}
    # FasterDecoding's MedusaConfig fields, and nothing that would make text-generation-inference
    # take the config for another speculator ("architectures") or transformers for a full model.
    assert json.loads((out / "config.json").read_text()) == {
        "medusa_num_heads": 3,
        "medusa_num_layers": 1,
        "base_model_name_or_path": BASE,
    }


def test_fasterdecoding_pickle_stores_a_shared_projection_once(tmp_path: Path) -> None:
    heads, base = random_heads(16, 400, 4, 1, True, seed=1)
    out = export_fasterdecoding(heads, tmp_path, base_model=BASE, lm_head=base)
    projection_bytes = 400 * 16 * 2
    pt_size = (out / "medusa_lm_head.pt").stat().st_size
    st_size = (out / "medusa_lm_head.safetensors").stat().st_size
    assert st_size > 4 * projection_bytes
    assert pt_size < 2 * projection_bytes
    pickled = torch.load(out / "medusa_lm_head.pt", weights_only=True)
    torch.testing.assert_close(pickled["3.1.weight"], base.weight.to(torch.bfloat16))


def test_vllm_shared_head_is_one_original_lm_head(tmp_path: Path) -> None:
    heads, base = random_heads(16, 50, 3, 2, True, seed=2)
    out = export_vllm(heads, tmp_path, base_model=BASE, lm_head=base)
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    state = load_safetensors(out / "model.safetensors")
    expected = {"lm_head.weight": (50, 16)}
    for i in range(3):
        for j in range(2):
            expected[f"blocks.{i}.layers.{j}.weight"] = (16, 16)
            expected[f"blocks.{i}.layers.{j}.bias"] = (16,)
    assert {name: tuple(t.shape) for name, t in state.items()} == expected
    config = json.loads((out / "config.json").read_text())
    assert config == {
        "model_type": "medusa",
        "architectures": ["MedusaModel"],
        "hidden_size": 16,
        "vocab_size": 50,
        "num_heads": 3,
        "num_hidden_layers": 2,
        "truncated_vocab_size": 50,
        "medusa_fc_bias": True,
        "original_lm_head": True,
        "logit_scale": 1.0,
        "max_paths": 64,
        "topk": 10,
        "base_model_name_or_path": BASE,
    }
    # vLLM renames every key holding "num"; ours are already the names it renames to.
    assert {k: v for k, v in vllm_config(out).items()} == config


def test_vllm_own_projections_are_lm_heads(tmp_path: Path) -> None:
    heads, _ = random_heads(8, 30, 2, 1, False, seed=3)
    out = export_vllm(heads, tmp_path, base_model=BASE, dtype=torch.float16)
    state = load_safetensors(out / "model.safetensors")
    assert sorted(state) == [
        "blocks.0.layers.0.bias",
        "blocks.0.layers.0.weight",
        "blocks.1.layers.0.bias",
        "blocks.1.layers.0.weight",
        "lm_heads.0.weight",
        "lm_heads.1.weight",
    ]
    assert tuple(state["lm_heads.1.weight"].shape) == (30, 8)
    assert {t.dtype for t in state.values()} == {torch.float16}
    assert json.loads((out / "config.json").read_text())["original_lm_head"] is False


# --- real round trips ----------------------------------------------------------------------


def round_trip_cases(test: Any) -> Any:
    """Random sizes, head and layer counts, both kinds of vocabulary projection."""
    cases = given(
        hidden=st.integers(2, 12),
        vocab=st.integers(2, 40),
        num_heads=st.integers(1, 4),
        num_layers=st.integers(1, 3),
        share=st.booleans(),
        seed=st.integers(0, 2**16),
    )
    return settings(max_examples=12, deadline=None)(cases(test))


@round_trip_cases
def test_vllm_round_trip_gives_our_logits(
    tmp_path_factory: pytest.TempPathFactory,
    hidden: int,
    vocab: int,
    num_heads: int,
    num_layers: int,
    share: bool,
    seed: int,
) -> None:
    heads, base = random_heads(hidden, vocab, num_heads, num_layers, share, seed)
    folder = tmp_path_factory.mktemp("vllm")
    export_heads(heads, folder, format="vllm", base_model=BASE, lm_head=base, dtype="float32")
    target = VllmMedusa(vllm_config(folder))
    target.load_weights(load_safetensors(folder / "model.safetensors"))
    hidden_states = torch.randn(2, 5, hidden, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        torch.testing.assert_close(target(hidden_states), our_logits(heads, base, hidden_states))


@round_trip_cases
def test_fasterdecoding_round_trip_gives_our_logits(
    tmp_path_factory: pytest.TempPathFactory,
    hidden: int,
    vocab: int,
    num_heads: int,
    num_layers: int,
    share: bool,
    seed: int,
) -> None:
    # FasterDecoding repeats one ResBlock per head, so only heads whose layers agree export.
    heads, base = random_heads(
        hidden, vocab, num_heads, num_layers, share, seed, same_layers=num_layers > 1
    )
    folder = tmp_path_factory.mktemp("fd")
    export_heads(
        heads, folder, format="fasterdecoding", base_model=BASE, lm_head=base, dtype="float32"
    )
    config = json.loads((folder / "config.json").read_text())
    hidden_states = torch.randn(3, hidden, generator=torch.Generator().manual_seed(seed))
    expected = our_logits(heads, base, hidden_states)
    for state in (
        load_safetensors(folder / "medusa_lm_head.safetensors"),
        torch.load(folder / "medusa_lm_head.pt", weights_only=True),
    ):
        target = fasterdecoding_medusa_head(
            hidden, vocab, config["medusa_num_heads"], config["medusa_num_layers"]
        )
        target.load_state_dict(state, strict=True)
        with torch.no_grad():
            logits = torch.stack([head(hidden_states) for head in target])
        torch.testing.assert_close(logits, expected)


def test_bfloat16_export_matches_heads_in_bfloat16(tmp_path: Path) -> None:
    heads, base = random_heads(16, 50, 3, 1, True, seed=4)
    export_vllm(heads, tmp_path, base_model=BASE, lm_head=base)
    target = VllmMedusa(vllm_config(tmp_path)).to(torch.bfloat16)
    target.load_weights(load_safetensors(tmp_path / "model.safetensors"))
    hidden_states = torch.randn(4, 16).to(torch.bfloat16)
    with torch.no_grad():
        expected = heads.to(torch.bfloat16)(hidden_states, base.to(torch.bfloat16))
        torch.testing.assert_close(target(hidden_states), expected)


def test_export_again_into_the_same_folder_replaces_the_files(tmp_path: Path) -> None:
    first, base = random_heads(8, 20, 2, 1, True, seed=5)
    second, _ = random_heads(8, 20, 2, 1, True, seed=6)
    export_vllm(first, tmp_path, base_model=BASE, lm_head=base, dtype="float32")
    export_vllm(second, tmp_path, base_model=BASE, lm_head=base, dtype="float32")
    state = load_safetensors(tmp_path / "model.safetensors")
    torch.testing.assert_close(
        state["blocks.1.layers.0.weight"], second.blocks[1][0].linear.weight.detach()
    )


# --- bad arguments -------------------------------------------------------------------------


@pytest.fixture
def shared() -> tuple[Any, Any]:
    return random_heads(8, 20, 2, 1, True, seed=7)


def test_unknown_format(tmp_path: Path, shared: tuple[Any, Any]) -> None:
    heads, base = shared
    with pytest.raises(InvalidInputError, match=r"format='tgi' is invalid.*'fasterdecoding'"):
        export_heads(heads, tmp_path, format="tgi", base_model=BASE, lm_head=base)  # type: ignore[arg-type]


@pytest.mark.parametrize("format", ["fasterdecoding", "vllm"])
def test_shared_heads_need_the_lm_head(
    tmp_path: Path, shared: tuple[Any, Any], format: Any
) -> None:
    heads, _ = shared
    with pytest.raises(InvalidInputError, match=r"lm_head=None.*get_output_embeddings"):
        export_heads(heads, tmp_path, format=format, base_model=BASE)
    assert list(tmp_path.iterdir()) == []


def test_lm_head_of_the_wrong_shape(tmp_path: Path, shared: tuple[Any, Any]) -> None:
    heads, _ = shared
    with pytest.raises(InvalidInputError, match=r"lm_head=.*\(21, 8\).*\(20, 8\)"):
        export_vllm(heads, tmp_path, base_model=BASE, lm_head=nn.Linear(8, 21, bias=False))


def test_lm_head_with_a_bias(tmp_path: Path, shared: tuple[Any, Any]) -> None:
    heads, _ = shared
    with pytest.raises(InvalidInputError, match=r"lm_head=.*bias"):
        export_vllm(heads, tmp_path, base_model=BASE, lm_head=nn.Linear(8, 20))


def test_lm_head_without_a_weight(tmp_path: Path, shared: tuple[Any, Any]) -> None:
    heads, _ = shared
    with pytest.raises(InvalidTypeError, match=r"lm_head='head' is invalid"):
        export_vllm(heads, tmp_path, base_model=BASE, lm_head="head")


def test_lm_head_as_a_tensor(tmp_path: Path, shared: tuple[Any, Any]) -> None:
    heads, base = shared
    export_vllm(heads, tmp_path, base_model=BASE, lm_head=base.weight, dtype="float32")
    state = load_safetensors(tmp_path / "model.safetensors")
    torch.testing.assert_close(state["lm_head.weight"], base.weight.detach())


@pytest.mark.parametrize("base_model", ["", "   ", None, 3])
def test_base_model_must_be_named(tmp_path: Path, shared: tuple[Any, Any], base_model: Any) -> None:
    heads, base = shared
    with pytest.raises(InvalidInputError, match=r"base_model=.*non-empty string"):
        export_fasterdecoding(heads, tmp_path, base_model=base_model, lm_head=base)


@pytest.mark.parametrize("dtype", ["int8", "fp16", 16, "float64"])
def test_unsupported_dtype(tmp_path: Path, shared: tuple[Any, Any], dtype: Any) -> None:
    heads, base = shared
    with pytest.raises(InvalidInputError, match=r"dtype=.*'bfloat16', 'float16', 'float32'"):
        export_vllm(heads, tmp_path, base_model=BASE, lm_head=base, dtype=dtype)


def test_heads_must_be_medusa_heads(tmp_path: Path) -> None:
    with pytest.raises(InvalidTypeError, match=r"heads=.*must be a MedusaHeads \(got Linear\)"):
        export_vllm(nn.Linear(2, 2), tmp_path, base_model=BASE)


def test_non_finite_weights(tmp_path: Path, shared: tuple[Any, Any]) -> None:
    heads, base = shared
    with torch.no_grad():
        heads.blocks[1][0].linear.bias[3] = float("nan")
    with pytest.raises(InvalidInputError, match=r"blocks\.1\.0\.linear\.bias.*finite"):
        export_fasterdecoding(heads, tmp_path, base_model=BASE, lm_head=base)


def test_folder_holding_other_files(tmp_path: Path, shared: tuple[Any, Any]) -> None:
    heads, base = shared
    (tmp_path / "heads.safetensors").write_bytes(b"")
    with pytest.raises(InvalidInputError, match=r"folder=.*heads\.safetensors.*empty folder"):
        export_vllm(heads, tmp_path, base_model=BASE, lm_head=base)
    # The other format's files count as other files: one folder per format.
    export_fasterdecoding(heads, tmp_path / "fd", base_model=BASE, lm_head=base)
    with pytest.raises(InvalidInputError, match=r"medusa_lm_head"):
        export_vllm(heads, tmp_path / "fd", base_model=BASE, lm_head=base)


def test_folder_that_is_a_file(tmp_path: Path, shared: tuple[Any, Any]) -> None:
    heads, base = shared
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidInputError, match=r"folder=.*it is a file"):
        export_vllm(heads, tmp_path / "file", base_model=BASE, lm_head=base)


def test_fasterdecoding_refuses_different_layers_in_a_head(tmp_path: Path) -> None:
    heads, base = random_heads(8, 20, 2, 2, True, seed=8)
    with pytest.raises(InvalidInputError, match=r"\[ResBlock\(H\)\] \* num_layers.*format='vllm'"):
        export_fasterdecoding(heads, tmp_path, base_model=BASE, lm_head=base)
    assert list(tmp_path.iterdir()) == []
    export_vllm(heads, tmp_path, base_model=BASE, lm_head=base)  # vLLM keeps layers apart
