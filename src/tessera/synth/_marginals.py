"""Per-column marginals of the Gaussian copula, each a map between values and normal scores.

A marginal has three jobs: give every observed value a normal score (to estimate the
correlation), turn latent standard-normal draws back into values (to sample), and give
the latent interval a fixed value occupies (to condition on it). Every marginal
serialises to a plain JSON dictionary.

- :class:`ContinuousMarginal` -- numbers with many distinct values: the quantile
  function of a kernel density estimate (up to ``_MAX_KNOTS`` values; reflected at the
  range's ends, atoms kept as point masses), else the empirical quantile function
  interpolated linearly between order statistics (or, in privacy mode, between means of
  bins of at least ``min_count`` order statistics), stored as knots in normal-score
  space so that sampling is one :func:`numpy.interp` per column, no ``ndtr`` call;
  optional rounding.
- :class:`DiscreteMarginal` -- numbers, booleans or categories with few distinct values:
  the values, in an order, and the latent thresholds between them (one
  :func:`numpy.searchsorted` per column).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

__all__ = ["ContinuousMarginal", "DiscreteMarginal", "Marginal", "marginal_from_dict"]

# Knots of the empirical quantile function: at most this many (evenly spaced in rank).
_MAX_KNOTS = 2000
# Latent scores are clipped here: Phi(8.3) is 1 - 6e-17, beyond what float64 separates.
_Z_CLIP = 8.0
# Sampling reads the quantile function off a uniform grid in latent space (index by
# arithmetic, no binary search); 8192 steps over [-8, 8] move a probability of at most
# 0.0008 per step, far below the sampling error of any table.
_GRID = 8193
# Smoothing: the kernel bandwidth is this multiple of Silverman's rule of thumb
# (0.9 min(sd, IQR / 1.34) m^(-1/5) over the m values not held by an atom).
SMOOTHING = 1.0
# A value is an atom (kept as a point mass, never smoothed) when at least this many rows,
# and at least this share of them, hold it.
_ATOM_ROWS = 5
_ATOM_SHARE = 0.01
# Points of the smoothed quantile function: the order statistics, the midpoints between
# them and an even grid over the range (the kernel CDF is exact at each).
_EVEN_POINTS = 256


def _probit(p: np.ndarray) -> np.ndarray:
    return np.asarray(special.ndtri(p), dtype=float)


def _interval_means(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """``E[Z | lower < Z < upper]`` for a standard normal Z, elementwise (tails safe)."""
    mass = special.ndtr(upper) - special.ndtr(lower)
    dens = stats.norm.pdf(lower) - stats.norm.pdf(upper)
    with np.errstate(divide="ignore", invalid="ignore"):
        mid = np.nan_to_num(np.clip((lower + upper) / 2.0, -_Z_CLIP, _Z_CLIP), nan=0.0)
        means = np.where(mass > 1e-300, dens / np.maximum(mass, 1e-300), mid)
    return np.asarray(means, dtype=float)


@dataclass
class ContinuousMarginal:
    """A quantile function stored as knots in normal-score space.

    Sampling maps a latent ``z`` to ``interp(z, z_knots, x_knots)``, so sampled values
    stay within the observed ``[min, max]``. Up to ``_MAX_KNOTS`` rows the function is
    that of a kernel density estimate (Silverman's bandwidth, reflected at min and max;
    a value held by many rows stays a point mass, two equal knots), evaluated exactly at
    the data's values, their midpoints and an even grid; beyond, or with
    ``smoothing=None``, the empirical quantile function interpolated linearly between
    order statistics. In privacy mode (``min_count``) each knot is instead the mean of
    a bin of at least ``min_count`` consecutive order statistics, so a stored value is
    a real one only where that many rows share it. ``decimals`` rounds the output (0
    for integers).
    """

    z_knots: np.ndarray
    x_knots: np.ndarray
    decimals: int | None = None
    kind: str = "continuous"

    def __post_init__(self) -> None:
        self._grid = np.interp(np.linspace(-_Z_CLIP, _Z_CLIP, _GRID), self.z_knots, self.x_knots)
        self._steps = np.diff(self._grid)

    @classmethod
    def fit(
        cls,
        values: np.ndarray,
        *,
        decimals: int | None,
        min_count: int | None = None,
        smoothing: float | None = SMOOTHING,
    ) -> ContinuousMarginal:
        """Fit to finite float values (at least two distinct).

        ``min_count`` (privacy mode): knots are the means of bins of at least that many
        consecutive order statistics, placed at the bins' middle plotting positions; the
        range is that of the extreme bins' means, never the data's own min and max.

        ``smoothing`` (up to ``_MAX_KNOTS`` values, outside privacy mode): the quantile
        function of a kernel density estimate instead of the raw order statistics --
        Gaussian kernels of ``smoothing`` times Silverman's bandwidth, reflected at the
        observed min and max (so the range is kept), with values held by many rows
        (atoms) kept as point masses. ``None`` interpolates the order statistics.
        """
        ordered = np.sort(values)
        n = ordered.size
        if min_count is not None:
            return cls._binned(ordered, decimals, min_count)
        if smoothing is not None and n <= _MAX_KNOTS:
            smoothed = _kernel_knots(ordered, smoothing)
            if smoothed is not None:
                z_knots, x_knots = smoothed
                return cls(z_knots=z_knots, x_knots=x_knots, decimals=decimals)
        # Plotting positions (i + 0.5) / n of the order statistics, plus the two extremes
        # at 0.5 / (n + 1) outside them, so the whole observed range is reachable.
        if n > _MAX_KNOTS:
            ranks = np.linspace(0, n - 1, _MAX_KNOTS)
            x_knots = np.interp(ranks, np.arange(n), ordered)
            probs = (ranks + 0.5) / n
        else:
            x_knots = ordered.astype(float)
            probs = (np.arange(n) + 0.5) / n
        z_knots = _probit(probs)
        # Stretch the end knots to the latent tails: min and max are reached at |z| = 8.
        z_knots[0], z_knots[-1] = -_Z_CLIP, _Z_CLIP
        return cls(z_knots=z_knots, x_knots=np.asarray(x_knots, dtype=float), decimals=decimals)

    @classmethod
    def _binned(cls, ordered: np.ndarray, decimals: int | None, k: int) -> ContinuousMarginal:
        n = ordered.size
        n_bins = int(np.clip(n // k, 2, _MAX_KNOTS))
        edges = np.linspace(0, n, n_bins + 1).round().astype(int)
        sums = np.add.reduceat(ordered.astype(float), edges[:-1])
        sizes = np.diff(edges)
        x_knots = sums / sizes
        probs = (edges[:-1] + sizes / 2.0) / n
        return cls(z_knots=_probit(probs), x_knots=x_knots, decimals=decimals)

    def scores(self, values: np.ndarray) -> np.ndarray:
        """Normal scores of values (van der Waerden ranks, ties averaged)."""
        ranks = stats.rankdata(values)
        return _probit(ranks / (values.size + 1))

    def score_sd(self) -> float:
        return 1.0

    def to_latent(self, value: float) -> tuple[float, float]:
        """The latent set where the quantile function gives ``value``.

        A value the data holds many times (an atom: several equal knots) owns a latent
        interval whose probability is its share of the rows; any other value in range is
        a single latent point (a degenerate interval).
        """
        x = float(value)
        lo, hi = self.x_knots[0], self.x_knots[-1]
        if not lo <= x <= hi:
            raise ValueError(f"outside the fitted range [{lo:g}, {hi:g}]")
        interval = self.atom(x)
        if interval is not None:
            return interval
        z = float(np.interp(x, self.x_knots, self.z_knots))
        return z, z

    def atom(self, value: float) -> tuple[float, float] | None:
        """The latent interval of ``value`` if at least two knots hold it, else ``None``.

        Knot ``i`` stands for the probability between the midpoints (in probability) to
        its neighbours, so ``k`` equal knots own exactly ``k / n`` of the rows when the
        knots are the order statistics, and within one knot spacing otherwise.
        """
        left = int(np.searchsorted(self.x_knots, value, side="left"))
        right = int(np.searchsorted(self.x_knots, value, side="right"))
        if right - left < 2:
            return None
        probs = self._knot_probs()
        lower = -np.inf if left == 0 else float(_probit((probs[left - 1] + probs[left]) / 2.0))
        last = self.x_knots.size - 1
        upper = np.inf if right > last else float(_probit((probs[right - 1] + probs[right]) / 2.0))
        return lower, upper

    def mass(self, value: float) -> float:
        """Probability of exactly ``value``: its atom's share of the rows, else 0."""
        interval = self.atom(float(value))
        if interval is None:
            return 0.0
        return float(special.ndtr(interval[1]) - special.ndtr(interval[0]))

    def density(self, value: float) -> float:
        """Density of the interpolated quantile function's distribution at ``value``."""
        xs, zs = self.x_knots, self.z_knots
        x = float(value)
        if not xs[0] <= x <= xs[-1] or self.atom(x) is not None:
            return 0.0
        k = int(np.clip(np.searchsorted(xs, x, side="right") - 1, 0, xs.size - 2))
        width = xs[k + 1] - xs[k]
        if width <= 0:
            return 0.0
        z = float(np.interp(x, xs, zs))
        return float(stats.norm.pdf(z) * (zs[k + 1] - zs[k]) / width)

    def _knot_probs(self) -> np.ndarray:
        # The end knots were stretched to +-8 in latent space; their plotting positions
        # are recovered from their neighbours' spacing.
        probs = np.asarray(special.ndtr(self.z_knots), dtype=float)
        if probs.size >= 3:
            probs[0] = max(2 * probs[1] - probs[2], 0.0)
            probs[-1] = min(2 * probs[-2] - probs[-3], 1.0)
        return probs

    def sample(self, z: np.ndarray) -> np.ndarray:
        pos = (z + _Z_CLIP) * ((_GRID - 1) / (2 * _Z_CLIP))
        np.clip(pos, 0.0, _GRID - 1.000001, out=pos)
        index = pos.astype(np.intp)
        pos -= index
        out = self._grid[index]
        out += pos * self._steps[index]
        if self.decimals is not None:
            out = np.round(out, self.decimals)
        return np.asarray(out, dtype=float)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "z_knots": self.z_knots.tolist(),
            "x_knots": self.x_knots.tolist(),
            "decimals": self.decimals,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContinuousMarginal:
        return cls(
            z_knots=np.asarray(data["z_knots"], dtype=float),
            x_knots=np.asarray(data["x_knots"], dtype=float),
            decimals=data["decimals"],
        )

    def summary(self) -> str:
        q = np.interp([-_Z_CLIP, -0.6745, 0.0, 0.6745, _Z_CLIP], self.z_knots, self.x_knots)
        return (
            f"empirical ({self.x_knots.size} knots): min {q[0]:.4g}, q1 {q[1]:.4g}, "
            f"median {q[2]:.4g}, q3 {q[3]:.4g}, max {q[4]:.4g}"
        )


