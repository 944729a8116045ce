"""Static hedge-ratio estimators: the baselines a dynamic (Kalman) hedge must beat.

- :func:`min_variance_ratio`: one proxy, h* = rho sigma_S / sigma_F, the slope of the
  regression of spot on futures returns, with its R^2 = rho^2.
- :func:`ols_hedge`: several proxies, OLS coefficients (the multi-proxy minimum-variance hedge)
  with R^2 and the coefficient covariance (used to initialise the Kalman state).
- :func:`ridge_hedge`: OLS with an L2 penalty on the standardised proxies, for collinear proxies.
- :func:`rolling_ols_ratios`: OLS over a trailing window; the ratio for day t uses days
  t-window .. t-1 only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StaticFit:
    """A fitted static hedge: ``ratios`` [m] per proxy, ``alpha`` (intercept, 0 without one),
    ``r2`` in-sample R^2, ``cov`` [k, k] covariance of the coefficient estimates (intercept
    first when fitted), ``resid_var`` the residual variance."""

    ratios: np.ndarray
    alpha: float
    r2: float
    cov: np.ndarray
    resid_var: float


def _as_2d(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    return X[:, None] if X.ndim == 1 else X


def _check(y: np.ndarray, X: np.ndarray, k: int) -> None:
    if y.ndim != 1 or X.shape[0] != y.shape[0]:
        raise ValueError(f"y must be 1-d with one entry per row of X; got {y.shape} and {X.shape}")
    if y.shape[0] <= k:
        raise ValueError(f"need more than {k} observations to fit {k} coefficients, got {y.shape[0]}")
    if not (np.isfinite(y).all() and np.isfinite(X).all()):
        raise ValueError("returns contain NaN or inf")


def min_variance_ratio(spot: np.ndarray, hedge: np.ndarray) -> tuple[float, float]:
    """Minimum-variance hedge ratio h* = rho sigma_S / sigma_F and R^2 = rho^2 of one proxy."""
    s = np.asarray(spot, dtype=np.float64)
    f = np.asarray(hedge, dtype=np.float64)
    _check(s, f[:, None], 2)
    rho = np.corrcoef(s, f)[0, 1]
    h = rho * s.std(ddof=1) / f.std(ddof=1)
    return float(h), float(rho * rho)


def ols_hedge(y: np.ndarray, X: np.ndarray, intercept: bool = True) -> StaticFit:
    """OLS of target returns ``y`` on proxy returns ``X`` [n, m]: the minimum-variance hedge."""
    y = np.asarray(y, dtype=np.float64)
    X = _as_2d(X)
    Z = np.column_stack([np.ones(len(y)), X]) if intercept else X
    _check(y, Z, Z.shape[1])
    coef, *_ = np.linalg.lstsq(Z, y, rcond=None)
    resid = y - Z @ coef
    dof = len(y) - Z.shape[1]
    resid_var = float(resid @ resid / dof)
    cov = resid_var * np.linalg.inv(Z.T @ Z)
    tss = float(((y - y.mean()) ** 2).sum()) if intercept else float(y @ y)
    r2 = 1.0 - float(resid @ resid) / tss
    alpha = float(coef[0]) if intercept else 0.0
    return StaticFit(coef[1:] if intercept else coef, alpha, r2, cov, resid_var)


def ridge_hedge(y: np.ndarray, X: np.ndarray, alpha: float, intercept: bool = True) -> StaticFit:
    """Ridge hedge: minimise |y - a - X b|^2 + alpha n |D b|^2 with D the proxies' std devs.

    The penalty acts on standardised proxies (so ``alpha`` is scale-free: 0 is OLS, 1 shrinks
    about as much as the data weigh); the intercept is not penalised. ``cov`` is the sandwich
    covariance of the ridge estimator; ``r2`` is its in-sample R^2.
    """
    if not (np.isfinite(alpha) and alpha >= 0.0):
        raise ValueError(f"ridge alpha must be >= 0, got {alpha}")
    y = np.asarray(y, dtype=np.float64)
    X = _as_2d(X)
    _check(y, X, X.shape[1] + int(intercept))
    n = len(y)
    mx = X.mean(axis=0) if intercept else np.zeros(X.shape[1])
    my = y.mean() if intercept else 0.0
    Xc = X - mx
    yc = y - my
    sd = np.sqrt((Xc**2).mean(axis=0))
    A = Xc.T @ Xc + alpha * n * np.diag(sd**2)
    A_inv = np.linalg.inv(A)
    b = A_inv @ (Xc.T @ yc)
    a = float(my - mx @ b)
    resid = yc - Xc @ b
    resid_var = float(resid @ resid / max(n - X.shape[1] - int(intercept), 1))
    cov = resid_var * A_inv @ (Xc.T @ Xc) @ A_inv
    tss = float(yc @ yc)
    r2 = 1.0 - float(resid @ resid) / tss
    return StaticFit(b, a, r2, cov, resid_var)


def rolling_ols_ratios(y: np.ndarray, X: np.ndarray, window: int, intercept: bool = True) -> np.ndarray:
    """Trailing-window OLS hedge ratios [n, m]; row t is fitted on rows t-window .. t-1.

    Rows t < window (not enough history) are NaN. Uses windowed sums of cross-products, so the
    whole series costs O(n k^2) plus n small solves.
    """
    y = np.asarray(y, dtype=np.float64)
    X = _as_2d(X)
    Z = np.column_stack([np.ones(len(y)), X]) if intercept else X
    n, k = Z.shape
    window = int(window)
    if window <= k:
        raise ValueError(f"rolling window must exceed the {k} coefficients, got {window}")
    _check(y, Z, k)
    out = np.full((n, X.shape[1]), np.nan)
    if n <= window:
        return out
    zz = np.concatenate([np.zeros((1, k, k)), np.cumsum(Z[:, :, None] * Z[:, None, :], axis=0)])
    zy = np.concatenate([np.zeros((1, k)), np.cumsum(Z * y[:, None], axis=0)])
    t = np.arange(window, n)
    A = zz[t] - zz[t - window]  # rows t-window .. t-1
    c = zy[t] - zy[t - window]
    coef = np.linalg.solve(A, c[:, :, None])[:, :, 0]
    out[window:] = coef[:, 1:] if intercept else coef
    return out
