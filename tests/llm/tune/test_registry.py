"""Custom model versions: register, list, load by name (runtime and backends), merge."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from tessera.errors import InvalidInputError  # noqa: E402
from tessera.llm import load  # noqa: E402
from tessera.llm._model import load_model, resolve_model_folder  # noqa: E402
from tessera.llm.tune import (  # noqa: E402
    TuneParams,
    fine_tune,
    get_model,
    list_models,
    register_model,
    train_heads,
)
from tessera.llm.tune._registry import MODEL_RECORD  # noqa: E402

RECORDS = [
    {
        "messages": [
            {"role": "user", "content": f"what is {word}"},
            {"role": "assistant", "content": f"{answer} is one"},
        ]
    }
    for word, answer in [("cat", "dog"), ("sun", "moon"), ("sea", "river"), ("car", "road")] * 4
]


@pytest.fixture(scope="module")
def run(tiny_llama: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return fine_tune(
        RECORDS,
        model=tiny_llama.folder,
        params=TuneParams(epoch_count=3, batch_size=4, learning_rate_multiplier=2.0),
        output=tmp_path_factory.mktemp("registry-run") / "out",
        progress=False,
    )


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path))
    return tmp_path


def _logits(model: Any, ids: list[int]) -> Any:
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0].float()


def _peft_reference(tiny_llama: Any, folder: Path) -> Any:
    """The adapter applied by peft itself to a fresh float32 base (no merging)."""
    import peft

    from tessera.llm.tune._train import quiet_peft

    base = load_model(tiny_llama.folder, dtype="float32").model
    with quiet_peft():
        return peft.PeftModel.from_pretrained(base, folder).eval()


def test_register_and_load_by_name_round_trip(run: Any, tiny_llama: Any, home: Path) -> None:
    first = register_model(run, "mapper")
    assert (first.name, first.version, first.spec) == ("mapper", 1, "custom:mapper@1")
    assert first.folder == home / "models" / "custom" / "mapper" / "v1"
    assert not first.merged and (first.folder / "adapter_model.safetensors").is_file()
    assert first.base_model == str(Path(tiny_llama.folder).resolve())
    assert first.training["steps"] == run.steps
    runtime = load("custom:mapper", dtype="float32")
    assert runtime.name == "custom:mapper@1" and runtime.heads is None
    ids = runtime.encode("what is cat")
    reference = _peft_reference(tiny_llama, run.folder)
    torch.testing.assert_close(_logits(runtime.model, ids), _logits(reference, ids))
    # ... and the adapter changed the model.
    base = load_model(tiny_llama.folder, dtype="float32").model
    assert not torch.allclose(_logits(runtime.model, ids), _logits(base, ids))


def test_versions_count_up_and_names_resolve(run: Any, home: Path) -> None:
    versions = [register_model(run.folder, "mapper").version for _ in range(3)]
    assert versions == [1, 2, 3]
    register_model(run, "other")
    assert get_model("custom:mapper").version == 3
    assert get_model("mapper@2").version == 2
    assert get_model("custom:mapper@v1").version == 1
    assert resolve_model_folder("custom:mapper@2") == (
        home / "models" / "custom" / "mapper" / "v2",
        "custom:mapper@2",
    )
    assert [m.spec for m in list_models()] == [
        "custom:mapper@1",
        "custom:mapper@2",
        "custom:mapper@3",
        "custom:other@1",
    ]
    assert [m.version for m in list_models("other")] == [1]
    record = json.loads((home / "models" / "custom" / "mapper" / "v2" / MODEL_RECORD).read_text())
    assert record["version"] == 2 and record["name"] == "mapper"


def test_concurrent_registrations_get_distinct_versions(run: Any, home: Path) -> None:
    got: list[int] = []
    errors: list[BaseException] = []

    def register() -> None:
        try:
            got.append(register_model(run.folder, "busy").version)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and sorted(got) == [1, 2, 3, 4]
    leftovers = [p.name for p in (home / "models" / "custom" / "busy").iterdir()]
    assert sorted(leftovers) == ["v1", "v2", "v3", "v4"]


def test_unknown_names_and_versions_say_what_exists(run: Any, home: Path) -> None:
    register_model(run, "mapper")
    with pytest.raises(InvalidInputError, match=r"no custom model named 'nope'.*\['mapper'\]"):
        load("custom:nope")
    with pytest.raises(InvalidInputError, match=r"no version 9 \(versions: \[1\]\)"):
        get_model("custom:mapper@9")
    with pytest.raises(InvalidInputError, match="custom:<name>@<version>"):
        get_model("custom:mapper@latest")
    with pytest.raises(InvalidInputError, match="name="):
        register_model(run, "../escape")
    with pytest.raises(InvalidInputError, match="fine_tune"):
        register_model(home, "mapper")


def test_merged_weights_load_without_the_adapter(run: Any, tiny_llama: Any, home: Path) -> None:
    merged = register_model(run, "mapper", merge=True)
    assert merged.merged and (merged.folder / "config.json").is_file()
    assert (merged.folder / "adapter" / "adapter_config.json").is_file()
    assert not (merged.folder / "adapter_config.json").exists()
    runtime = load(merged.spec, dtype="float32")
    ids = runtime.encode("what is sun")
    reference = _peft_reference(tiny_llama, run.folder)
    # Merged weights are stored in bf16: equal up to bf16 rounding.
    torch.testing.assert_close(
        _logits(runtime.model, ids), _logits(reference, ids), atol=0.05, rtol=0.05
    )


def test_backends_reach_the_custom_model_by_id(run: Any, home: Path) -> None:
    backends = pytest.importorskip("tessera.llm.backends")
    register_model(run, "mapper")
    params = backends.GenerationParams(max_tokens=6)
    backend = backends.get_backend("tessera:custom:mapper@1")
    reply = backend.chat([{"role": "user", "content": "what is cat"}], params)
    direct = load("custom:mapper@1").generate("what is cat", max_new_tokens=6)
    assert reply.text == direct.text and reply.completion_tokens == len(direct.token_ids)


def test_medusa_heads_for_a_tuned_model(run: Any, home: Path) -> None:
    version = register_model(run, "mapper")
    result = train_heads(
        version.spec,
        prompts=["what is cat", "what is sun", "what is sea", "what is car"] * 4,
        max_new_tokens=8,
        generation_batch_size=8,
        num_heads=2,
        epochs=1,
        batch_size=16,
        heldout=0,
        validation_fraction=0.25,
        progress=False,
    )
    assert len(result.top1) == 2
    assert get_model(version.spec).has_medusa
    runtime = load(version.spec)
    assert runtime.heads is not None
    # Medusa greedy decoding equals plain greedy decoding of the tuned model.
    with_heads = runtime.generate("what is sun", max_new_tokens=8)
    plain = runtime.generate("what is sun", max_new_tokens=8, medusa=False)
    assert with_heads.token_ids == plain.token_ids and with_heads.medusa
