"""Medusa-1 and Medusa-2 training on the tiny random Llama, and the shipped heads."""

from __future__ import annotations

import copy
import math
from importlib import resources
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tessera.errors import InvalidInputError  # noqa: E402
from tessera.llm.medusa import (  # noqa: E402
    DistillationData,
    MedusaConfig,
    MedusaHeads,
    load_heads,
    save_heads,
    train_default_heads,
    train_medusa,
    train_medusa2,
)
from tessera.llm.medusa._io import HeadsMetadata  # noqa: E402
from tessera.llm.medusa._train import cache_hidden_states, evaluate_heads  # noqa: E402

PERIOD, STEP, BASE = 40, 3, 100


def _pattern_data(samples: int = 60, length: int = 30, seed: int = 0) -> DistillationData:
    """Responses that walk a cycle of 40 tokens by 3: every next token is determined."""
    rng = np.random.default_rng(seed)
    sequences, prompt_lengths = [], []
    for _ in range(samples):
        prompt = [2, 4, *rng.integers(10, 90, 5).tolist(), 3, 2, 5]
        start = int(rng.integers(0, PERIOD))
        response = [BASE + (start + STEP * j) % PERIOD for j in range(length)]
        sequences.append(np.array(prompt + response))
        prompt_lengths.append(len(prompt))
    return DistillationData(sequences, np.array(prompt_lengths), ["p"] * samples)


@pytest.fixture(scope="module")
def pattern() -> DistillationData:
    return _pattern_data()


@pytest.fixture(scope="module")
def trained(tiny_llama, pattern):
    return train_medusa(
        tiny_llama.model,
        pattern,
        num_heads=3,
        epochs=12,
        learning_rate=1e-2,
        batch_size=64,
        progress=False,
        validation_fraction=0.1,
    )


def test_targets_are_the_tokens_k_plus_1_ahead(tiny_llama) -> None:
    sequence = np.array([2, 4, 7, 20, 21, 22, 23])  # prompt of 3, response of 4
    data = DistillationData([sequence], np.array([3]), ["x"])
    hidden, targets = cache_hidden_states(tiny_llama.model, data, [0], num_heads=3)
    # positions 2..5: from the last prompt token to the second-to-last token
    assert targets.tolist() == [[21, 22, 23], [22, 23, -100], [23, -100, -100], [-100] * 3]
    with torch.no_grad():
        full = tiny_llama.model.model(input_ids=torch.from_numpy(sequence)[None]).last_hidden_state[
            0
        ]
    torch.testing.assert_close(hidden, full[2:6])


def test_loss_falls_and_heads_learn_the_pattern(tiny_llama, pattern, trained) -> None:
    assert trained.losses[-1] < 0.8 * trained.losses[0]
    assert all(math.isfinite(x) for x in trained.losses)
    # chance is 1/300; zero-initialised heads repeat the base model's next-token guess
    fresh = MedusaHeads(MedusaConfig(32, 300, num_heads=3))
    hidden, targets = cache_hidden_states(tiny_llama.model, pattern, range(len(pattern)), 3)
    before, _ = evaluate_heads(fresh, hidden, targets, tiny_llama.model.lm_head.weight)
    for k in range(3):
        assert trained.top1[k] > 0.25
        assert trained.top5[k] > 0.5
        assert trained.top1[k] > before[k][0] + 0.2


def test_head_k_predicts_the_step_it_was_trained_for(tiny_llama, pattern, trained) -> None:
    """A head shifted by one position would be right almost never on this cycle."""
    hidden, targets = cache_hidden_states(tiny_llama.model, pattern, range(len(pattern)), 3)
    weight = tiny_llama.model.lm_head.weight
    with torch.no_grad():
        top = torch.nn.functional.linear(trained.heads.hidden(hidden), weight).argmax(-1)
    for k in range(3):
        valid = targets[:, k] >= 0
        right = (top[k][valid] == targets[valid, k]).float().mean()
        shifted = (top[k][valid][:-1] == targets[valid, k][1:]).float().mean()
        assert right > 0.25 and shifted < 0.1


