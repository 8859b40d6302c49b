"""The demo's split section: the wine data split three ways, compared, and pictured."""

from __future__ import annotations

import html
import time

from tessera.demo._page import Section

__all__ = ["split_section"]

_METHODS = ("random", "stratified", "auto")


def split_section() -> Section:
    """Split scikit-learn's wine data 60/20/20 by three methods and show the report of ours."""
    from sklearn.datasets import load_wine

    from tessera.split import split_report, train_val_test_split
    from tessera.split._report_html import column_figure, pca_figure

    data = load_wine(as_frame=True).frame
    rows = []
    reports = {}
    for method in _METHODS:  # untimed first calls: imports and compiled-kernel loading
        train_val_test_split(data, target="target", method=method, random_state=1)
    for method in _METHODS:
        start = time.perf_counter()
        parts = train_val_test_split(data, target="target", method=method, random_state=0)
        seconds = time.perf_counter() - start
        report = split_report(parts, target="target")
        reports[method] = report
        mean_energy = sum(report.energy.values()) / len(report.energy)
        rows.append((method, mean_energy, report.worst("ks"), report.worst("psi"), seconds))
    ours = reports["auto"]
    table = "".join(
        f"<tr><td>{html.escape(m)}</td><td>{e:.4f}</td><td>{ks:.3f}</td><td>{p:.3f}</td>"
        f"<td>{s * 1000:.0f} ms</td></tr>"
        for m, e, ks, p, s in rows
    )
    columns = ["alcohol", "flavanoids", "color_intensity", "target"]
    figures = "".join(
        f'<figure><img alt="{c}" src="{column_figure(ours, c)}"><figcaption>{c}: ECDF of '
        "train, val and test</figcaption></figure>"
        for c in columns
    )
    body = (
        "<p>scikit-learn's wine data (178 rows, 13 measurements, 3 cultivars) split 60/20/20 "
        "with <code>tessera.split.train_val_test_split</code>. Energy distance of val and test "
        "to train on the z-scored columns (mean of the two; lower is better), the largest "
        "Kolmogorov-Smirnov statistic and population stability index over columns.</p>"
        "<table><tr><th>method</th><th>energy distance</th><th>max KS</th><th>max PSI</th>"
        f"<th>time</th></tr>{table}</table>"
        f'<figure><img alt="PCA scatter of the auto split" src="{pca_figure(ours)}">'
        '<figcaption>method="auto": the three parts overlap everywhere on the first two '
        "principal axes.</figcaption></figure>"
        f"{figures}"
        '<p class="muted">The command line does the same on any table: <code>tessera split '
        "data.csv --target y --sizes 60,20,20 --out parts/</code> writes train, val, test and "
        "a report like this one.</p>"
    )
    random_energy = rows[0][1]
    auto_energy = rows[-1][1]
    summary = [
        f"wine 178x13, 60/20/20: energy distance to train {auto_energy:.4f} (auto) vs "
        f"{random_energy:.4f} (random), {random_energy / auto_energy:.1f}x lower",
        f"largest KS statistic over columns: {rows[-1][2]:.3f} (auto) vs {rows[0][2]:.3f} (random)",
    ]
    return Section(key="split", title="Splits that look alike", summary=summary, body_html=body)