@dataclass
class DiscreteMarginal:
    """A finite set of values with probabilities, laid out on the latent line in an order.

    Value ``k`` (in ``values`` order) owns the latent interval
    ``(thresholds[k-1], thresholds[k])``; the order is chosen at fit time so that
    neighbouring intervals hold values that go with similar other columns, which is what
    lets one latent dimension carry a category's dependence on the rest.
    """

    values: list[Any]
    probs: np.ndarray
    kind: str = "discrete"

    def __post_init__(self) -> None:
        cum = np.cumsum(self.probs)[:-1]
        self.thresholds = _probit(np.clip(cum, 0.0, 1.0))
        lower = np.concatenate([[-np.inf], self.thresholds])
        upper = np.concatenate([self.thresholds, [np.inf]])
        self.lower, self.upper = lower, upper
        self.means = _interval_means(lower, upper)
        self._index = {_key(v): i for i, v in enumerate(self.values)}
        self._lookup = pd.Index(self.values, dtype=object)

    @classmethod
    def fit(
        cls,
        values: np.ndarray,
        *,
        order_by: np.ndarray | None = None,
        min_count: int | None = None,
    ) -> DiscreteMarginal:
        """Fit to non-missing values; ``order_by`` (one number per row) sets the order.

        ``min_count`` (privacy mode): values held by fewer rows are not kept -- a rare
        number moves to the nearest kept one, a rare label's rows are left out -- so
        every stored value is shared by at least that many rows (the most frequent
        value is always kept).
        """
        if min_count is not None:
            values, order_by = _common_values(values, order_by, min_count)
        uniques, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
        if order_by is not None and uniques.size > 2:
            sums = np.bincount(inverse, weights=order_by, minlength=uniques.size)
            order = np.argsort(sums / counts, kind="stable")
        else:
            order = np.arange(uniques.size)
        probs = counts[order] / counts.sum()
        return cls(values=[_plain(uniques[i]) for i in order], probs=probs)

    def codes(self, values: np.ndarray) -> np.ndarray:
        """Position of each value in :attr:`values` (all must be fitted values)."""
        codes = self._lookup.get_indexer(pd.Index(values, dtype=object))
        if (codes < 0).any():
            raise ValueError(f"value {values[np.argmax(codes < 0)]!r} was not seen at fit time")
        return np.asarray(codes, dtype=np.int64)

    def scores(self, values: np.ndarray) -> np.ndarray:
        """``E[Z | Z in the value's interval]``: normal scores with ties resolved exactly."""
        return np.asarray(self.means[self.codes(values)], dtype=float)

    def score_sd(self) -> float:
        """Standard deviation of the scores: the attenuation of their correlations."""
        return float(np.sqrt(np.sum(self.probs * self.means**2)))

    def to_latent(self, value: Any) -> tuple[float, float]:
        code = self._index.get(_key(value))
        if code is None:
            shown = ", ".join(repr(v) for v in self.values[:8])
            more = ", ..." if len(self.values) > 8 else ""
            raise ValueError(f"not one of the fitted values ({shown}{more})")
        return float(self.lower[code]), float(self.upper[code])

    def mass(self, value: Any) -> float:
        """Probability of exactly ``value`` (0 for a value not seen at fit time)."""
        code = self._index.get(_key(value))
        return 0.0 if code is None else float(self.probs[code])

    def density(self, value: Any) -> float:
        """A finite set of values has no density: always 0."""
        return 0.0

    def sample_codes(self, z: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.thresholds, z, side="right")

    def sample(self, z: np.ndarray) -> np.ndarray:
        table = np.asarray(self.values, dtype=object)
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in self.values):
            table = np.asarray(self.values, dtype=float)
        return np.asarray(table[self.sample_codes(z)])

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "values": list(self.values), "probs": self.probs.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DiscreteMarginal:
        return cls(values=list(data["values"]), probs=np.asarray(data["probs"], dtype=float))

    def summary(self) -> str:
        top = sorted(zip(self.probs, self.values, strict=True), key=lambda t: -t[0])[:5]
        shown = ", ".join(f"{v!r} {p:.1%}" for p, v in top)
        more = f" (+{len(self.values) - 5} more)" if len(self.values) > 5 else ""
        return f"{len(self.values)} values: {shown}{more}"


