"""The Gaussian-copula synthesizer: fit a table, sample more rows like it, fast."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tessera._validation import bad_value, check_bool, check_in, check_positive_int, short_repr
from tessera.errors import InvalidInputError, InvalidTypeError
from tessera.synth._columns import ColumnModel
from tessera.synth._conditional import conditional_latent
from tessera.synth._constraints import FittedConstraint, apply_constraints, fit_constraints
from tessera.synth._generated import (
    GeneratedColumn,
    IdentifierModel,
    TextModel,
    generated_from_dict,
)
from tessera.synth._marginals import ContinuousMarginal, DiscreteMarginal
from tessera.synth._random import as_generator
from tessera.synth._segments import fit_segments, sample_segments

__all__ = ["CopulaDescription", "GaussianCopula"]

FORMAT = "tessera.synth.GaussianCopula"
FORMAT_VERSION = 1
#: Privacy mode: every value stored in the model stands for at least this many rows.
PRIVACY_MIN_COUNT = 10


@dataclass(frozen=True)
class CopulaDescription:
    """What a fitted copula learned: one row per column, the latent correlation, the segments.

    With segments, ``columns`` and ``correlation`` describe the whole table and each
    segment's own copula is in ``GaussianCopula.segments_``.
    """

    columns: pd.DataFrame
    correlation: pd.DataFrame
    segments: pd.DataFrame

    def __str__(self) -> str:
        with pd.option_context("display.max_colwidth", 90, "display.width", 140):
            text = (
                f"{self.columns.to_string()}\n\nlatent correlation:\n"
                f"{self.correlation.round(2).to_string()}"
            )
            if len(self.segments):
                text += f"\n\none copula per segment:\n{self.segments.to_string(index=False)}"
            return text


class GaussianCopula:
    """Learn a table's marginals and their dependence; sample new rows like it.

    Each column is mapped to a standard-normal latent variable through its own marginal:
    numbers with many distinct values through a smoothed quantile function (that of a
    Gaussian kernel density estimate, reflected at the observed range, for up to 2,000
    values; interpolated between order statistics beyond; rounded to the data's decimals;
    values that many rows share kept as point masses), numbers with
    few values, booleans and categories through their frequencies, laid out on the latent
    line in the order of their mean position along the table's main axis of variation.
    The latent variables are jointly normal with a correlation estimated from normal
    scores (ties handled exactly and corrected for their attenuation).

    Parameters
    ----------
    max_discrete : int, default=20
        Numeric columns with at most this many distinct values are modelled as discrete
        (their values and frequencies reproduced exactly).
    shrinkage : float, default=0.0
        Shrink the latent correlation toward the identity by this fraction (0 to 1);
        a little helps when there are few rows per column.
    segment_by : str or None, default="auto"
        A categorical column to fit one copula per category of (sampled as a mixture),
        for classes whose members differ in several directions at once. ``"auto"``
        picks the column, if any, whose association with the numeric columns a single
        copula misses most (see ``tessera.synth._segments``); ``None`` never segments.
    types : dict or None, default=None
        ``{column: kind}`` to override the detected kinds (numeric, integer, category,
        boolean, datetime or ``datetime:FORMAT``, text, identifier; see
        ``tessera._tables.infer_types``). Dates written as text are parsed.
    identifiers : {"regenerate", "drop", "keep"}, default="regenerate"
        Identifier columns: new keys in the same format, never real ones (and as many
        rows per key as in the data); left out of the output; or modelled as a
        category (which replays real keys: only for keys that are not private).
    text : {"generate", "drop"}, default="generate"
        Free-text columns: lorem ipsum with the real word-count distribution, or left
        out of the output. Text is never modelled, so never copied.
    constraints : list of str or None, default=None
        Rules between columns that every sampled row keeps exactly: formulas
        ``"target = expression"`` (``"total = price * quantity"``,
        ``"logpopul = log(popul + 0.1)"``; column names, numbers, ``+ - * / **`` and
        log, log1p, log2, log10, exp, expm1, sqrt, abs) and orders ``"low <= high"``
        between numeric or datetime columns. Each is checked on the data at fit time;
        rules apply in the order given (see ``tessera.synth._constraints``).
    privacy : bool, default=False
        Privacy mode: no value in the saved model stands for fewer than
        ``PRIVACY_MIN_COUNT`` (10) rows. Continuous marginals are binned quantiles
        (knots are means of bins of at least 10 order statistics, so the data's own
        values, min and max included, are not stored); discrete values and categories
        held by fewer rows are not kept (a rare number moves to the nearest kept one, a
        rare label is not sampled). Without it, a column's knots are its real values up
        to 2,000 rows. Measure the effect with ``quality_report(..., holdout=...)``.

    Attributes
    ----------
    columns_ : list of ColumnModel
        The fitted columns, in the table's order.
    correlation_ : numpy.ndarray
        The latent correlation matrix.
    n_rows_ : int
        Rows seen at fit time.
    segment_by_ : str or None
        The column segmented by, if any.
    segments_ : list of (value, weight, GaussianCopula)
        One copula per category of ``segment_by_`` (empty if none).
    types_ : tessera._tables.TableTypes
        The kind of every input column, detected or given, with the evidence.
    generated_ : list
        The identifier and text columns, generated rather than modelled.
    output_columns_ : list of str
        The columns of sampled tables, in the input's order.

    Notes
    -----
    Guarantees: every sampled value of a continuous column lies within the fitted
    ``[min, max]`` and has the data's decimals; discrete and categorical columns take
    only fitted values; integer columns stay integers; each column is missing at its
    fitted rate (independently of the others); the same ``random_state`` gives the same
    rows.

    Examples
    --------
    >>> import pandas as pd
    >>> from tessera.synth import GaussianCopula
    >>> real = pd.DataFrame({"x": range(100), "y": [i % 3 for i in range(100)]})
    >>> model = GaussianCopula().fit(real)
    >>> model.sample(5, random_state=0).shape
    (5, 2)
    """

    columns_: list[ColumnModel]
    correlation_: np.ndarray
    n_rows_: int
    segment_by_: str | None
    segments_: list[tuple[Any, float, GaussianCopula]]
    types_: Any
    generated_: list[GeneratedColumn]
    constraints_: list[FittedConstraint]
    output_columns_: list[str]

    def __init__(
        self,
        *,
        max_discrete: int = 20,
        shrinkage: float = 0.0,
        segment_by: str | None = "auto",
        types: dict[str, str] | None = None,
        identifiers: str = "regenerate",
        text: str = "generate",
        constraints: list[str] | None = None,
        privacy: bool = False,
    ) -> None:
        self.max_discrete = max_discrete
        self.shrinkage = shrinkage
        self.segment_by = segment_by
        self.types = types
        self.identifiers = identifiers
        self.text = text
        self.privacy = privacy
        self.constraints = constraints

    # ------------------------------------------------------------------ fit
    def fit(self, data: Any) -> GaussianCopula:
        """Fit the copula and return ``self``.

        ``data`` is a pandas DataFrame, or, with the ``dask`` extra, a Dask DataFrame or
        the path of a Parquet dataset, read out of core in one pass over the
        partitions (see ``tessera.synth._dask_fit``).
        """
        self._check_params()
        from tessera.synth._dask_fit import is_dask_frame

        if isinstance(data, str | Path) or is_dask_frame(data):
            from tessera.synth._dask_fit import fit_dask

            return fit_dask(self, data)
        if not isinstance(data, pd.DataFrame):
            raise InvalidTypeError(
                f"data={short_repr(data)} is invalid: it must be a pandas DataFrame (or a Dask "
                "DataFrame or the path of a Parquet dataset, with the dask extra). "
                "Wrap arrays with pandas.DataFrame(array, columns=[...])."
            )
        if data.shape[0] < 2 or data.shape[1] < 1:
            raise bad_value(
                "data",
                f"DataFrame of shape {data.shape}",
                "it needs at least 2 rows and 1 column",
                "Pass a table with data in it.",
            )
        if len(set(map(str, data.columns))) != data.shape[1]:
            raise bad_value(
                "data.columns",
                list(data.columns),
                "column names must be unique as strings",
                "Rename the duplicated columns.",
            )
        data = self._split_generated(data)
        kinds = self.types_.kinds()
        data, self.constraints_ = fit_constraints(data, kinds, self.constraints)
        derived = {c.rule.target for c in self.constraints_ if c.rule.kind == "order"}
        self._inner_kinds = {
            str(c): ("numeric" if str(c) in derived else kinds[str(c)]) for c in data.columns
        }
        # Pass 1: non-categorical columns, whose scores give the main axis of variation.
        models: dict[str, ColumnModel] = {}
        scores: dict[str, np.ndarray] = {}
        observed: dict[str, np.ndarray] = {}
        for name in data.columns:
            series = data[name]
            if series.dtype.kind in "fiumM":
                models[str(name)] = self._fit_column(series, None)
        axis = self._main_axis(data, models, scores, observed)
        for name in data.columns:
            if str(name) not in models:
                models[str(name)] = self._fit_column(data[name], axis)
        self.columns_ = [models[str(name)] for name in data.columns]
        for column, name in zip(self.columns_, data.columns, strict=True):
            if column.name not in scores:
                scores[column.name], observed[column.name] = _scores(column, data[name])
        self.correlation_ = self._correlation(scores, observed)
        self.n_rows_ = int(data.shape[0])
        self._prepare()
        fit_segments(self, data, scores)
        return self

    def _split_generated(self, data: pd.DataFrame) -> pd.DataFrame:
        """Type the columns; keep the generated ones aside; return the modelled ones."""
        from tessera._tables import apply_types, infer_types

        if self.types is not None and not isinstance(self.types, dict):
            raise bad_value(
                "types",
                self.types,
                "it must be a dict {column: kind} or None",
                "Pass e.g. types={'signup': 'datetime'}.",
            )
        self.types_ = infer_types(data, self.types)
        data = apply_types(data, self.types_)
        self.generated_ = []
        modelled = []
        for name in data.columns:
            kind = self.types_[str(name)].kind
            if kind == "identifier" and self.identifiers != "keep":
                if self.identifiers == "regenerate":
                    self.generated_.append(IdentifierModel.fit(data[name]))
            elif kind == "text":
                if self.text == "generate":
                    self.generated_.append(TextModel.fit(data[name]))
            else:
                modelled.append(name)
        generated = {g.name for g in self.generated_}
        self.output_columns_ = [
            str(c) for c in data.columns if str(c) in generated or c in modelled
        ]
        if not modelled:
            raise bad_value(
                "data",
                f"<columns {list(map(str, data.columns))[:8]}>",
                "every column is an identifier or free text, so there is nothing to model",
                "Type a column otherwise with types={column: 'category'}.",
            )
        return data[modelled]

    def _check_params(self) -> None:
        check_bool("privacy", self.privacy)
        check_in("identifiers", self.identifiers, ("regenerate", "drop", "keep"))
        check_in("text", self.text, ("generate", "drop"))
        check_positive_int("max_discrete", self.max_discrete, minimum=1)
        if not isinstance(self.shrinkage, int | float) or not 0.0 <= self.shrinkage <= 1.0:
            raise bad_value(
                "shrinkage",
                self.shrinkage,
                "it must be a number in [0, 1]",
                "Pass 0.0 (none) to 1.0 (independent columns).",
            )

    def _fit_column(self, series: pd.Series, axis: np.ndarray | None) -> ColumnModel:
        try:
            return ColumnModel.fit(
                series,
                max_discrete=self.max_discrete,
                order_by=axis,
                min_count=PRIVACY_MIN_COUNT if self.privacy else None,
            )
        except ValueError as exc:
            raise bad_value(
                f"data[{series.name!r}]",
                series.head(3).tolist(),
                str(exc),
                "Drop the column or fill it before fitting.",
            ) from None

    @staticmethod
    def _main_axis(
        data: pd.DataFrame,
        models: dict[str, ColumnModel],
        scores: dict[str, np.ndarray],
        observed: dict[str, np.ndarray],
    ) -> np.ndarray | None:
        """Per-row position along the first principal axis of the numeric normal scores."""
        for name, model in models.items():
            scores[name], observed[name] = _scores(model, data[_original(data, name)])
        if not scores:
            return None
        matrix = np.column_stack([scores[name] for name in models])
        if matrix.shape[1] == 1:
            return matrix[:, 0]
        centred = matrix - matrix.mean(axis=0)
        spread = np.sqrt((centred**2).mean(axis=0))
        standard = centred / np.where(spread > 1e-12, spread, 1.0)
        corr = standard.T @ standard / matrix.shape[0]
        _, vectors = np.linalg.eigh(corr)
        return np.asarray(standard @ vectors[:, -1], dtype=float)

    def _correlation(
        self, scores: dict[str, np.ndarray], observed: dict[str, np.ndarray]
    ) -> np.ndarray:
        names = [c.name for c in self.columns_]
        s = np.column_stack([scores[n] for n in names])
        m = np.column_stack([observed[n] for n in names]).astype(float)
        return self._correlation_from_moments(s.T @ s, m.T @ m)

    def _correlation_from_moments(self, products: np.ndarray, pairs: np.ndarray) -> np.ndarray:
        """The latent correlation from ``S^T S`` and ``M^T M`` (summable over row blocks)."""
        names = [c.name for c in self.columns_]
        # Pairwise-complete moments: missing scores are 0 and do not count.
        counts = np.maximum(pairs, 1.0)
        cov = products / counts
        var = np.sqrt(np.maximum(np.diag(cov), 1e-12))
        corr = cov / np.outer(var, var)
        # Discrete scores are E[Z | interval]: their correlation with Z' is rho * sd(scores).
        sd = np.array([c.marginal.score_sd() for c in self.columns_])
        constant = sd < 1e-9  # a single value: independent of everything
        sd[constant] = 1.0
        corr = corr / np.outer(sd, sd)
        corr[constant, :] = 0.0
        corr[:, constant] = 0.0
        np.fill_diagonal(corr, 1.0)
        corr = np.clip(corr, -0.995, 0.995)
        np.fill_diagonal(corr, 1.0)
        corr = (1.0 - self.shrinkage) * corr + self.shrinkage * np.eye(len(names))
        return _nearest_correlation(corr)

    def _prepare(self) -> None:
        self._cholesky = np.linalg.cholesky(self.correlation_)
        self._index = {c.name: i for i, c in enumerate(self.columns_)}

    # --------------------------------------------------------------- sample
    def sample(
        self,
        n: int,
        *,
        conditions: dict[str, Any] | None = None,
        random_state: int | np.random.Generator | None = None,
        first_row: int = 0,
    ) -> pd.DataFrame:
        """Sample ``n`` new rows.

        Parameters
        ----------
        n : int
            Number of rows (>= 0).
        conditions : dict, optional
            ``{column: value}`` to fix: every row has those values, and the other
            columns follow the copula's conditional distribution given them.
        random_state : int, numpy.random.Generator or None, default=None
            Seed; the same seed gives the same rows.
        first_row : int, default=0
            The position of the first row in a larger table written in pieces: the
            regenerated identifiers of different pieces never coincide.

        Returns
        -------
        pandas.DataFrame
            ``n`` rows with the fitted columns and kinds of values.
        """
        self._check_fitted()
        n = check_positive_int("n", n, minimum=0)
        rng = as_generator(random_state)
        if conditions is not None and not isinstance(conditions, dict):
            raise InvalidTypeError(
                f"conditions={short_repr(conditions)} is invalid: it must be a dict "
                "{column: value}. Pass e.g. conditions={'sex': 'F'}."
            )
        first_row = check_positive_int("first_row", first_row, minimum=0)
        if self.segments_:
            inner = sample_segments(self, n, dict(conditions or {}), rng)
        else:
            inner = self._sample_single(n, conditions, rng)
        fitted = getattr(self, "constraints_", [])
        if fitted:
            inner = apply_constraints(inner, fitted)
        if not getattr(self, "generated_", None) and not fitted:
            return inner
        generated = {g.name: g for g in getattr(self, "generated_", [])}
        out = {
            name: generated[name].sample(n, rng, first_row) if name in generated else inner[name]
            for name in self.output_columns_
        }
        return pd.DataFrame(out)

    def sample_dask(
        self,
        n: int,
        *,
        npartitions: int | None = None,
        random_state: int | None = None,
        block_rows: int = 100_000,
    ) -> Any:
        """Sample ``n`` rows as a lazy Dask DataFrame (needs the ``dask`` extra).

        Parameters
        ----------
        n : int
            Number of rows (>= 0).
        npartitions : int, optional
            Partitions, each a run of whole blocks; default: one per block.
        random_state : int or None, default=None
            Seed. Block ``b`` (rows ``b * block_rows`` onwards) is drawn from the seed
            spawned for ``b``, so the rows are the same for any ``npartitions`` and any
            number of workers.
        block_rows : int, default=100_000
            Rows per seeded block; with ``chunk_size=block_rows`` the rows equal those
            ``tessera synth sample`` writes in one process.

        Returns
        -------
        dask.dataframe.DataFrame
            Indexed by row number (known divisions).
        """
        from tessera.synth._dask import sample_dask

        return sample_dask(
            self, n, npartitions=npartitions, random_state=random_state, block_rows=block_rows
        )

    def _sample_single(
        self, n: int, conditions: dict[str, Any] | None, rng: np.random.Generator
    ) -> pd.DataFrame:
        d = len(self.columns_)
        if conditions:
            fixed = self._latent_conditions(conditions)
            z = conditional_latent(self.correlation_, fixed, n, rng).T
        else:
            # Columns as rows: each column's latent draws are contiguous for its marginal.
            z = self._cholesky @ rng.standard_normal((d, n))
            fixed = {}
        missing_u = rng.random((n, d)) if any(c.missing_rate > 0 for c in self.columns_) else None
        out: dict[str, Any] = {}
        for j, column in enumerate(self.columns_):
            values = column.marginal.sample(np.ascontiguousarray(z[j]))
            missing = None
            if j in fixed:
                value = conditions[column.name]  # type: ignore[index]
                values = np.full(n, column.model_value(value), dtype=values.dtype)
            elif missing_u is not None and column.missing_rate > 0:
                missing = missing_u[:, j] < column.missing_rate
            out[column.name] = column.to_output(values, missing)
        return pd.DataFrame(out)

    def _latent_conditions(self, conditions: dict[str, Any]) -> dict[int, tuple[float, float]]:
        fixed: dict[int, tuple[float, float]] = {}
        generated = {g.name: g.kind for g in getattr(self, "generated_", [])}
        for rule in getattr(self, "constraints_", []):
            generated[rule.rule.target] = f"constrained ({rule.rule.text!r})"
        for name, value in conditions.items():
            if name in generated:
                raise bad_value(
                    "conditions",
                    {name: value},
                    f"{name!r} is a {generated[name]} column, generated rather than modelled",
                    "Condition on a modelled column (identifiers, text and the targets of "
                    "constraints are made from the rest).",
                )
            if name not in self._index:
                raise bad_value(
                    "conditions",
                    {name: value},
                    f"{name!r} is not a fitted column",
                    f"Use one of {[c.name for c in self.columns_]}.",
                )
            column = self.columns_[self._index[name]]
            try:
                fixed[self._index[name]] = column.marginal.to_latent(column.model_value(value))
            except (ValueError, TypeError) as exc:
                raise bad_value(
                    f"conditions[{name!r}]",
                    value,
                    str(exc),
                    "Condition on a value the model can produce.",
                ) from None
        return fixed

    # ---------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, Any]:
        """The fitted model as plain JSON-ready data (the format of :meth:`save`)."""
        self._check_fitted()
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "params": {
                "max_discrete": self.max_discrete,
                "shrinkage": self.shrinkage,
                "segment_by": self.segment_by,
                "types": self.types,
                "identifiers": self.identifiers,
                "text": self.text,
                "privacy": self.privacy,
                "constraints": self.constraints,
            },
            "n_rows": self.n_rows_,
            "columns": [c.to_dict() for c in self.columns_],
            "correlation": self.correlation_.tolist(),
            "segment_by": self.segment_by_,
            "segments": [
                {"value": v, "weight": w, "model": m.to_dict()} for v, w, m in self.segments_
            ],
            "types": [
                {"name": c.name, "kind": c.kind, "reason": c.reason, "format": c.format}
                for c in _type_rows(self)
            ],
            "generated": [g.to_dict() for g in getattr(self, "generated_", [])],
            "output_columns": list(getattr(self, "output_columns_", self._index)),
            "constraints": [c.to_dict() for c in getattr(self, "constraints_", [])],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GaussianCopula:
        """Rebuild a fitted model from :meth:`to_dict` output."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise bad_value(
                "model",
                short_repr(data),
                f"it is not a {FORMAT} document",
                "Load a file written by GaussianCopula.save().",
            )
        if data.get("version") != FORMAT_VERSION:
            raise bad_value(
                "model version",
                data.get("version"),
                f"this Tessera reads version {FORMAT_VERSION}",
                "Refit the model with this version.",
            )
        try:
            model = cls(**data["params"])
            model.columns_ = [ColumnModel.from_dict(c) for c in data["columns"]]
            model.correlation_ = np.asarray(data["correlation"], dtype=float)
            model.n_rows_ = int(data["n_rows"])
            d = len(model.columns_)
            if model.correlation_.shape != (d, d):
                raise ValueError(f"correlation is {model.correlation_.shape}, expected ({d}, {d})")
            model._prepare()
            model.segment_by_ = data.get("segment_by")
            model.segments_ = [
                (s["value"], float(s["weight"]), cls.from_dict(s["model"]))
                for s in data.get("segments", [])
            ]
            model.types_ = _types_from(data.get("types", []))
            model.generated_ = [generated_from_dict(g) for g in data.get("generated", [])]
            model.output_columns_ = list(
                data.get("output_columns", [c.name for c in model.columns_])
            )
            model.constraints_ = [
                FittedConstraint.from_dict(c) for c in data.get("constraints", [])
            ]
        except (KeyError, TypeError, ValueError, np.linalg.LinAlgError) as exc:
            raise InvalidInputError(
                f"model document is invalid: {type(exc).__name__}: {exc}. "
                "Load a file written by GaussianCopula.save()."
            ) from None
        return model

    def save(self, path: str | Path) -> Path:
        """Write the model as JSON (see :meth:`to_dict`; no pickle) and return the path."""
        target = Path(path)
        target.write_text(json.dumps(self.to_dict(), allow_nan=False), encoding="utf-8")
        return target

    @classmethod
    def load(cls, path: str | Path) -> GaussianCopula:
        """Read a model written by :meth:`save`."""
        text = Path(path).read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise bad_value(
                "path", str(path), f"it is not JSON ({exc})", "Pass a saved model."
            ) from None
        return cls.from_dict(data)

    # -------------------------------------------------------------- inspect
    def describe(self) -> CopulaDescription:
        """The learned marginals (one row per column) and latent correlations."""
        self._check_fitted()
        rows = [
            {
                "column": c.name,
                "type": c.logical,
                "marginal": c.marginal.kind,
                "missing": round(c.missing_rate, 4),
                "summary": c.marginal.summary(),
            }
            for c in self.columns_
        ] + [
            {
                "column": g.name,
                "type": g.kind,
                "marginal": "generated",
                "missing": round(g.missing_rate, 4),
                "summary": g.summary(),
            }
            for g in getattr(self, "generated_", [])
        ]
        names = [c.name for c in self.columns_]
        segments = pd.DataFrame(
            [(v, w) for v, w, _ in self.segments_],
            columns=[self.segment_by_ or "segment", "weight"],
        )
        return CopulaDescription(
            columns=pd.DataFrame(rows).set_index("column"),
            correlation=pd.DataFrame(self.correlation_, index=names, columns=names),
            segments=segments,
        )

    def _check_fitted(self) -> None:
        if not hasattr(self, "columns_"):
            raise InvalidInputError(
                "this GaussianCopula is not fitted yet: call .fit(data) "
                "or GaussianCopula.load(path) first."
            )

    def __repr__(self) -> str:
        return (
            f"GaussianCopula(max_discrete={self.max_discrete}, shrinkage={self.shrinkage}, "
            f"segment_by={self.segment_by!r}, types={self.types!r}, "
            f"identifiers={self.identifiers!r}, text={self.text!r}, privacy={self.privacy!r})"
        )


