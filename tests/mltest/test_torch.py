"""The assertions on PyTorch modules and tensors (skipped where torch is not installed)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

from tessera.mltest import (
    MLTestFailure,
    assert_backends_agree,
    assert_can_overfit,
    assert_directional,
    assert_invariant,
    assert_loss_decreases,
    assert_reproducible,
    assert_segment_performance,
    assert_training_decreases_loss,
    perturb_column,
    seed_everything,
    shuffle_column,
    tiny_classification,
)

torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e '.[llm]')")


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Any:
    # Tiny tensors: several intra-op threads only fight over the two shared cores (100x slower).
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


class TinyNet(torch.nn.Module):  # type: ignore[misc,name-defined]
    """Two layers, enough to memorise a tiny batch."""

    def __init__(self, n_features: int = 4, n_classes: int = 2) -> None:
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(n_features, 16), torch.nn.ReLU(), torch.nn.Linear(16, n_classes)
        )

    def forward(self, x: Any) -> Any:
        return self.layers(x)


def _data() -> tuple[Any, Any]:
    X, y = tiny_classification(seed=0)
    return torch.tensor(X, dtype=torch.float32), torch.tensor(y)


def _trainer(model: Any, learning_rate: float) -> tuple[Any, Any]:
    X, y = _data()
    optimiser = torch.optim.SGD(model.parameters(), lr=learning_rate)

    def train_step() -> Any:
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(X), y)
        loss.backward()
        optimiser.step()
        return loss

    def fit(X: Any, y: Any) -> None:
        for _ in range(150):
            train_step()

    return train_step, fit


def test_a_training_module_lowers_its_loss_and_a_frozen_one_does_not() -> None:
    torch.manual_seed(0)
    step, _ = _trainer(TinyNet(), 0.1)
    losses = assert_training_decreases_loss(step, steps=60, min_relative_drop=0.3)
    assert losses.dtype == np.float64
    frozen_step, _ = _trainer(TinyNet(), 0.0)
    with pytest.raises(MLTestFailure, match="a drop of 0.0%"):
        assert_training_decreases_loss(frozen_step, steps=20)


def test_a_list_of_loss_tensors_is_accepted() -> None:
    assert_loss_decreases([torch.tensor(v) for v in np.linspace(1.0, 0.1, 20)])
    with pytest.raises(MLTestFailure):
        assert_loss_decreases([torch.tensor(0.5) for _ in range(20)])


def test_can_overfit_with_logits_and_the_detached_graph_bug() -> None:
    torch.manual_seed(0)
    model = TinyNet()
    _, fit = _trainer(model, 0.2)
    assert assert_can_overfit(fit, model, *_data()) == 1.0  # logits -> argmax labels

    class DetachedNet(TinyNet):
        def forward(self, x: Any) -> Any:  # the bug: the graph is cut, no gradient flows
            return self.layers(x).detach().requires_grad_()

    torch.manual_seed(0)
    broken = DetachedNet()
    _, broken_fit = _trainer(broken, 0.2)
    with pytest.raises(MLTestFailure, match=r"rows mispredicted"):
        assert_can_overfit(broken_fit, broken, *_data())


def test_seed_everything_reseeds_torch_and_training_is_reproducible() -> None:
    seed_everything(5)
    first = torch.rand(3)
    seed_everything(5)
    assert torch.equal(first, torch.rand(3))

    def train(seed: int) -> Any:
        model = TinyNet()  # initialised from torch's global generator, reseeded before each run
        _, fit = _trainer(model, 0.1)
        fit(None, None)
        return model

    assert_reproducible(train, seed=11)


def test_an_unseeded_generator_makes_training_irreproducible() -> None:
    def train(seed: int) -> Any:
        generator = torch.Generator().manual_seed(int.from_bytes(os.urandom(4), "little"))
        model = TinyNet()
        with torch.no_grad():
            model.layers[0].weight.copy_(torch.randn(16, 4, generator=generator))
        return model

    with pytest.raises(MLTestFailure) as info:
        assert_reproducible(train, seed=11)
    assert "result['layers.0.weight']" in info.value.measured


def test_float64_and_float32_modules_agree_and_a_changed_weight_is_caught() -> None:
    torch.manual_seed(0)
    model = TinyNet().double()
    single = TinyNet()
    single.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
    X, _ = _data()

    def compare() -> float:
        return assert_backends_agree(
            lambda X: model(X.double()),
            single,
            X,
            rtol=1e-4,
            atol=1e-5,
            names=("float64", "float32"),
        )

    with torch.no_grad():
        assert compare() < 1e-5
        single.layers[2].bias[1] += 0.5
        with pytest.raises(MLTestFailure) as info:
            compare()
    assert "60 of 60 rows differ" in info.value.measured and "float32=" in info.value.where


def test_metamorphic_checks_on_tensors() -> None:
    X, _ = _data()
    weights = torch.tensor([1.0, -2.0, 0.0, 0.5])

    def score(X: Any) -> Any:
        return torch.sigmoid(X @ weights)

    assert assert_invariant(score, X, shuffle_column(2)) == 1.0
    assert assert_directional(score, X, perturb_column(0, 0.5), direction="increase") == 1.0
    with pytest.raises(MLTestFailure, match="rows that moved the wrong way"):
        assert_directional(score, X, perturb_column(1, 0.5), direction="increase")
    assert torch.equal(X, _data()[0])  # the transforms copied, never wrote into X


def test_segment_performance_on_tensors() -> None:
    X, y = _data()
    weights = torch.tensor([-1.0, 1.0, 0.0, 0.0])

    def predict(X: Any) -> Any:  # class 1 when feature 1 beats feature 0, as the data is made
        logits = X @ weights
        return torch.stack([-logits, logits], dim=1)

    segments = {"feature 2 high": lambda X: X[:, 2] > 0, "feature 2 low": (X[:, 2] <= 0)}
    scores = assert_segment_performance(predict, X, y, segments, min_score=0.8, min_size=20)
    assert all(s.score >= 0.8 for s in scores)

    def broken(X: Any) -> Any:  # the bug: the answer flips where feature 2 is high
        flipped = torch.where((X[:, 2] > 0).unsqueeze(1), -predict(X), predict(X))
        return flipped

    with pytest.raises(MLTestFailure, match=r"segment 'feature 2 high' \(\d+ rows\): accuracy"):
        assert_segment_performance(broken, X, y, segments, min_score=0.8, min_size=20)


def test_torch_imported_during_the_first_run_is_seeded_for_a_fair_comparison() -> None:
    import subprocess
    import sys

    # A fresh interpreter, so that torch is not imported until train() imports it.
    code = (
        "import sys\n"
        "from tessera.mltest import assert_reproducible\n"
        "def train(seed):\n"
        "    import torch\n"
        "    return torch.rand(3)\n"
        "assert 'torch' not in sys.modules\n"
        "assert_reproducible(train, seed=5)\n"
        "print('reproducible')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "reproducible"