def test_accuracies_shape_and_consistency(trained) -> None:
    assert len(trained.accuracies) == 3
    for k, row in enumerate(trained.accuracies):
        assert len(row) == 10
        assert all(0 <= a <= 1 for a in row) and sum(row) <= 1 + 1e-9
        assert trained.top1[k] == row[0]
        assert trained.top5[k] == pytest.approx(sum(row[:5]))
    assert trained.validation_positions > 0 and trained.train_positions > 0
    assert trained.facts["validation_samples"] == 6
    assert math.isfinite(trained.validation_loss)
    assert trained.seconds >= trained.cache_seconds > 0
    params = list(trained.heads.parameters())
    assert all(p.dtype == torch.float32 and not p.requires_grad for p in params)


def test_seen_vocabulary_learns_too(tiny_llama, pattern) -> None:
    result = train_medusa(
        tiny_llama.model,
        pattern,
        num_heads=2,
        epochs=12,
        learning_rate=1e-2,
        batch_size=64,
        progress=False,
        validation_fraction=0.1,
        vocabulary="seen",
    )
    assert result.facts["softmax_size"] == 300  # the seen tokens + every other one
    assert min(result.top1) > 0.25
    seen = np.unique(np.concatenate([pattern.sequences[i] for i in range(len(pattern))]))
    assert set(result.heads.token_map.tolist()) <= set(seen.tolist())
    assert set(range(BASE, BASE + PERIOD)) <= set(result.heads.token_map.tolist())


def test_token_map_only_moves_right_answers_up(tiny_llama, pattern, trained) -> None:
    """Restricting proposals to a set that holds every target never lowers top-k hits."""
    hidden, targets = cache_hidden_states(tiny_llama.model, pattern, range(len(pattern)), 3)
    weight = tiny_llama.model.lm_head.weight
    heads = copy.deepcopy(trained.heads)
    full, _ = evaluate_heads(heads, hidden, targets, weight)
    heads.set_token_map(torch.arange(300))
    same, _ = evaluate_heads(heads, hidden, targets, weight)
    np.testing.assert_allclose(same, full)
    heads.set_token_map(torch.arange(BASE - 20, BASE + PERIOD + 20))
    narrow, _ = evaluate_heads(heads, hidden, targets, weight)
    assert (np.cumsum(narrow, axis=1) >= np.cumsum(full, axis=1) - 1e-12).all()


def test_same_seed_same_heads_and_no_side_effects(tiny_llama, pattern) -> None:
    before = {k: v.clone() for k, v in tiny_llama.model.state_dict().items()}
    runs = [
        train_medusa(tiny_llama.model, pattern, num_heads=2, epochs=1, progress=False)
        for _ in range(2)
    ]
    for a, b in zip(runs[0].heads.parameters(), runs[1].heads.parameters(), strict=True):
        assert torch.equal(a, b)
    after = tiny_llama.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_no_validation_split(tiny_llama, pattern) -> None:
    result = train_medusa(
        tiny_llama.model,
        pattern,
        num_heads=1,
        epochs=1,
        progress=True,
        validation_fraction=0,
    )
    assert result.accuracies == [] and result.top1 == [] and math.isnan(result.validation_loss)
    assert result.facts["validation_samples"] == 0