def _type_rows(model: GaussianCopula) -> list[Any]:
    types = getattr(model, "types_", None)
    return list(types.columns) if types is not None else []


def _types_from(rows: list[dict[str, Any]]) -> Any:
    from tessera._tables import ColumnType, TableTypes

    return TableTypes([ColumnType(**row) for row in rows]) if rows else None


def _original(data: pd.DataFrame, name: str) -> Any:
    for column in data.columns:
        if str(column) == name:
            return column
    raise KeyError(name)


def _scores(model: ColumnModel, series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Normal scores of a column with 0 where missing, and its observed mask."""
    from tessera.synth._columns import column_values

    values, missing = column_values(series, model.logical)
    full = np.zeros(series.shape[0])
    marginal = model.marginal
    if isinstance(marginal, DiscreteMarginal):
        # Values left out in privacy mode (rare labels) count as unobserved.
        codes = marginal._lookup.get_indexer(pd.Index(values, dtype=object))
        known = codes >= 0
        observed = ~missing
        observed[np.flatnonzero(observed)[~known]] = False
        full[observed] = marginal.means[codes[known]]
        return full, observed
    if isinstance(marginal, ContinuousMarginal):
        full[~missing] = marginal.scores(values)
    return full, ~missing


def _nearest_correlation(corr: np.ndarray) -> np.ndarray:
    """Clip eigenvalues to keep the matrix positive definite, then restore the unit diagonal."""
    corr = (corr + corr.T) / 2.0
    values, vectors = np.linalg.eigh(corr)
    if values.min() < 1e-6:
        values = np.maximum(values, 1e-6)
        corr = (vectors * values) @ vectors.T
        d = np.sqrt(np.diag(corr))
        corr = corr / np.outer(d, d)
    return np.asarray(corr, dtype=float)
