"""The declarative table spec: YAML or JSON, validated with pydantic, errors with line numbers.

A spec names columns and how each is made; distribution, categorical and datetime
columns share one Gaussian latent layer, so a ``correlations`` entry ties any two of
them (rank correlation through the copula), whatever their marginals::

    seed: 7
    columns:
      age:     {type: distribution, name: norm, params: {loc: 40, scale: 12}, round: 0, min: 18}
      income:  {type: distribution, name: lognorm, params: {s: 0.6, scale: 40000}, round: 2}
      segment: {type: categorical, values: {A: 0.5, B: 0.3, C: 0.2}}
      name:    {type: person, field: name, locale: de_DE}
      spend:   {type: derived, expr: "0.02 * income + 3 * age", round: 2}
    correlations:
      - [age, income, 0.5]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from scipy import special, stats

from tessera.errors import InvalidInputError

__all__ = ["TableSpec", "generate_chunk", "load_spec", "parse_spec"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DistributionColumn(_Strict):
    type: Literal["distribution"]
    name: str
    params: dict[str, float] = Field(default_factory=dict)
    round: int | None = None
    min: float | None = None
    max: float | None = None
    missing: float = Field(0.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _known(self) -> DistributionColumn:
        from tessera.synth._generators import distribution

        params: dict[str, Any] = dict(self.params)
        distribution(self.name, 0, **params)  # raises with the rule and a hint
        return self


class CategoricalColumn(_Strict):
    type: Literal["categorical"]
    values: dict[str, float] | list[str]
    missing: float = Field(0.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _weights(self) -> CategoricalColumn:
        weights = list(self.values.values()) if isinstance(self.values, dict) else [1.0]
        if not self.values or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError("values need at least one entry and non-negative weights")
        return self


class DatetimeColumn(_Strict):
    type: Literal["datetime"]
    start: str
    end: str
    unit: Literal["D", "h", "min", "s"] = "D"
    missing: float = Field(0.0, ge=0.0, le=1.0)


class PersonColumn(_Strict):
    type: Literal["person"]
    field: Literal["name", "first_name", "last_name", "email", "phone", "address"]
    locale: str = "en_US"


class SequenceColumn(_Strict):
    type: Literal["sequence"]
    start: int = 1
    step: int = 1


class DerivedColumn(_Strict):
    type: Literal["derived"]
    expr: str
    round: int | None = None


Column = Annotated[
    DistributionColumn
    | CategoricalColumn
    | DatetimeColumn
    | PersonColumn
    | SequenceColumn
    | DerivedColumn,
    Field(discriminator="type"),
]
_LATENT = (DistributionColumn, CategoricalColumn, DatetimeColumn)


class TableSpec(_Strict):
    """A validated table spec (see the module docstring for the format)."""

    seed: int | None = None
    rows: int | None = Field(None, ge=0)
    columns: dict[str, Column]
    correlations: list[tuple[str, str, float]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> TableSpec:
        latent = [n for n, c in self.columns.items() if isinstance(c, _LATENT)]
        for a, b, r in self.correlations:
            for name in (a, b):
                if name not in latent:
                    raise ValueError(
                        f"correlation names {name!r}, which is not a distribution, categorical "
                        f"or datetime column (those are {latent})"
                    )
            if not -1.0 < r < 1.0 or a == b:
                raise ValueError(f"correlation [{a}, {b}, {r}] needs two columns and -1 < r < 1")
        matrix = self.latent_correlation()
        if matrix.size and np.linalg.eigvalsh(matrix).min() <= 1e-9:
            raise ValueError("the correlations are not jointly possible (not positive definite)")
        return self

    def latent_names(self) -> list[str]:
        return [n for n, c in self.columns.items() if isinstance(c, _LATENT)]

    def latent_correlation(self) -> np.ndarray:
        names = self.latent_names()
        index = {n: i for i, n in enumerate(names)}
        matrix = np.eye(len(names))
        for a, b, r in self.correlations:
            matrix[index[a], index[b]] = matrix[index[b], index[a]] = r
        return matrix


def _node_line(node: yaml.Node, path: tuple[Any, ...]) -> int:
    """The 1-based line of the deepest YAML node along ``path`` (skipping union tags)."""
    line = node.start_mark.line + 1
    for key in path:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(key):
                    line = k.start_mark.line + 1
                    node = v
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            if key < len(node.value):
                node = node.value[key]
                line = node.start_mark.line + 1
    return int(line)


def parse_spec(text: str, *, source: str = "spec") -> TableSpec:
    """Validate a spec given as YAML or JSON text; errors name the line and the key."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"{source} is not valid YAML/JSON: {exc}") from None
    if root is None or not isinstance(data, dict):
        raise InvalidInputError(f"{source} must be a mapping with a 'columns' key.")
    try:
        return TableSpec.model_validate(json.loads(json.dumps(data, default=str)))
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            where = ".".join(str(p) for p in loc) or "(top level)"
            message = error["msg"]
            if error["type"] == "extra_forbidden":
                message = "unknown key"
            lines.append(f"{source}:{_node_line(root, loc)}: {where}: {message}")
        raise InvalidInputError(
            f"{source} has {len(lines)} error(s):\n" + "\n".join(lines) + "\nFix the spec."
        ) from None


