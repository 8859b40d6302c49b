"""Root-conditioned Medusa heads: each head also sees the embedding of the root token."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tessera.errors import InvalidInputError  # noqa: E402
from tessera.llm.medusa import (  # noqa: E402
    DistillationData,
    MedusaConfig,
    MedusaHeads,
    export_heads,
    load_heads,
    save_heads,
    train_medusa,
)
from tessera.llm.medusa._decode import DecodeStats, medusa_generate, plain_generate  # noqa: E402
from tessera.llm.medusa._train import (  # noqa: E402
    cache_hidden_states,
    cache_training_states,
    evaluate_heads,
    fit_heads,
    top_k_accuracy,
)
from tessera.llm.medusa._tree import build_tree  # noqa: E402

H, V = 32, 300


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> None:
    torch.set_num_threads(1)


def random_blocks(heads: MedusaHeads, seed: int) -> MedusaHeads:
    """Give every ResBlock (and projection, if any) random weights."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in heads.blocks:
            block[0].linear.weight.copy_(torch.randn(H, H, generator=generator) * 0.3)
            block[0].linear.bias.copy_(torch.randn(H, generator=generator) * 0.3)
        for layer in heads.token_proj or []:
            layer.weight.copy_(torch.randn(H, H, generator=generator) * 0.3)
    heads.eval()
    return heads


def conditioned(num_heads: int = 3, seed: int = 1) -> MedusaHeads:
    return random_blocks(
        MedusaHeads(MedusaConfig(H, V, num_heads=num_heads, root_conditioned=True)), seed
    )


def test_config_field_is_validated_and_defaults_off() -> None:
    assert MedusaConfig(H, V).root_conditioned is False
    assert MedusaConfig(H, V).to_dict()["root_conditioned"] is False
    assert MedusaHeads(MedusaConfig(H, V)).token_proj is None
    with pytest.raises(InvalidInputError, match="root_conditioned"):
        MedusaConfig(H, V, root_conditioned="yes")  # type: ignore[arg-type]


def test_zero_initialised_conditioned_heads_equal_plain_heads() -> None:
    plain = random_blocks(MedusaHeads(MedusaConfig(H, V, num_heads=3)), seed=3)
    fresh = MedusaHeads(MedusaConfig(H, V, num_heads=3, root_conditioned=True)).eval()
    fresh.blocks.load_state_dict(plain.blocks.state_dict())
    assert all(not p.weight.detach().any() for p in fresh.token_proj)
    lm_head = torch.nn.Linear(H, V, bias=False)
    hidden, root = torch.randn(5, H), torch.randn(5, H)
    torch.testing.assert_close(fresh.hidden(hidden, root), plain.hidden(hidden))
    torch.testing.assert_close(fresh(hidden, lm_head, root), plain(hidden, lm_head))
    assert torch.equal(
        fresh.candidates(hidden[0], lm_head, 4, root[0]), plain.candidates(hidden[0], lm_head, 4)
    )
    # Plain heads ignore a root embedding.
    torch.testing.assert_close(plain.hidden(hidden, root), plain.hidden(hidden))


def test_the_root_embedding_changes_conditioned_outputs() -> None:
    heads = conditioned()
    hidden = torch.randn(H)
    a, b = heads.hidden(hidden, torch.randn(H)), heads.hidden(hidden, torch.randn(H))
    assert not torch.allclose(a, b)


def test_missing_or_misshaped_root_embedding_is_refused() -> None:
    heads = conditioned()
    lm_head = torch.nn.Linear(H, V, bias=False)
    with pytest.raises(InvalidInputError, match="root_embedding=None.*root-conditioned"):
        heads.candidates(torch.randn(H), lm_head, 3)
    with pytest.raises(InvalidInputError, match="root_embedding"):
        heads(torch.randn(4, H), lm_head)
    with pytest.raises(InvalidInputError, match=r"shape \(3, 32\)"):
        heads.hidden(torch.randn(4, H), torch.randn(3, H))


