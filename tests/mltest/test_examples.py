"""The examples in examples/mltest pass under the plugin (the torch one where torch is here)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

# In-process pytester runs drop the modules they imported afterwards; C extensions such as
# numpy refuse to load twice, so everything the examples import is loaded here first.
import numpy  # noqa: F401
import pandas  # noqa: F401
import pandera.pandas  # noqa: F401
import pydantic  # noqa: F401
import pytest
import sklearn.ensemble  # noqa: F401
import sklearn.linear_model  # noqa: F401
import sqlglot  # noqa: F401
import yaml  # noqa: F401

import tessera.mltest  # noqa: F401

HAS_TORCH = importlib.util.find_spec("torch") is not None

pytest_plugins = ["pytester"]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "mltest"


@pytest.fixture
def examples(pytester: pytest.Pytester) -> pytest.Pytester:
    for path in EXAMPLES.iterdir():
        if path.suffix in (".py", ".yaml"):
            shutil.copy(path, pytester.path / path.name)
    return pytester


def test_the_scikit_learn_example_passes(examples: pytest.Pytester) -> None:
    result = examples.runpytest("-p", "no:cacheprovider", "-W", "error", "test_sklearn_model.py")
    result.assert_outcomes(passed=11)
    result.stdout.fnmatch_lines(["*- tessera ML checks -*", "validate_config  * 1 passed"])


def test_the_torch_example_passes_or_skips(examples: pytest.Pytester) -> None:
    # In a subprocess: torch registers native operators on import and cannot be imported twice,
    # which an in-process run (that forgets its imports afterwards) would make it do.
    result = examples.runpytest_subprocess(
        "-p", "no:cacheprovider", "-W", "error", "test_torch_module.py"
    )
    if HAS_TORCH:
        result.assert_outcomes(passed=6)
    else:
        result.assert_outcomes(skipped=1)


def test_a_broken_config_fails_the_example_with_the_line(examples: pytest.Pytester) -> None:
    config = examples.path / "train.yaml"
    config.write_text(config.read_text().replace("max_iter: 500", "max_iters: 500"))
    result = examples.runpytest("-p", "no:cacheprovider", "test_sklearn_model.py")
    result.stdout.fnmatch_lines(
        [
            "*train.yaml:2 model.max_iter: Field required*",
            "*train.yaml:4 model.max_iters: unknown key (not in the model)*",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "_failure.py" not in result.stdout.str()  # no frames from inside tessera.mltest