Marginal = ContinuousMarginal | DiscreteMarginal


def silverman_bandwidth(values: np.ndarray) -> float:
    """Silverman's rule of thumb, ``0.9 min(sd, IQR / 1.34) n^(-1/5)`` (0 if no spread)."""
    sd = float(np.std(values, ddof=1)) if values.size > 1 else 0.0
    q75, q25 = np.percentile(values, [75, 25])
    spread = min(sd, float(q75 - q25) / 1.34) if q75 > q25 else sd
    return float(0.9 * spread * values.size ** (-0.2))


def _kernel_knots(ordered: np.ndarray, smoothing: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Knots ``(z, x)`` of a kernel-smoothed quantile function, or ``None`` if it cannot be.

    The distribution is a mixture: each atom (a value held by at least ``_ATOM_ROWS``
    rows and ``_ATOM_SHARE`` of them) a point mass of its share; every other value a
    Gaussian kernel of bandwidth ``smoothing`` x Silverman's, reflected at the observed
    min and max so that no mass leaves the range. Its CDF is computed exactly at the
    order statistics, their midpoints and an even grid; an atom is a jump, written as
    two knots at the same value (the latent interval it owns).
    """
    n = ordered.size
    low, high = float(ordered[0]), float(ordered[-1])
    if not high > low:
        return None
    uniques, counts = np.unique(ordered, return_counts=True)
    is_atom = (counts >= _ATOM_ROWS) & (counts >= _ATOM_SHARE * n)
    spread_values = np.repeat(uniques[~is_atom], counts[~is_atom]).astype(float)
    if spread_values.size < 2:
        return None
    bandwidth = smoothing * silverman_bandwidth(spread_values)
    if not bandwidth > 0:
        return None
    mids = (uniques[:-1] + uniques[1:]) / 2.0
    points = np.unique(
        np.concatenate([uniques, mids, np.linspace(low, high, _EVEN_POINTS)]).astype(float)
    )

    def kernel_cdf(x: np.ndarray) -> np.ndarray:
        # Mass of the reflected kernels below x, for x in [low, high].
        u = (x[:, None] - spread_values[None, :]) / bandwidth
        direct = special.ndtr(u) - special.ndtr((low - spread_values) / bandwidth)
        below = special.ndtr((x[:, None] - (2 * low - spread_values)) / bandwidth) - special.ndtr(
            (low - (2 * low - spread_values)) / bandwidth
        )
        above = special.ndtr((x[:, None] - (2 * high - spread_values)) / bandwidth) - special.ndtr(
            (low - (2 * high - spread_values)) / bandwidth
        )
        return np.asarray((direct + below + above).sum(axis=1), dtype=float)

    continuous = kernel_cdf(points)
    continuous *= spread_values.size / (max(continuous[-1], 1e-300) * n)
    atom_values = uniques[is_atom].astype(float)
    atom_probs = counts[is_atom] / n
    # CDF just below each point (atoms strictly below) and just above (atoms at or below).
    cum_atoms = np.concatenate([[0.0], np.cumsum(atom_probs)])
    before = continuous + cum_atoms[np.searchsorted(atom_values, points, side="left")]
    after = continuous + cum_atoms[np.searchsorted(atom_values, points, side="right")]
    at_atom = np.isin(points, atom_values)
    # An atom is a jump: two knots at its value (the CDF before and after it), and a knot
    # one ulp to each side at the same probabilities, so that :meth:`atom`'s midpoint rule
    # gives it exactly its share (the side knots are left out at the range's ends).
    inner_low, inner_high = at_atom & (points > low), at_atom & (points < high)
    x_knots = np.concatenate(
        [
            points,
            points[at_atom],
            np.nextafter(points[inner_low], -np.inf),
            np.nextafter(points[inner_high], np.inf),
        ]
    )
    probs = np.concatenate([after, before[at_atom], before[inner_low], after[inner_high]])
    order = np.lexsort((probs, x_knots))
    x_knots, probs = x_knots[order], np.clip(probs[order], 0.0, 1.0)
    z_knots = np.clip(_probit(probs), -_Z_CLIP, _Z_CLIP)
    z_knots[0], z_knots[-1] = -_Z_CLIP, _Z_CLIP
    # Keep z non-decreasing against rounding (the quantile function is read with interp).
    z_knots = np.maximum.accumulate(z_knots)
    return z_knots, x_knots


def _common_values(
    values: np.ndarray, order_by: np.ndarray | None, k: int
) -> tuple[np.ndarray, np.ndarray | None]:
    uniques, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    kept = counts >= k
    if not kept.any():
        kept[np.argmax(counts)] = True
    if kept.all():
        return values, order_by
    numeric = values.dtype.kind in "fiu"
    if numeric:
        common = uniques[kept].astype(float)
        nearest = np.abs(uniques.astype(float)[:, None] - common[None, :]).argmin(axis=1)
        return common[nearest][inverse].astype(values.dtype), order_by
    rows = kept[inverse]
    return values[rows], None if order_by is None else order_by[rows]


def marginal_from_dict(data: dict[str, Any]) -> Marginal:
    """Rebuild a marginal from :meth:`to_dict` output."""
    if data.get("kind") == "continuous":
        return ContinuousMarginal.from_dict(data)
    if data.get("kind") == "discrete":
        return DiscreteMarginal.from_dict(data)
    raise ValueError(f"unknown marginal kind {data.get('kind')!r}")


def _plain(value: Any) -> Any:
    """A JSON-ready Python scalar for a numpy scalar."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _key(value: Any) -> Any:
    # 1 and 1.0 and True must not collide with "1"; numpy scalars compare as Python ones.
    value = _plain(value)
    return (type(value).__name__ if isinstance(value, str | bool) else "num", value)