def _root_pattern(count: int, seed: int) -> tuple[Any, Any, Any]:
    """Uninformative hidden states; head k's target is a fixed function of the root only."""
    generator = torch.Generator().manual_seed(seed)
    hidden = torch.randn(count, H, generator=generator)
    roots = torch.randint(0, 40, (count,), generator=generator)
    targets = torch.stack([(3 * roots + 7) % 40, (5 * roots + 1) % 40], dim=1)
    return hidden, targets, roots


@pytest.mark.parametrize("root_conditioned", [False, True])
def test_conditioned_heads_learn_what_plain_heads_cannot(root_conditioned: bool) -> None:
    torch.manual_seed(0)
    embedding, weight = torch.randn(V, H), torch.randn(V, H)
    hidden, targets, roots = _root_pattern(1600, seed=0)
    test_hidden, test_targets, test_roots = _root_pattern(400, seed=1)
    config = MedusaConfig(H, V, num_heads=2, root_conditioned=root_conditioned)
    heads, _ = fit_heads(
        config,
        hidden,
        targets,
        weight,
        roots=roots,
        embedding=embedding,
        epochs=10,
        learning_rate=1e-2,
        batch_size=64,
        seed=0,
        progress=False,
    )
    accuracies, _ = evaluate_heads(
        heads, test_hidden, test_targets, weight, roots=test_roots, embedding=embedding
    )
    top1 = top_k_accuracy(accuracies, 1)
    if root_conditioned:
        assert min(top1) > 0.9
    else:  # 40 equally likely targets, nothing in the hidden state about them
        assert max(top1) < 0.15


def test_conditioned_training_needs_the_roots() -> None:
    hidden, targets, roots = _root_pattern(64, seed=0)
    config = MedusaConfig(H, V, num_heads=2, root_conditioned=True)
    common = dict(epochs=1, learning_rate=1e-2, batch_size=32, seed=0, progress=False)
    with pytest.raises(InvalidInputError, match="roots=None.*cache_training_states"):
        fit_heads(config, hidden, targets, torch.randn(V, H), **common)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="roots='3 ids'"):
        evaluate_heads(
            MedusaHeads(config),
            hidden,
            targets,
            torch.randn(V, H),
            roots=roots[:3],
            embedding=torch.randn(V, H),
        )


def test_cache_training_states_roots_are_the_next_tokens(tiny_llama: Any) -> None:
    sequence = np.array([2, 4, 9, 3, 2, 5, 120, 121, 122, 123, 3])
    data = DistillationData([sequence], np.array([6]), ["p"])
    hidden, targets, roots = cache_training_states(tiny_llama.model, data, [0], num_heads=2)
    old_hidden, old_targets = cache_hidden_states(tiny_llama.model, data, [0], num_heads=2)
    assert torch.equal(hidden, old_hidden) and torch.equal(targets, old_targets)
    # Positions 5..9 (last prompt token to second-to-last token): roots are tokens 6..10.
    assert roots.tolist() == sequence[6:].tolist()
    assert targets[:, 0].tolist() == [*sequence[7:].tolist(), -100]


def _pairs(samples: int, seed: int) -> DistillationData:
    """Responses of (a, f(a)) pairs with a random: f(a) is known only from the root a."""
    rng = np.random.default_rng(seed)
    sequences = []
    for _ in range(samples):
        firsts = rng.integers(100, 130, 12)
        response = np.stack([firsts, 130 + (firsts - 100) * 7 % 30], axis=1).ravel()
        sequences.append(np.concatenate([[2, 4, 9, 3, 2, 5], response]))
    return DistillationData(sequences, np.array([6] * samples), ["p"] * samples)


