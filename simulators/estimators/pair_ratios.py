"""Hedge ratios of many two-leg pairs at once, for a universe walk-forward.

The closed-form estimators of ``simulators.estimators.closed_form_hedge_ratios`` (OLS and TLS with
optional constant, Johansen's first eigenvector, Box-Tiao as the reference library estimates it), each
written for
a batch ``(pairs, rows, 2)`` of formation blocks, first column dependent: the ratio ``b`` of the
second leg in ``spread = leg1 - b x leg2``. They give the same ratios as
``hedge_ratios.hedge_ratio_array`` pair by pair (tested), NaN where that one raises.
"""

from __future__ import annotations

import numpy as np

from simulators.trading.pair_selection import johansen_ratios

BATCHED_METHODS = ("ols", "tls", "johansen", "box_tiao")


def _moments(levels: np.ndarray, centre: bool) -> np.ndarray:
    x = np.ascontiguousarray(np.swapaxes(levels, 1, 2))  # (pairs, 2, rows)
    if centre:
        x = x - x.mean(axis=2, keepdims=True)
    return x @ np.swapaxes(x, 1, 2)  # (pairs, 2, 2)


def _ratio_from_normal(v: np.ndarray) -> np.ndarray:
    """``-v1 / v0`` of weight vectors ``(pairs, 2)``; NaN where the first leg has no weight."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = -v[:, 1] / v[:, 0]
    return np.where(np.abs(v[:, 0]) < 1e-12 * np.abs(v).max(axis=1), np.nan, ratio)


def ols_ratios(levels: np.ndarray, add_constant: bool = False) -> np.ndarray:
    m = _moments(levels, add_constant)
    return m[:, 0, 1] / m[:, 1, 1]


def tls_ratios(levels: np.ndarray, add_constant: bool = False) -> np.ndarray:
    _, vecs = np.linalg.eigh(_moments(levels, add_constant))
    return _ratio_from_normal(vecs[:, :, 0])


def box_tiao_ratios(levels: np.ndarray) -> np.ndarray:
    """Demeaned prices, VAR(1) with intercept by least squares, Gamma = covariance (ddof 1) of all
    rows, the eigenvector of ``inv(Gamma) A Gamma A'`` with the smallest eigenvalue."""
    d = levels - levels.mean(axis=1, keepdims=True)
    lag, now = d[:, :-1], d[:, 1:]
    lag_c = lag - lag.mean(axis=1, keepdims=True)  # the intercept, partialled out
    now_c = now - now.mean(axis=1, keepdims=True)
    lag_t = np.swapaxes(lag_c, 1, 2)
    coef = np.linalg.solve(lag_t @ lag_c, lag_t @ now_c)  # (pairs, 2, 2): now = lag @ coef
    a = np.swapaxes(coef, 1, 2)  # row i: leg i's equation
    gamma = np.swapaxes(d, 1, 2) @ d / (d.shape[1] - 1)
    pred = a @ gamma @ np.swapaxes(a, 1, 2)
    pred = 0.5 * (pred + np.swapaxes(pred, 1, 2))
    chol = np.linalg.cholesky(gamma)  # generalised symmetric problem via Gamma = L L'
    inv_l = np.linalg.inv(chol)
    _, u = np.linalg.eigh(inv_l @ pred @ np.swapaxes(inv_l, 1, 2))
    w = np.swapaxes(inv_l, 1, 2) @ u[:, :, :1]
    return _ratio_from_normal(w[:, :, 0])


def pair_ratios(method: str, levels: np.ndarray, add_constant: bool = False) -> np.ndarray:
    """The second leg's ratio per pair of a ``(pairs, rows, 2)`` batch (see the module doc)."""
    levels = np.asarray(levels, dtype=float)
    with np.errstate(all="ignore"):
        if method == "ols":
            return ols_ratios(levels, add_constant)
        if method == "tls":
            return tls_ratios(levels, add_constant)
        if method == "johansen":
            return johansen_ratios(levels)
        if method == "box_tiao":
            return box_tiao_ratios(levels)
    raise ValueError(f"no batched estimator for {method!r}; batched: {list(BATCHED_METHODS)}")