def load_spec(path: str | Path) -> TableSpec:
    """Read and validate a ``.yaml``/``.yml``/``.json`` spec file."""
    target = Path(path)
    return parse_spec(target.read_text(encoding="utf-8"), source=target.name)


def generate_chunk(
    spec: TableSpec, start: int, size: int, seed: np.random.SeedSequence
) -> pd.DataFrame:
    """Rows ``start .. start + size`` of the table, from their own seed (a pure function)."""
    from tessera.synth._people import fake_people

    rng = np.random.default_rng(seed)
    names = spec.latent_names()
    latent = np.zeros((size, 0))
    if names:
        chol = np.linalg.cholesky(spec.latent_correlation())
        latent = rng.standard_normal((size, len(names))) @ chol.T
    uniform = special.ndtr(latent)
    out: dict[str, Any] = {}
    people: dict[str, pd.DataFrame] = {}
    for name, column in spec.columns.items():
        if isinstance(column, _LATENT):
            u = np.clip(uniform[:, names.index(name)], 1e-12, 1 - 1e-12)
            out[name] = _from_uniform(column, u, rng)
        elif isinstance(column, PersonColumn):
            if column.locale not in people:  # one draw per locale: coherent rows
                fields = {
                    c.field: None
                    for c in spec.columns.values()
                    if isinstance(c, PersonColumn) and c.locale == column.locale
                }
                people[column.locale] = fake_people(
                    size, fields=tuple(fields), locale=column.locale, random_state=rng
                )
            out[name] = people[column.locale][column.field].to_numpy()
        elif isinstance(column, SequenceColumn):
            out[name] = column.start + column.step * np.arange(start, start + size, dtype=np.int64)
    frame = pd.DataFrame(out)
    for name, column in spec.columns.items():
        if isinstance(column, DerivedColumn):
            try:
                values = frame.eval(column.expr, engine="python")
            except Exception as exc:  # pandas raises many kinds; all mean a bad expression
                raise InvalidInputError(
                    f"columns.{name}.expr={column.expr!r} is invalid: {type(exc).__name__}: "
                    f"{exc}. Use arithmetic on earlier columns, e.g. '2 * age + 1'."
                ) from None
            frame[name] = values.round(column.round) if column.round is not None else values
    return frame[list(spec.columns)]


def _from_uniform(column: Any, u: np.ndarray, rng: np.random.Generator) -> Any:
    size = u.size
    if isinstance(column, DistributionColumn):
        values = np.asarray(getattr(stats, column.name).ppf(u, **column.params), dtype=float)
        if column.min is not None or column.max is not None:
            values = np.clip(values, column.min, column.max)
        if column.round is not None:
            values = np.round(values, column.round)
        missing = rng.random(size) < column.missing if column.missing else None
        if column.round == 0:  # whole numbers: an integer column
            whole = pd.array(values.astype(np.int64), dtype="Int64")
            if missing is not None:
                whole[missing] = pd.NA
                return whole
            return values.astype(np.int64)
        if missing is not None:
            values[missing] = np.nan
        return values
    if isinstance(column, CategoricalColumn):
        labels = list(column.values)
        weights = np.asarray(
            list(column.values.values()) if isinstance(column.values, dict) else [1.0] * len(labels)
        )
        cum = np.cumsum(weights / weights.sum())[:-1]
        values = np.asarray(labels, dtype=object)[np.searchsorted(cum, u, side="right")]
        if column.missing:
            values[rng.random(size) < column.missing] = None
        return values
    lo = pd.Timestamp(column.start).value
    hi = pd.Timestamp(column.end).value
    step = pd.Timedelta(1, unit=column.unit).value
    ns = lo + np.floor(u * ((hi - lo) // step + 1)).astype(np.int64) * step
    stamps = pd.Series(ns.astype("datetime64[ns]"))
    if column.missing:
        stamps[rng.random(size) < column.missing] = pd.NaT
    return stamps.to_numpy()
