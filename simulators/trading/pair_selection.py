"""Choosing which pairs of a price universe to trade: a cheap pre-screen, then a cointegration test.

At a formation window (rows ``[t - formation, t)`` of a ``(rows, assets)`` price array, and only
those rows) every pair of assets is pre-screened by the correlation of its daily log returns;
the ``candidates`` most correlated pairs are then tested for cointegration of their price
levels, all at once with batched least squares:

- ``engle_granger``: OLS of one leg on the other with a constant, then the ADF(1) t-statistic of
  the residuals without a constant (as ``statsmodels.tsa.stattools.coint(y0, y1, maxlag=1,
  autolag=None)`` computes it) and MacKinnon's asymptotic p-value for two variables. The test is
  run in both directions and a pair keeps the larger (less significant) p-value, so the choice of
  dependent leg cannot make a pair look better than it is.
- ``johansen``: the trace statistic for rank 0 of a VECM with one lagged difference and a
  constant (``coint_johansen(levels, 0, 1).lr1[0]``), compared with its critical values at 10%,
  5% and 1%.

The result ranks the candidates from most to least cointegrated; :meth:`Screen.select` then
keeps the first ``k`` that pass a significance level. Pairs may share an asset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr
from statsmodels.tsa.adfvalues import (
    _tau_largeps,
    _tau_maxs,
    _tau_mins,
    _tau_smallps,
    _tau_stars,
)
from statsmodels.tsa.coint_tables import c_sjt

TESTS = ("engle_granger", "johansen")
#: Significance levels the Johansen critical values exist for (columns of ``c_sjt``).
JOHANSEN_LEVELS = (0.10, 0.05, 0.01)


@dataclass(frozen=True)
class Screen:
    """Candidate pairs of one formation window, ranked from most to least cointegrated.

    ``pairs``: ``(m, 2)`` column indices (first leg < second leg); ``statistic``: the test
    statistic (Engle-Granger: the weaker direction's ADF t; Johansen: the trace statistic);
    ``p_value``: Engle-Granger's MacKinnon p-value, or for Johansen the smallest tabulated
    level (0.01, 0.05, 0.10) whose critical value the trace exceeds, 1.0 when none does.
    """

    test: str
    pairs: np.ndarray
    statistic: np.ndarray
    p_value: np.ndarray

    def select(self, k: int, level: float) -> np.ndarray:
        """The (up to) ``k`` most cointegrated pairs significant at ``level``: ``(<=k, 2)``."""
        if k < 1:
            raise ValueError(f"selection.k must be >= 1, got {k}")
        return self.pairs[self.p_value <= level][:k]


def return_correlations(levels: np.ndarray) -> np.ndarray:
    """Correlation matrix of the daily log returns of a ``(rows, assets)`` price block."""
    r = np.diff(np.log(levels), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.corrcoef(r, rowvar=False)
    return np.nan_to_num(c, nan=-1.0)


def prescreen(levels: np.ndarray, candidates: int) -> np.ndarray:
    """The ``candidates`` pairs ``(i, j)``, i < j, with the most correlated daily log returns."""
    n_assets = levels.shape[1]
    iu, ju = np.triu_indices(n_assets, k=1)
    corr = return_correlations(levels)[iu, ju]
    m = min(int(candidates), corr.size)
    top = np.argpartition(-corr, m - 1)[:m] if m < corr.size else np.arange(corr.size)
    top = top[np.argsort(-corr[top], kind="stable")]
    return np.column_stack([iu[top], ju[top]])


def engle_granger_statistic(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """ADF(1) t-statistics (no constant) of the residuals of OLS ``y = a + b x``, per row.

    ``y``, ``x``: ``(pairs, rows)``. Equal to ``coint(y, x, maxlag=1, autolag=None)[0]``.
    """
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    b = (xc * yc).sum(axis=1) / (xc * xc).sum(axis=1)
    e = yc - b[:, None] * xc
    de = np.diff(e, axis=1)
    dep = de[:, 1:]  # Delta e_t, t = 2 .. n-1
    lag = e[:, 1:-1]  # e_{t-1}
    dlag = de[:, :-1]  # Delta e_{t-1}
    s11, s12, s22 = (lag * lag).sum(1), (lag * dlag).sum(1), (dlag * dlag).sum(1)
    r1, r2 = (lag * dep).sum(1), (dlag * dep).sum(1)
    det = s11 * s22 - s12 * s12
    gamma = (s22 * r1 - s12 * r2) / det
    delta = (s11 * r2 - s12 * r1) / det
    resid = dep - gamma[:, None] * lag - delta[:, None] * dlag
    sigma2 = (resid * resid).sum(1) / (dep.shape[1] - 2)
    return gamma / np.sqrt(sigma2 * s22 / det)


def _johansen_problem(levels: np.ndarray) -> tuple[int, np.ndarray]:
    """Johansen's eigenproblem per pair (one lagged difference, constant, as ``coint_johansen(x, 0,
    1)``): the number of rows used and ``inv(S_kk) S_k0 inv(S_00) S_0k``, ``(pairs, 2, 2)``."""
    x = np.ascontiguousarray(np.swapaxes(levels, 1, 2))  # (pairs, 2, rows): rows contiguous
    x = x - x.mean(axis=2, keepdims=True)
    dx = np.diff(x, axis=2)
    z = dx[:, :, :-1]  # lagged difference
    d0 = dx[:, :, 1:]  # difference
    lx = x[:, :, 1:-1]  # lagged level
    z, d0, lx = (a - a.mean(axis=2, keepdims=True) for a in (z, d0, lx))
    zt = np.swapaxes(z, 1, 2)
    coef_d0 = np.linalg.solve(z @ zt, z @ np.swapaxes(d0, 1, 2))  # (pairs, 2, 2)
    coef_lx = np.linalg.solve(z @ zt, z @ np.swapaxes(lx, 1, 2))
    r0 = d0 - np.swapaxes(coef_d0, 1, 2) @ z  # residuals, (pairs, 2, t)
    rk = lx - np.swapaxes(coef_lx, 1, 2) @ z
    t = rk.shape[2]
    r0t, rkt = np.swapaxes(r0, 1, 2), np.swapaxes(rk, 1, 2)
    skk, sk0, s00 = rk @ rkt / t, rk @ r0t / t, r0 @ r0t / t
    sig = sk0 @ np.linalg.solve(s00, np.swapaxes(sk0, 1, 2))
    return t, np.linalg.solve(skk, sig)


def johansen_trace(levels: np.ndarray) -> np.ndarray:
    """Johansen trace statistics for rank 0 (one lagged difference, constant), per pair.

    ``levels``: ``(pairs, rows, 2)``. Equal to ``coint_johansen(levels[p], 0, 1).lr1[0]``.
    """
    t, problem = _johansen_problem(levels)
    eig = np.linalg.eigvals(problem).real
    return -t * np.log1p(-np.clip(eig, 0.0, 1.0 - 1e-15)).sum(axis=1)


def johansen_ratios(levels: np.ndarray) -> np.ndarray:
    """Hedge ratio of the second leg from Johansen's first eigenvector, per pair: ``-v1 / v0``.

    ``levels``: ``(pairs, rows, 2)``. The same ratio as ``coint_johansen(levels[p], 0, 1).evec[:, 0]``
    gives (NaN where the eigenvector gives the first leg no weight).
    """
    _, problem = _johansen_problem(levels)
    values, vectors = np.linalg.eig(problem)
    first = np.argmax(values.real, axis=1)
    v = np.take_along_axis(vectors.real, first[:, None, None], axis=2)[..., 0]  # (pairs, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = -v[:, 1] / v[:, 0]
    return np.where(np.abs(v[:, 0]) < 1e-12 * np.abs(v).max(axis=1), np.nan, ratio)


def engle_granger_p_values(stats: np.ndarray) -> np.ndarray:
    """MacKinnon's (1994) asymptotic p-values of two-variable Engle-Granger statistics (with a
    constant), vectorised: equal to ``statsmodels.tsa.adfvalues.mackinnonp(s, "c", N=2)``."""
    s = np.asarray(stats, dtype=float)
    small = np.polyval(_tau_smallps["c"][1][::-1], s)
    large = np.polyval(_tau_largeps["c"][1][::-1], s)
    p = ndtr(np.where(s <= _tau_stars["c"][1], small, large))
    p = np.where(s > _tau_maxs["c"][1], 1.0, p)
    return np.where(s < _tau_mins["c"][1], 0.0, p)


def screen(levels: np.ndarray, test: str, candidates: int) -> Screen:
    """Pre-screen and test the pairs of one formation block ``(rows, assets)``; see the module doc."""
    if test not in TESTS:
        raise ValueError(f"selection.test must be one of {list(TESTS)}, got {test!r}")
    p = np.asarray(levels, dtype=float)
    if p.ndim != 2 or p.shape[1] < 2 or p.shape[0] < 10:
        raise ValueError(f"pair selection needs a (rows >= 10, assets >= 2) block, got {p.shape}")
    pairs = prescreen(p, candidates)
    a, b = p[:, pairs[:, 0]].T, p[:, pairs[:, 1]].T
    with np.errstate(invalid="ignore", divide="ignore"):
        if test == "engle_granger":
            stat = np.maximum(engle_granger_statistic(a, b), engle_granger_statistic(b, a))
            stat = np.nan_to_num(stat, nan=np.inf)
            p_value = engle_granger_p_values(stat)
            order = np.argsort(stat, kind="stable")
        else:
            stat = np.nan_to_num(johansen_trace(np.stack([a, b], axis=2)), nan=0.0)
            critical = c_sjt(2, 0)  # 90%, 95%, 99%
            p_value = np.ones(stat.size)
            for level, cv in zip(JOHANSEN_LEVELS, critical, strict=False):
                p_value[stat > cv] = level
            order = np.argsort(-stat, kind="stable")
    return Screen(test, pairs[order], stat[order], p_value[order])