def test_save_load_round_trip(trained, tmp_path) -> None:
    meta = HeadsMetadata(accuracies=trained.accuracies, base_model="tiny", training={"e": 1})
    save_heads(trained.heads, tmp_path / "h", meta)
    heads, back = load_heads(tmp_path / "h", dtype=torch.float32)
    np.testing.assert_allclose(back.accuracies, trained.accuracies)
    assert back.base_model == "tiny" and back.training == {"e": 1}
    x = torch.randn(5, 32)
    torch.testing.assert_close(heads.hidden(x), trained.heads.hidden(x), atol=0.05, rtol=0.02)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"data": "nope"}, "data="),
        ({"data": DistillationData([], np.array([], dtype=int), [])}, "data="),
        ({"validation_fraction": 1.0}, "validation_fraction="),
        ({"validation_fraction": -0.1}, "validation_fraction="),
        ({"learning_rate": 0}, "learning_rate="),
        ({"epochs": 0}, "epochs="),
        ({"batch_size": 2.0}, "batch_size="),
        ({"seed": -1}, "seed="),
        ({"num_heads": 0}, "num_heads="),
        ({"vocabulary": "some"}, "vocabulary="),
        ({"progress": 1}, "progress="),
        ({"model": torch.nn.Linear(2, 2)}, "model="),
    ],
)
def test_bad_arguments(tiny_llama, pattern, kwargs: dict, name: str) -> None:
    args = {"model": tiny_llama.model, "data": pattern, "epochs": 1, "progress": False, **kwargs}
    with pytest.raises(InvalidInputError, match=name):
        train_medusa(args.pop("model"), args.pop("data"), **args)


def test_data_without_responses(tiny_llama) -> None:
    data = DistillationData([np.array([2, 4, 5])], np.array([3]), ["x"])
    with pytest.raises(InvalidInputError, match="no response tokens"):
        train_medusa(tiny_llama.model, data, progress=False, validation_fraction=0)


# --- Medusa-2 ------------------------------------------------------------------------


def test_medusa2_tunes_a_copy_with_the_heads(tiny_llama, pattern, trained) -> None:
    before = {k: v.clone() for k, v in tiny_llama.model.state_dict().items()}
    result = train_medusa2(
        tiny_llama.model,
        pattern,
        heads=trained.heads,
        epochs=2,
        learning_rate=1e-3,
        batch_size=8,
        progress=False,
        validation_fraction=0.1,
    )
    after = tiny_llama.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    state = result.model.state_dict()
    assert set(state) == set(before)  # LoRA merged away
    assert any(not torch.equal(state[k], before[k]) for k in before)  # and it moved
    # LoRA starts as the identity, so the first epoch's KL is small and stays finite
    assert 0 <= result.kl_losses[0] < 0.05
    assert all(math.isfinite(x) for x in result.losses)
    assert result.losses[0] == pytest.approx(result.kl_losses[0] + 0.2 * result.head_losses[0])
    assert len(result.accuracies) == 3 and min(result.top1) > 0.25
    # the heads given were copied, not trained in place
    assert all(not p.requires_grad for p in trained.heads.parameters())


def test_medusa2_warms_up_its_own_heads(tiny_llama) -> None:
    data = _pattern_data(samples=16, length=12, seed=1)
    result = train_medusa2(
        tiny_llama.model,
        data,
        num_heads=2,
        warmup_epochs=1,
        epochs=1,
        batch_size=8,
        progress=False,
        validation_fraction=0.2,
    )
    assert result.heads.config.num_heads == 2 and len(result.accuracies) == 2


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"heads_weight": 0}, "heads_weight="),
        ({"heads": "x"}, "heads="),
        ({"lora_rank": 0}, "lora_rank="),
        ({"heads_learning_rate": 2.0}, "heads_learning_rate="),
    ],
)
def test_medusa2_bad_arguments(tiny_llama, pattern, kwargs: dict, name: str) -> None:
    with pytest.raises(InvalidInputError, match=name):
        train_medusa2(tiny_llama.model, pattern, progress=False, **kwargs)


# --- the end-to-end recipe and the shipped heads ---------------------------------------


