"""The loss equals transformers' own; padding and grouping do not move it; the schedule."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from tessera.llm.tune import IGNORE_INDEX, Record, encode_record  # noqa: E402
from tessera.llm.tune._loss import (  # noqa: E402
    batch_loss,
    micro_batches,
    rate_factor,
    validation_loss,
    validation_steps,
)

QUESTIONS = ["what is the sun", "who is my dog", "how do fish swim in the sea", "why"]
ANSWERS = ["a star", "a big dog", "with a tail", "because it is good and new"]


@pytest.fixture(scope="module")
def items(tiny_llama: Any) -> list[Any]:
    records = [
        Record(
            system=None,
            messages=({"role": "user", "content": q}, {"role": "assistant", "content": a}),
            line=i + 1,
        )
        for i, (q, a) in enumerate(zip(QUESTIONS, ANSWERS, strict=True))
    ]
    return [encode_record(r, tiny_llama.tokenizer) for r in records]


def test_the_loss_is_transformers_loss_on_the_assistant_labels(tiny_llama: Any, items: Any) -> None:
    model = tiny_llama.model
    for item in items:
        with torch.no_grad():
            loss, count = batch_loss(model, torch, [item], 0)
            reference = model(
                input_ids=torch.tensor([item.input_ids]), labels=torch.tensor([item.labels])
            ).loss
        assert count == item.trained_tokens
        torch.testing.assert_close(float(loss) / count, float(reference), rtol=1e-5, atol=1e-5)


def test_padding_and_grouping_do_not_change_the_mean(tiny_llama: Any, items: Any) -> None:
    model = tiny_llama.model
    with torch.no_grad():
        separate = [batch_loss(model, torch, [item], 0) for item in items]
        mean = sum(float(loss) for loss, _ in separate) / sum(count for _, count in separate)
        loss, count = batch_loss(model, torch, items, 0)  # one padded batch
    assert float(loss) / count == pytest.approx(mean, rel=1e-5)
    assert validation_loss(model, torch, list(items), 0) == pytest.approx(mean, rel=1e-5)
    assert all(label == IGNORE_INDEX for label in items[0].labels[:5])


def test_micro_batches_keep_every_record_once(items: Any) -> None:
    many = items * 5
    groups = micro_batches(many)
    assert sum(len(g) for g in groups) == len(many) and all(len(g) <= 8 for g in groups)
    lengths = [len(i.input_ids) for g in groups for i in g]
    assert lengths == sorted(lengths)


@given(total=st.integers(1, 500))
def test_rate_warms_up_then_decays_and_never_stops_early(total: int) -> None:
    factor = rate_factor(total)
    rates = [factor(step) for step in range(total)]
    assert all(0 < r <= 1 for r in rates)
    peak = rates.index(max(rates))
    assert rates[: peak + 1] == sorted(rates[: peak + 1])
    assert rates[peak:] == sorted(rates[peak:], reverse=True)


@given(steps=st.integers(1, 300), per_epoch=st.integers(1, 100))
def test_validation_steps_are_spread_and_include_the_last(steps: int, per_epoch: int) -> None:
    chosen = validation_steps(steps, per_epoch)
    assert steps in chosen and len(chosen) == min(steps, per_epoch)
    assert all(1 <= s <= steps for s in chosen)
