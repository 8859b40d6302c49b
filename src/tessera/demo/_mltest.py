"""The demo's mltest section: ready-made checks run on a sound model and on a broken one."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from tessera.demo._page import Section

__all__ = ["mltest_section"]


def _data() -> tuple[Any, Any]:
    """Four informative features, a customer id that carries no signal, a binary label."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    n = 400
    features = rng.normal(size=(n, 4))
    label = (features @ np.array([1.5, -1.0, 0.8, 0.0]) + 0.3 * rng.normal(size=n) > 0).astype(int)
    frame = pd.DataFrame(features, columns=["tenure", "complaints", "usage", "region_code"])
    frame["customer_id"] = rng.permutation(n) * 7919 % 100_003
    return frame, label


def _outcome(check: Callable[[], object]) -> tuple[bool, str]:
    from tessera.mltest import MLTestFailure

    try:
        check()
    except MLTestFailure as failure:
        where = f" ({failure.where})" if failure.where else ""
        return False, f"expected {failure.expected}; measured {failure.measured}{where}"
    return True, "passed"


def mltest_section() -> Section:
    """Run three tessera.mltest checks on a sound and a deliberately broken model."""
    import numpy as np
    from sklearn.dummy import DummyClassifier
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    from tessera.mltest import (
        assert_can_overfit,
        assert_invariant,
        assert_reproducible,
        shuffle_column,
    )

    X, y = _data()
    signal = ["tenure", "complaints", "usage", "region_code"]
    sound = LogisticRegression().fit(X[signal], y)
    # Broken on purpose: a deep tree that also learned the customer id.
    leaky = DecisionTreeClassifier(random_state=0).fit(X, y)

    def sound_predict(frame: Any) -> Any:
        return sound.predict(frame[signal])

    def forest(seed: int, *, seeded: bool) -> Any:
        # The broken variant draws its seed from the operating system's entropy,
        # which no reseeding of random, numpy or torch can reach.
        state = seed if seeded else int(np.random.SeedSequence().generate_state(1)[0])
        model = RandomForestClassifier(n_estimators=5, random_state=state)
        return model.fit(X[signal], y).predict_proba(X[signal])

    tree = DecisionTreeClassifier(random_state=0)
    constant = DummyClassifier()
    batch, batch_y = X[signal].iloc[:60], y[:60]
    rows = [
        (
            "assert_can_overfit",
            "decision tree",
            lambda: assert_can_overfit(tree.fit, tree.predict, batch, batch_y),
        ),
        (
            "assert_can_overfit",
            "constant predictor (broken)",
            lambda: assert_can_overfit(constant.fit, constant.predict, batch, batch_y),
        ),
        (
            "assert_invariant (shuffle customer_id)",
            "logistic regression on the features",
            lambda: assert_invariant(sound_predict, X, shuffle_column("customer_id")),
        ),
        (
            "assert_invariant (shuffle customer_id)",
            "tree that learned customer_id (broken)",
            lambda: assert_invariant(leaky.predict, X, shuffle_column("customer_id")),
        ),
        (
            "assert_reproducible",
            "forest seeded from the seed",
            lambda: assert_reproducible(lambda s: forest(s, seeded=True), seed=3),
        ),
        (
            "assert_reproducible",
            "forest ignoring the seed (broken)",
            lambda: assert_reproducible(lambda s: forest(s, seeded=False), seed=3),
        ),
    ]
    results = [(check, model, *_outcome(run)) for check, model, run in rows]
    table = "".join(
        f"<tr><td>{html.escape(check)}</td><td>{html.escape(model)}</td>"
        f'<td style="color:{"#1a7f37" if ok else "#cf222e"}">{"pass" if ok else "fail"}</td>'
        f'<td style="text-align:left">{html.escape(message)}</td></tr>'
        for check, model, ok, message in results
    )
    body = (
        "<p>Ready-made tests for ML systems, usable in pytest (the <code>pytest_tessera</code> "
        "plugin) or anywhere. Each check below ran when this page was written, on a sound model "
        "and on one broken on purpose; a failure says what was expected, what was measured and "
        "where.</p>"
        "<table><tr><th>check</th><th>model</th><th>result</th><th>message</th></tr>"
        f"{table}</table>"
    )
    passed = sum(ok for *_, ok, _ in results)
    summary = [
        f"{passed} of {len(results)} checks passed; every broken model was caught"
        if all(ok != ("broken" in model) for _, model, ok, _ in results)
        else f"{passed} of {len(results)} checks passed; a broken model slipped through",
        *(f"{'pass' if ok else 'FAIL'}  {check}: {model}" for check, model, ok, _ in results),
    ]
    return Section(key="mltest", title="Testing ML systems", summary=summary, body_html=body)