def test_train_default_heads_recipe_on_the_tiny_model(tiny_llama, tmp_path) -> None:
    result = train_default_heads(
        tmp_path / "heads",
        model=tiny_llama.folder,
        prompts=["explain the cat"] * 5,
        data_path=tmp_path / "data.npz",
        max_new_tokens=6,
        num_heads=2,
        epochs=1,
        vocabulary="full",
        validation_fraction=0.2,
        heldout=3,
        progress=False,
    )
    heads, meta = load_heads(tmp_path / "heads")
    assert heads.config.num_heads == 2 and heads.config.hidden_size == 32
    assert meta.base_model == str(tiny_llama.folder)
    assert meta.training["prompts"] == 5 and meta.training["generation_seconds"] > 0
    assert meta.training["heldout_prompts"] == 3
    assert meta.training["heldout_top1"] == [round(row[0], 4) for row in meta.accuracies]
    assert len(meta.accuracies) == 2 and len(meta.accuracies[0]) == 10
    assert meta.training["validation_top1"] == [round(x, 4) for x in result.top1]
    assert len(DistillationData.load(tmp_path / "data.npz")) == 5


def test_every_phase_of_the_recipe_shows_progress(tiny_llama, tmp_path, capsys) -> None:
    train_default_heads(
        tmp_path / "heads",
        model=tiny_llama.folder,
        prompts=["explain the cat", "name a dog"] * 3,
        max_new_tokens=6,
        num_heads=2,
        epochs=1,
        vocabulary="full",
        validation_fraction=0.2,
        heldout=2,
        progress=True,
    )
    shown = capsys.readouterr().out
    for phase in (
        "generating",
        "caching hidden states",
        "caching validation",
        "training heads",
        "generating held-out",
        "caching held-out",
        "measuring held-out",
        "building datastore",
    ):
        assert phase in shown, f"no progress bar for {phase!r}:\n{shown}"
    _, meta = load_heads(tmp_path / "heads")
    assert meta.training["heldout_cache_seconds"] > 0


def _shipped_folder(name: str = "medusa") -> Any:
    return resources.files("tessera.llm") / "_data" / "smollm2-135m-instruct" / name


@pytest.mark.parametrize(
    ("name", "conditioned", "size"),
    [("medusa", True, 4_500_000), ("medusa-plain", False, 2_500_000)],
)
def test_shipped_heads_are_packaged_and_useful(name: str, conditioned: bool, size: int) -> None:
    folder = _shipped_folder(name)
    if not folder.is_dir():
        pytest.skip("heads not trained yet")
    heads, meta = load_heads(folder)
    assert heads.config.hidden_size == 576 and heads.config.vocab_size == 49152
    assert heads.config.share_lm_head and heads.config.num_layers == 1
    # the runtime's heads see the root token; the exportable set does not
    assert heads.config.root_conditioned is conditioned
    assert meta.base_model == "smollm2-135m-instruct"
    assert len(meta.accuracies) == heads.config.num_heads == 3
    top1 = [row[0] for row in meta.accuracies]
    top5 = [sum(row[:5]) for row in meta.accuracies]
    # far above chance (1 / 49152) on topics never seen in training
    assert top1[0] > (0.4 if conditioned else 0.3) and top5[0] > 0.55
    assert all(a > 0.05 for a in top1)
    assert top1 == sorted(top1, reverse=True)  # farther heads guess worse
    assert (folder / "heads.safetensors").stat().st_size < size
    assert meta.training["prompts"] >= 500
    if not conditioned:
        return
    # the datastore ships beside them, built from the same answers' n-grams
    from tessera.llm.medusa import Datastore

    store = Datastore.load(folder / "datastore.npz")
    assert len(store) > 10_000 and store.max_ngram == 4
    assert store.settings["answers"] == meta.training["prompts"]
    assert (folder / "datastore.npz").stat().st_size < 2_000_000


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"epochs": 0}, "epochs"),
        ({"learning_rate": 5.0}, "learning_rate"),
        ({"vocabulary": "x"}, "vocabulary"),
    ],
)
def test_default_recipe_checks_settings_before_generating(
    tiny_llama: Any, tmp_path: Any, kwargs: dict[str, Any], name: str
) -> None:
    from tessera.llm.medusa import train_default_heads

    answers = tmp_path / "answers.npz"
    with pytest.raises(InvalidInputError, match=name):
        train_default_heads(
            tmp_path / "heads", model=tiny_llama.folder, data_path=answers, progress=False, **kwargs
        )
    assert not answers.exists()
