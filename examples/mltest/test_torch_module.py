"""The tessera.mltest checks on a small PyTorch module (needs torch: pip install -e '.[llm]').

Run with ``pytest examples/mltest``; without torch the whole file is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tessera.mltest import (
    assert_backends_agree,
    assert_can_overfit,
    assert_directional,
    assert_invariant,
    assert_latency,
    assert_reproducible,
    assert_training_decreases_loss,
    perturb_column,
    shuffle_column,
)

torch = pytest.importorskip("torch", reason="the torch example needs torch (pip install -e .[llm])")


class RiskNet(torch.nn.Module):
    """Scores a row of 4 features; the last feature is a record id the model must not use."""

    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(3, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2)
        )

    def forward(self, x: Any) -> Any:
        return self.body(x[:, :3])  # columns 0-2 are features; column 3 is an id


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    # Tiny tensors: extra intra-op threads only contend for cores on a shared runner.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def batch(tiny_classification: Any) -> tuple[Any, Any]:
    X, y = tiny_classification
    ids = np.arange(len(X), dtype=float).reshape(-1, 1)
    return torch.tensor(np.hstack([X[:, :3], ids]), dtype=torch.float32), torch.tensor(y)


def _trainer(model: Any, X: Any, y: Any, lr: float = 0.05) -> Any:
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)

    def step() -> Any:
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(X), y)
        loss.backward()
        optimiser.step()
        return loss

    return step


def test_the_loss_goes_down(ml_seed: int, batch: tuple[Any, Any]) -> None:
    model = RiskNet()  # initialised from torch's generator, reseeded by ml_seed
    assert_training_decreases_loss(_trainer(model, *batch), steps=40, min_relative_drop=0.3)


def test_the_module_can_overfit_a_tiny_batch(ml_seed: int, batch: tuple[Any, Any]) -> None:
    model = RiskNet()
    step = _trainer(model, *batch)

    def fit(X: Any, y: Any) -> None:
        for _ in range(200):
            step()

    assert_can_overfit(fit, model, *batch, threshold=0.98)  # logits: their argmax is the label


def test_training_is_reproducible(batch: tuple[Any, Any]) -> None:
    def train(seed: int) -> Any:
        model = RiskNet()
        step = _trainer(model, *batch)
        for _ in range(20):
            step()
        return model  # its state_dict is compared, tensor by tensor

    assert_reproducible(train, seed=3)


def test_float32_and_float64_agree(ml_seed: int, batch: tuple[Any, Any]) -> None:
    model = RiskNet()
    wide = RiskNet().double()
    wide.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
    with torch.no_grad():
        assert_backends_agree(
            model,
            lambda X: wide(X.double()),
            batch[0],
            rtol=1e-4,
            atol=1e-5,
            names=("float32", "float64"),
        )


def test_the_id_column_is_ignored_and_feature_0_raises_the_risk(
    ml_seed: int,
    batch: tuple[Any, Any],
) -> None:
    model = RiskNet()
    step = _trainer(model, *batch)
    for _ in range(100):
        step()

    def risk(X: Any) -> Any:
        with torch.no_grad():
            return torch.softmax(model(X), dim=1)[:, 1]

    assert_invariant(risk, batch[0], shuffle_column(3))
    # Class 1 sits at +3 on feature 1 in tiny_classification: more of it, more risk (mostly).
    assert_directional(
        risk, batch[0], perturb_column(1, 1.0), direction="increase", min_pass_rate=0.9
    )


@pytest.mark.ml_latency
def test_scoring_latency(batch: tuple[Any, Any]) -> None:
    model = RiskNet().eval()
    with torch.no_grad():
        assert_latency(model, batch[0], p95_ms=100.0, repeats=20)