def test_train_medusa_root_conditioned_end_to_end(tiny_llama: Any) -> None:
    # The tiny model's tables are initialised with std 0.02; scaled up 25 times their rows
    # are about as long, next to the hidden states, as a real model's.
    model = copy.deepcopy(tiny_llama.model)
    with torch.no_grad():
        model.get_input_embeddings().weight.mul_(25)
        model.get_output_embeddings().weight.mul_(25)
    data = _pairs(60, seed=0)
    kwargs: dict[str, Any] = dict(
        num_heads=2, epochs=15, learning_rate=3e-2, batch_size=64, progress=False
    )
    plain = train_medusa(model, data, validation_fraction=0.2, **kwargs)
    rooted = train_medusa(model, data, validation_fraction=0.2, root_conditioned=True, **kwargs)
    assert rooted.heads.config.root_conditioned and rooted.facts["root_conditioned"]
    assert not plain.heads.config.root_conditioned and not plain.facts["root_conditioned"]
    # Half the positions have a root a whose successor f(a) is fixed: conditioned heads get
    # those (at most about 0.52); plain heads cannot know a, drawn after the hidden state.
    assert rooted.top1[0] > 0.4
    assert plain.top1[0] < 0.1


def test_medusa_with_conditioned_heads_is_exactly_plain_greedy(tiny_llama: Any) -> None:
    model = tiny_llama.model
    embedding = model.get_input_embeddings().weight
    seen: list[tuple[int, Any]] = []
    stats = DecodeStats()

    class Recording(MedusaHeads):
        def candidates(
            self,
            hidden_state: Any,
            lm_head: Any,
            topk: int,
            root_embedding: Any = None,
            count: int | None = None,
        ) -> Any:
            seen.append((stats.tokens, root_embedding.clone()))
            return super().candidates(hidden_state, lm_head, topk, root_embedding, count)

    heads = Recording(MedusaHeads(MedusaConfig(H, V, 3, root_conditioned=True)).config)
    heads.load_state_dict(conditioned().state_dict())
    heads.eval()
    tree = build_tree([[0.5, 0.2, 0.1], [0.3, 0.1, 0.1], [0.2, 0.1, 0.1]], 8)
    for prompt in ([2, 4, 9, 3, 2, 5], [2, 60, 61, 62]):
        seen.clear()
        stats.tokens = 0
        expected = [t for s in plain_generate(model, prompt, max_new_tokens=30) for t in s]
        got = [
            t
            for s in medusa_generate(model, heads, tree, prompt, max_new_tokens=30, stats=stats)
            for t in s
        ]
        assert got == expected
        assert seen  # the heads ran, and always saw the embedding of the chosen root
        for position, root_embedding in seen:
            torch.testing.assert_close(root_embedding, embedding[expected[position]])


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    heads = conditioned(num_heads=2, seed=5)
    heads.set_token_map([1, 5, 9, 200])
    save_heads(heads, tmp_path / "heads")
    loaded, _ = load_heads(tmp_path / "heads", dtype=torch.float32)
    assert loaded.config == heads.config and loaded.config.root_conditioned
    assert torch.equal(loaded.token_map, heads.token_map)
    rounded = copy.deepcopy(heads).to(torch.bfloat16).to(torch.float32)
    hidden, root = torch.randn(6, H), torch.randn(6, H)
    torch.testing.assert_close(loaded.hidden(hidden, root), rounded.hidden(hidden, root))
    for ours, theirs in zip(loaded.token_proj, rounded.token_proj, strict=True):
        assert torch.equal(ours.weight, theirs.weight)


@pytest.mark.parametrize("fmt", ["fasterdecoding", "vllm"])
def test_export_refuses_conditioned_heads(tmp_path: Path, fmt: Any) -> None:
    lm_head = torch.nn.Linear(H, V, bias=False)
    with pytest.raises(InvalidInputError, match=rf"heads=.*root_conditioned=True.*{fmt}.*plain"):
        export_heads(conditioned(), tmp_path / "out", format=fmt, base_model="b", lm_head=lm_head)
    assert not (tmp_path / "out").exists()
