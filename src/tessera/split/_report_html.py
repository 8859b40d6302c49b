"""Render a :class:`~tessera.split.SplitReport`: HTML page (inline PNG) and terminal tables."""

from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tessera.split._report import SplitReport

__all__ = ["column_figure", "pca_figure", "print_summary", "render_html", "summary_rows"]

COLOURS = ["#1f6fb4", "#e8770e", "#2a9d3a", "#b23b8c", "#7a5c3a", "#5f6b75"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#1d232a;line-height:1.45}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em} td,th{border:1px solid #d0d7de;
padding:.2em .55em;text-align:right} th{background:#f6f8fa} td:first-child{text-align:left}
figure{display:inline-block;margin:.3em .6em .3em 0;vertical-align:top}
figcaption{font-size:.8em;color:#57606a} .warn{color:#b42318;font-weight:600}
.muted{color:#57606a}
"""


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def pca_figure(report: SplitReport) -> str:
    """Data-URI PNG: the rows on their first two principal axes, coloured by part."""
    import pandas as pd
    from matplotlib.figure import Figure

    from tessera.split._encode import encode

    whole = pd.concat(report.frames, ignore_index=True)
    for column in whole.columns:
        if pd.api.types.is_datetime64_any_dtype(whole[column].dtype):
            stamps = whole[column]
            numbers = stamps.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(float)
            numbers[stamps.isna().to_numpy()] = np.nan
            whole[column] = numbers
    target = report.target
    # Free text is compared by its words in the table, not drawn (a label per row).
    text = {c for c, kind in report.kinds.items() if kind == "text"}
    exclude = set(report.ignored) | text | ({target} if target is not None else set())
    exclude = {c for c in whole.columns if str(c) in exclude}
    space = encode(whole, whole[target] if target is not None else None, exclude).points
    centred = space - space.mean(axis=0)
    if centred.shape[1] >= 2 and np.any(centred):
        _, _, axes = np.linalg.svd(centred, full_matrices=False)
        xy = centred @ axes[:2].T
    else:
        xy = np.column_stack([centred[:, 0], np.zeros(len(centred))])
    fig = Figure(figsize=(5.2, 4.2))
    ax = fig.add_subplot()
    start = 0
    order = list(range(len(report.frames)))
    for i in order:
        stop = start + report.sizes[i]
        ax.scatter(
            xy[start:stop, 0],
            xy[start:stop, 1],
            s=10,
            alpha=0.6,
            color=COLOURS[i % len(COLOURS)],
            label=f"{report.names[i]} ({report.sizes[i]})",
        )
        start = stop
    ax.set_xlabel("principal axis 1")
    ax.set_ylabel("principal axis 2")
    ax.set_title("Rows on the first two principal axes")
    ax.legend(loc="best", fontsize=8, frameon=False)
    return _png(fig)


def column_figure(report: SplitReport, column: Any) -> str:
    """Data-URI PNG: ECDF overlay (numeric) or side-by-side bars (categorical) of one column."""
    import pandas as pd
    from matplotlib.figure import Figure

    from tessera.split._encode import is_categorical, level_labels

    values = [f[column] for f in report.frames]
    fig = Figure(figsize=(3.4, 2.3))
    ax = fig.add_subplot()
    dates = pd.api.types.is_datetime64_any_dtype(values[0].dtype)
    if dates:
        for i, series in enumerate(values):
            x = np.sort(series.dropna().to_numpy())
            if x.size:
                ax.step(
                    x,
                    np.arange(1, x.size + 1) / x.size,
                    where="post",
                    linewidth=1.2,
                    color=COLOURS[i % len(COLOURS)],
                    label=report.names[i],
                )
        ax.set_ylabel("ECDF", fontsize=8)
        fig.autofmt_xdate()
    elif is_categorical(pd.concat(values, ignore_index=True)):
        levels = sorted({str(v) for s in values for v in level_labels(s)})[:12]
        width = 0.8 / len(values)
        for i, series in enumerate(values):
            shares = (
                level_labels(series)
                .astype(str)
                .value_counts(normalize=True)
                .reindex(levels, fill_value=0.0)
            )
            ax.bar(
                np.arange(len(levels)) + i * width,
                shares.to_numpy(),
                width,
                color=COLOURS[i % len(COLOURS)],
                label=report.names[i],
            )
        ax.set_xticks(np.arange(len(levels)) + 0.4 - width / 2, levels, fontsize=7, rotation=30)
        ax.set_ylabel("share", fontsize=8)
    else:
        for i, series in enumerate(values):
            x = np.sort(series.to_numpy(dtype=np.float64, na_value=np.nan))
            x = x[np.isfinite(x)]
            if x.size:
                ax.step(
                    x,
                    np.arange(1, x.size + 1) / x.size,
                    where="post",
                    linewidth=1.2,
                    color=COLOURS[i % len(COLOURS)],
                    label=report.names[i],
                )
        ax.set_ylabel("ECDF", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(str(column), fontsize=9)
    return _png(fig)


def summary_rows(report: SplitReport) -> list[tuple[str, int, str, str, str]]:
    """``(part, rows, energy distance, max KS, max PSI)`` for every part."""
    rows = []
    for i, name in enumerate(report.names):
        if i == 0:
            rows.append((name, report.sizes[0], "reference", "", ""))
            continue
        mine = [c for c in report.columns if c.part == name]
        ks = [c.ks for c in mine if np.isfinite(c.ks)]
        stability = [c.psi for c in mine if np.isfinite(c.psi)]
        rows.append(
            (
                name,
                report.sizes[i],
                f"{report.energy[name]:.4f}",
                f"{max(ks):.3f}" if ks else "-",
                f"{max(stability):.3f}" if stability else "-",
            )
        )
    return rows


def _fmt(value: float, digits: int = 3) -> str:
    return "-" if not np.isfinite(value) else f"{value:.{digits}f}"


def render_html(report: SplitReport, *, max_columns: int = 40) -> str:
    """The whole report as one HTML string."""
    esc = html.escape
    head = "".join(
        f"<th>{esc(h)}</th>"
        for h in ("part", "rows", "energy distance to " + report.names[0], "max KS", "max PSI")
    )
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(str(v))}</td>" for v in row) + "</tr>"
        for row in summary_rows(report)
    )
    parts = [f"<table><tr>{head}</tr>{body}</table>"]
    if report.class_balance:
        classes = sorted({k for shares in report.class_balance.values() for k in shares})
        rows = "".join(
            f"<tr><td>{esc(name)}</td>"
            + "".join(f"<td>{report.class_balance[name].get(c, 0.0):.1%}</td>" for c in classes)
            + "</tr>"
            for name in report.names
        )
        cols = "".join(f"<th>{esc(c)}</th>" for c in classes)
        parts.append(
            f"<h2>Class balance of {esc(str(report.target))}</h2>"
            f"<table><tr><th>part</th>{cols}</tr>{rows}</table>"
        )
    parts.extend(_groups_and_ignored_html(report))
    parts.append(
        f'<h2>Joint view</h2><figure><img alt="PCA scatter" src="{pca_figure(report)}">'
        "<figcaption>Parts that look alike overlap everywhere.</figcaption></figure>"
    )
    stat_rows = "".join(
        f"<tr><td>{esc(c.column)}</td><td>{esc(c.part)}</td><td>{c.kind}</td>"
        f"<td>{_fmt(c.ks)}</td><td>{_fmt(c.total_variation)}</td>"
        f"<td>{_fmt(c.chi2_pvalue)}</td><td>{_fmt(c.psi)}</td><td>{c.missing:.1%}</td></tr>"
        for c in report.columns
    )
    parts.append(
        "<h2>Columns</h2><table><tr><th>column</th><th>part</th><th>kind</th><th>KS</th>"
        "<th>total variation</th><th>chi-square p</th><th>PSI</th><th>missing</th></tr>"
        f"{stat_rows}</table>"
    )
    columns = [
        c
        for c in report.frames[0].columns
        if str(c) not in report.ignored and report.kinds.get(str(c)) != "text"
    ]
    shown = columns[:max_columns]
    figures = "".join(
        f'<figure><img alt="{esc(str(c))}" src="{column_figure(report, c)}"></figure>'
        for c in shown
    )
    more = (
        f'<p class="muted">First {max_columns} of {len(columns)} columns shown.</p>'
        if len(columns) > max_columns
        else ""
    )
    key = " ".join(
        f'<span style="color:{COLOURS[i % len(COLOURS)]}">&#9632; {esc(name)}</span>'
        for i, name in enumerate(report.names)
    )
    parts.append(f"<h2>Each column, every part</h2><p>{key}</p>{more}{figures}")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Split report</title>'
        f"<style>{_CSS}</style></head><body><h1>Split report</h1>"
        '<p class="muted">Each part against the reference part '
        f"<b>{esc(report.names[0])}</b>: energy distance on the z-scored columns (0 means the "
        "same distribution), Kolmogorov-Smirnov statistic for numbers, total variation and "
        "chi-square for categories, population stability index (PSI; under 0.1 is stable)."
        f"</p>{''.join(parts)}</body></html>\n"
    )


def group_lines(report: SplitReport) -> list[str]:
    """One sentence per group column: kept together, or which groups were split."""
    lines = []
    for check in report.groups:
        counts = ", ".join(f"{k} {v}" for k, v in check.groups_per_part.items())
        if check.ok:
            lines.append(
                f"group column {check.column}: {check.n_groups} groups, none in two parts "
                f"({counts})"
            )
        else:
            shown = ", ".join(check.shared[:5]) + (" ..." if len(check.shared) > 5 else "")
            lines.append(
                f"group column {check.column}: {len(check.shared)} of {check.n_groups} groups "
                f"have rows in more than one part ({shown})"
            )
    return lines


def text_lines(report: SplitReport) -> list[str]:
    """One sentence per free-text column: how alike the parts' word use is."""
    lines = []
    for column in [c for c, kind in report.kinds.items() if kind == "text"]:
        rows = [c for c in report.columns if c.column == column and c.kind == "text"]
        if rows:
            shown = ", ".join(f"{c.part} {c.total_variation:.3f} (KS {_fmt(c.ks)})" for c in rows)
            lines.append(
                f"text column {column}: word frequencies vs {report.names[0]}, total "
                f"variation {shown}"
            )
    return lines


def _groups_and_ignored_html(report: SplitReport) -> list[str]:
    esc = html.escape
    out = []
    if report.groups:
        items = "".join(
            f'<li class="{"" if c.ok else "warn"}">{esc(line)}</li>'
            for c, line in zip(report.groups, group_lines(report), strict=True)
        )
        out.append(
            '<h2>Groups</h2><p class="muted">A group column is judged by membership: '
            f"no group may have rows in two parts.</p><ul>{items}</ul>"
        )
    if report.ignored:
        rows = "".join(
            f"<tr><td>{esc(name)}</td><td>{esc(why)}</td></tr>"
            for name, why in report.ignored.items()
        )
        out.append(
            "<h2>Columns left out of the comparison</h2>"
            f"<table><tr><th>column</th><th>why</th></tr>{rows}</table>"
        )
    return out


def print_summary(report: SplitReport, console: Any = None) -> None:
    """Print the per-part summary and the columns that differ most."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title="Split report")
    for header in ("part", "rows", f"energy vs {report.names[0]}", "max KS", "max PSI"):
        table.add_column(header, justify="right")
    for row in summary_rows(report):
        table.add_row(*(str(v) for v in row))
    console.print(table)
    for line in group_lines(report):
        console.print(line, highlight=False, markup=False)
    for name, why in report.ignored.items():
        console.print(f"left out: {name} -- {why}", highlight=False, markup=False)
    for line in text_lines(report):
        console.print(line, highlight=False, markup=False)
    worst = sorted(
        report.columns,
        key=lambda c: -(c.ks if np.isfinite(c.ks) else c.total_variation),
    )[:5]
    if worst:
        detail = Table(title="Columns that differ most")
        for header in ("column", "part", "KS / TV", "PSI"):
            detail.add_column(header, justify="right")
        for c in worst:
            value = c.ks if np.isfinite(c.ks) else c.total_variation
            detail.add_row(c.column, c.part, _fmt(value), _fmt(c.psi))
        console.print(detail)
