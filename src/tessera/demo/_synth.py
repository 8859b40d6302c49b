"""The demo's synth section: a copula fitted on breast-cancer data, its quality, fake people."""

from __future__ import annotations

import html
import time

from tessera.demo._page import Section

__all__ = ["synth_section"]


def synth_section() -> Section:
    """Fit a Gaussian copula on scikit-learn's breast-cancer data and show its quality report."""
    from sklearn.datasets import load_breast_cancer

    from tessera.synth import GaussianCopula, fake_people, quality_report
    from tessera.synth._quality_html import correlation_figure, histogram_figure

    real = load_breast_cancer(as_frame=True).frame
    real["target"] = real["target"].map({0: "malignant", 1: "benign"})
    start = time.perf_counter()
    model = GaussianCopula().fit(real)
    fit_seconds = time.perf_counter() - start
    model.sample(1000, random_state=0)  # untimed warm-up
    start = time.perf_counter()
    model.sample(200_000, random_state=1)
    rate = 200_000 / (time.perf_counter() - start)
    synthetic = model.sample(len(real), random_state=2)
    report = quality_report(real, synthetic, target="target")
    scores = report.scores
    columns = ["mean radius", "mean texture", "worst concavity", "target"]
    fake_people(10)  # read Faker's provider data once
    start = time.perf_counter()
    fake_people(100_000, random_state=0)
    people_rate = 100_000 / (time.perf_counter() - start)
    people = fake_people(4, locale="de_DE", random_state=3)
    score_rows = "".join(
        f"<tr><td>{html.escape(k.replace('_', ' '))}</td><td>{v:.3f}</td></tr>"
        for k, v in scores.items()
    )
    people_rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in people.itertuples(index=False)
    )
    people_head = "".join(f"<th>{html.escape(c)}</th>" for c in people.columns)
    ml = report.ml_efficacy or {}
    body = (
        f"<p>scikit-learn's breast-cancer data ({real.shape[0]} rows, 30 measurements and the "
        "diagnosis as a category) learned by <code>tessera.synth.GaussianCopula</code> in "
        f"{fit_seconds * 1000:.0f} ms; it samples {rate:,.0f} rows/s. Scores of "
        f"<code>quality_report</code> on {len(synthetic)} synthetic rows (1 is best):</p>"
        f"<table><tr><th>property</th><th>score</th></tr>{score_rows}</table>"
        f"<p>A classifier of the diagnosis trained on synthetic rows scores macro F1 "
        f"{ml.get('train_synthetic', float('nan')):.3f} on held-out real rows; trained on real "
        f"rows, {ml.get('train_real', float('nan')):.3f}.</p>"
        f'<figure><img alt="overlaid histograms" src="{histogram_figure(report, columns)}">'
        "<figcaption>Real (blue) and synthetic (orange) columns; the column-shape score "
        "in brackets.</figcaption></figure>"
        f'<figure><img alt="correlation heatmaps" src="{correlation_figure(report)}">'
        "<figcaption>Pearson correlations of the real and synthetic tables and their "
        "difference.</figcaption></figure>"
        f"<p>Fake people, de_DE, drawn a column at a time from Faker's locale data "
        f"({people_rate:,.0f} rows/s for en_US):</p>"
        f"<table><tr>{people_head}</tr>{people_rows}</table>"
        '<p class="muted">From the command line: <code>tessera synth fit real.csv --out '
        "model.json</code>, <code>tessera synth sample model.json --rows 1000000 --out "
        "data.parquet</code>, or <code>tessera synth generate spec.yaml --rows 1000000 --out "
        "data.parquet</code>.</p>"
    )
    summary = [
        f"breast cancer 569x31: quality {scores['overall']:.3f} (shapes "
        f"{scores['column_shapes']:.3f}, pair trends {scores['pair_trends']:.3f}), fit "
        f"{fit_seconds * 1000:.0f} ms, sampling {rate:,.0f} rows/s",
        f"fake people: {people_rate:,.0f} rows/s (name, address, email, phone)",
    ]
    return Section(key="synth", title="Synthetic data", summary=summary, body_html=body)
