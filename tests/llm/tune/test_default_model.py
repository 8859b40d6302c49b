"""One short LoRA step on the embedded SmolLM2-135M: train, register, load by name, generate."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from tessera.llm import DEFAULT_MODEL, load  # noqa: E402
from tessera.llm.tune import TuneParams, fine_tune, register_model  # noqa: E402

RECORDS = [
    {
        "system": "Answer with one word.",
        "messages": [
            {"role": "user", "content": "Colour of the sky?"},
            {"role": "assistant", "content": "Blue."},
        ],
    },
    {
        "messages": [
            {"role": "user", "content": "Colour of grass?"},
            {"role": "assistant", "content": "Green."},
        ]
    },
]


def test_default_model_round_trip(default_runtime: Any, tmp_path: Path) -> None:
    # default_runtime: the model is converted under the shared TESSERA_HOME already.
    result = fine_tune(
        RECORDS,
        params=TuneParams(epoch_count=1, batch_size=2, lora_rank=2),
        output=tmp_path / "run",
        progress=False,
    )
    assert result.base_model == DEFAULT_MODEL and result.steps == 1
    assert 0 < result.training[0].loss < 10
    version = register_model(result, f"test-{uuid.uuid4().hex[:8]}")
    try:
        runtime = load(version.spec)
        assert runtime.name == version.spec and runtime.heads is None  # shipped heads not reused
        reply = runtime.generate("Colour of the sky?", max_new_tokens=4)
        assert 1 <= len(reply.token_ids) <= 4
    finally:
        shutil.rmtree(version.folder.parent)  # the shared TESSERA_HOME keeps no test models
