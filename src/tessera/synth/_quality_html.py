"""The quality report as a self-contained HTML page: data-URI PNG figures, no scripts."""

from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from tessera.synth._quality import QualityReport

__all__ = ["correlation_figure", "histogram_figure", "report_html"]

_MAX_HISTOGRAMS = 16
_REAL, _SYNTH = "#1f6feb", "#f0883e"

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1150px;
margin:2em auto;padding:0 1em;color:#1d232a;line-height:1.45}
table{border-collapse:collapse;margin:.6em 0} td,th{border:1px solid #d0d7de;
padding:.25em .6em;text-align:right} th{background:#f6f8fa} td:first-child{text-align:left}
img{max-width:100%} .muted{color:#57606a}
"""


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"data:image/png;base64,{encoded}"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def histogram_figure(report: QualityReport, columns: list[str] | None = None) -> str:
    """Overlaid real/synthetic histograms (bars for categories), as a data-URI PNG."""
    from tessera.synth._quality import _as_float, _is_numeric

    plt = _pyplot()
    names = columns or list(report.real.columns)[:_MAX_HISTOGRAMS]
    cols = min(4, len(names))
    rows = int(np.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    shapes = dict(zip(report.column_shapes["column"], report.column_shapes["score"], strict=True))
    for ax, name in zip(axes.ravel(), names, strict=False):
        real, synth = report.real[name], report.synthetic[name]
        if _is_numeric(real):
            r, s = _as_float(real), _as_float(synth)
            edges = np.histogram_bin_edges(np.concatenate([r, s]), bins=30)
            ax.hist(r, bins=edges, density=True, alpha=0.55, color=_REAL, label="real")
            ax.hist(s, bins=edges, density=True, alpha=0.55, color=_SYNTH, label="synthetic")
        else:
            fr = real.astype(str).value_counts(normalize=True)
            fs = synth.astype(str).value_counts(normalize=True).reindex(fr.index, fill_value=0)
            top = fr.index[:12]
            x = np.arange(len(top))
            ax.bar(x - 0.2, fr[top], width=0.4, color=_REAL, label="real")
            ax.bar(x + 0.2, fs[top], width=0.4, color=_SYNTH, label="synthetic")
            ax.set_xticks(x, [str(t)[:10] for t in top], rotation=45, fontsize=7)
        ax.set_title(f"{name} ({shapes[name]:.2f})", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_yticks([])
    for ax in axes.ravel()[len(names) :]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def correlation_figure(report: QualityReport) -> str | None:
    """Real, synthetic and difference correlation heatmaps (numeric columns), as a PNG."""
    from tessera.synth._quality import _is_numeric

    plt = _pyplot()
    names = [c for c in report.real.columns if _is_numeric(report.real[c])][:30]
    if len(names) < 2:
        return None

    def corr(frame: pd.DataFrame) -> np.ndarray:
        numbers = frame[names].apply(
            lambda s: s.astype("int64") if s.dtype.kind == "M" else s.astype(float)
        )
        return np.asarray(np.nan_to_num(numbers.corr().to_numpy(), nan=0.0), dtype=float)

    real, synth = corr(report.real), corr(report.synthetic)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.4))
    panels = (("real", real), ("synthetic", synth), ("synthetic - real", synth - real))
    for ax, (title, matrix) in zip(axes, panels, strict=True):
        image = ax.imshow(matrix, vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_title(title, fontsize=10)
        labels = [str(n)[:12] for n in names]
        ax.set_xticks(range(len(names)), labels, rotation=90, fontsize=6)
        ax.set_yticks(range(len(names)), labels if title == "real" else [], fontsize=6)
    fig.colorbar(image, ax=axes, shrink=0.8)
    return _png(fig)


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = []
        for value in row:
            if isinstance(value, float):
                text = "\u2013" if np.isnan(value) else f"{value:.3f}"
            else:
                text = str(value)
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def report_html(report: QualityReport, *, title: str, full_page: bool) -> str:
    """The page body (and, if ``full_page``, the surrounding document)."""
    scores = pd.DataFrame(
        [(k.replace("_", " "), v) for k, v in report.scores.items()], columns=["property", "score"]
    )
    parts = [
        f"<p class='muted'>{len(report.real)} real rows, {len(report.synthetic)} synthetic rows, "
        f"{report.real.shape[1]} columns. Scores in [0, 1], 1 is best.</p>",
        _table(scores),
        "<h3>Column shapes</h3>",
        f"<img alt='overlaid histograms, real and synthetic' src='{histogram_figure(report)}'>",
    ]
    heatmap = correlation_figure(report)
    if heatmap:
        parts += ["<h3>Correlations</h3>", f"<img alt='correlation heatmaps' src='{heatmap}'>"]
    worst = report.pair_trends.nsmallest(8, "score")
    parts += ["<h3>Weakest pair trends</h3>", _table(worst)]
    if report.ml_efficacy is not None:
        ml = report.ml_efficacy
        parts += [
            "<h3>Machine-learning efficacy</h3>",
            f"<p>{html.escape(ml['task'])} of <code>{html.escape(str(ml['target']))}</code>, "
            f"{html.escape(ml['metric'])} on held-out real rows: trained on real "
            f"{ml['train_real']:.3f}, trained on synthetic {ml['train_synthetic']:.3f}.</p>",
        ]
    parts += ["<h3>Coverage</h3>", _table(report.coverage)]
    from tessera.synth._quality import privacy_lines

    notes = privacy_lines(report)
    if notes:
        items = "".join(f"<li>{html.escape(line)}</li>" for line in notes)
        parts += ["<h3>Identifiers, text and privacy</h3>", f"<ul>{items}</ul>"]
    body = "\n".join(parts)
    if not full_page:
        return body
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>\n"
    )
