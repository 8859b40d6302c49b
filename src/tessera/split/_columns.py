"""Which columns of a table enter the split's distance, and as what.

The split compares rows on their values, so each column is typed once by the shared
typing layer (:func:`tessera._tables.infer_types`): dates (also dates written as text)
enter as their time in nanoseconds; free text enters as a few numbers per row, its
leading latent-semantic components (TF-IDF of its words, then a truncated SVD, see
:func:`text_features`), so that parts get alike word use; identifiers are left out (a
key says nothing about the distribution), and the caller's exclusions (the target, the
groups) are left out too. What was left out, and why, is returned for the report and
the CLI to say.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "TEXT_COMPONENTS",
    "TextProjection",
    "distance_view",
    "text_feature_name",
    "text_features",
    "text_matrix",
    "resolved_overrides",
    "type_overrides",
]

#: Numbers per free-text column in the distance: its leading TF-IDF SVD components.
TEXT_COMPONENTS = 3


def _documents(series: Any) -> Any:
    """The texts of a column as an array of str (missing text is empty)."""
    return series.astype("object").where(series.notna(), "").astype(str).to_numpy()


def _vectorizer(rows: int, *, counts: bool) -> Any:
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

    options: dict[str, Any] = {"stop_words": "english", "min_df": 2 if rows >= 10 else 1}
    return CountVectorizer(**options) if counts else TfidfVectorizer(sublinear_tf=True, **options)


def text_matrix(series: Any, *, counts: bool = False) -> Any:
    """TF-IDF of a text column's words (sparse, one row per row; missing text is empty).

    English stop words are dropped, term frequencies are sublinear, and a word must
    occur in two rows to count (one row's word says nothing about a distribution).
    ``counts=True`` gives the plain word counts over the same vocabulary instead.
    Raises ``ValueError`` when no word is left.
    """
    return _vectorizer(len(series), counts=counts).fit_transform(_documents(series))


@dataclass(frozen=True)
class TextProjection:
    """A text column's TF-IDF vocabulary and leading singular vectors, fitted on some
    rows and applied to any rows (the out-of-core split fits it on a sample).

    Attributes
    ----------
    vectorizer : sklearn.feature_extraction.text.TfidfVectorizer
        Fitted as :func:`text_matrix` fits it.
    svd : sklearn.decomposition.TruncatedSVD
        Fitted on the TF-IDF of the same rows (fixed seed).
    """

    vectorizer: Any
    svd: Any

    @classmethod
    def fit(cls, series: Any, n_components: int = TEXT_COMPONENTS) -> TextProjection | None:
        """The projection of ``series``'s texts on at most ``n_components`` components;
        ``None`` when it has fewer than two words used in two rows or fewer than three
        rows: there is nothing to compare."""
        from sklearn.decomposition import TruncatedSVD

        if len(series) < 3:
            return None
        vectorizer = _vectorizer(len(series), counts=False)
        try:
            tfidf = vectorizer.fit_transform(_documents(series))
        except ValueError:  # empty vocabulary
            return None
        k = min(n_components, tfidf.shape[1] - 1, tfidf.shape[0] - 1)
        if k < 1:
            return None
        svd = TruncatedSVD(n_components=k, algorithm="arpack", random_state=0).fit(tfidf)
        return cls(vectorizer, svd)

    def transform(self, series: Any) -> np.ndarray:
        """``(rows, k)`` components of ``series``'s texts (equal texts, equal numbers)."""
        tfidf = self.vectorizer.transform(_documents(series))
        return np.asarray(self.svd.transform(tfidf), dtype=float)


def text_features(series: Any, n_components: int = TEXT_COMPONENTS) -> np.ndarray | None:
    """The leading latent-semantic components of a text column, ``(rows, k)``, or ``None``.

    TF-IDF (:func:`text_matrix`) projected on its first ``k <= n_components``
    right singular vectors (scikit-learn's ``TruncatedSVD``, fixed seed), so rows that
    use the same words get close numbers. ``None`` when the column has fewer than two
    words used in two rows or fewer than three rows: there is nothing to compare.
    """
    projection = TextProjection.fit(series, n_components)
    # Projected row by row (not read off the SVD's own U), so equal texts get equal numbers.
    return None if projection is None else projection.transform(series)


def text_feature_name(column: str, index: int) -> str:
    """The distance view's name of a text column's ``index``-th component."""
    return f"{column} [text {index + 1}]"


def type_overrides(
    id_columns: Sequence[Hashable], types: Mapping[str, str] | None
) -> dict[str, str]:
    """``types`` with every named identifier column typed ``identifier``."""
    given = {str(c): "identifier" for c in id_columns}
    given.update({str(k): v for k, v in (types or {}).items()})
    return given


def resolved_overrides(types: Any) -> dict[str, str]:
    """Overrides that make :func:`tessera._tables.infer_types` give ``types`` again
    (every column's kind, dates with their format): typed once, the same everywhere."""
    return {
        c.name: f"datetime:{c.format}" if c.kind == "datetime" and c.format else c.kind
        for c in types.columns
    }


def distance_view(frame: Any, overrides: Mapping[str, str]) -> tuple[Any, Any, dict[str, str]]:
    """(the frame as the distance sees it, its ``TableTypes``, ``{left-out column: why}``).

    Dates become float nanoseconds (missing as NaN); a text column becomes its
    :func:`text_features` columns (named by :func:`text_feature_name`), or is left out
    when it has too few words; identifier columns are dropped. The rows and their order
    are unchanged.
    """
    import pandas as pd

    from tessera._tables import apply_types, infer_types

    types = infer_types(frame, overrides)
    typed = apply_types(frame, types)
    keep: dict[Any, Any] = {}
    ignored: dict[str, str] = {}
    for original in frame.columns:
        column = types[str(original)]
        if column.kind == "identifier":
            ignored[column.name] = f"identifier ({column.reason})"
            continue
        if column.kind == "text":
            features = text_features(typed[original])
            if features is None:
                ignored[column.name] = f"free text with too few repeated words ({column.reason})"
                continue
            for index in range(features.shape[1]):
                name = text_feature_name(column.name, index)
                keep[name] = pd.Series(features[:, index], index=frame.index, name=name)
            continue
        series = typed[original]
        if column.kind == "datetime":
            stamps = series.dt.tz_localize(None) if series.dt.tz is not None else series
            values = stamps.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(float)
            values[stamps.isna().to_numpy()] = np.nan
            series = pd.Series(values, index=frame.index, name=original)
        keep[original] = series
    return pd.DataFrame(keep, index=frame.index), types, ignored
