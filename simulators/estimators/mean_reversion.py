"""Mean-reversion measures of a spread: AR(1) slope, half-life and the ADF statistic.

The ADF(1) statistic (``adfuller``'s value) is computed by least squares in numpy: the numerical
hedge-ratio searches and the surrogate tests call these thousands of times.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def ar1_slope(spread: np.ndarray | pd.Series, mean: float | None = None) -> float:
    """OLS slope ``lambda`` of ``ds_t = a + lambda * s_{t-1} + e_t``.

    With ``mean`` given, the spread's equilibrium is known (e.g. from a formation window) and the
    regression is ``ds_t = lambda * (s_{t-1} - mean) + e_t`` without intercept.
    """
    s = np.asarray(spread, dtype=float)
    if s.ndim != 1 or len(s) < 3:
        raise ValueError("a spread needs at least 3 observations for its half-life")
    lag = s[:-1]
    ds = np.diff(s)
    if mean is None:
        lag = lag - lag.mean()
        ds = ds - ds.mean()
    else:
        lag = lag - mean
    denom = float(lag @ lag)
    if denom <= 0.0:
        return 0.0
    return float(lag @ ds) / denom


def half_life_from_slope(slope: float) -> float:
    """Half-life in observations of an AR(1) ``s_t = (1 + slope) s_{t-1} + e``: ``-ln 2 / ln|1 + slope|``.

    ``inf`` when the spread does not mean-revert (``|1 + slope| >= 1``). For small ``slope`` this
    is Chan's familiar ``-ln 2 / slope``.
    """
    phi = abs(1.0 + slope)
    if not math.isfinite(phi) or phi >= 1.0:
        return math.inf
    if phi == 0.0:
        return 0.0
    return -math.log(2.0) / math.log(phi)


def half_life(spread: np.ndarray | pd.Series, mean: float | None = None) -> float:
    """Half-life of mean reversion (observations) from OLS of the spread's change on its lagged level."""
    return half_life_from_slope(ar1_slope(spread, mean))


def adf_statistic(spread: np.ndarray | pd.Series, maxlag: int = 1) -> float:
    """ADF t-statistic with a constant and ``maxlag`` fixed lags (statsmodels' ``adfuller`` value).

    Computed directly by least squares (the regression ``adfuller`` runs with ``autolag=None``):
    the numerical hedge-ratio search and the surrogate tests call it thousands of times.
    """
    s = np.asarray(spread, dtype=float)
    if s.ndim != 1 or len(s) < maxlag + 4:
        raise ValueError(f"ADF({maxlag}) needs at least {maxlag + 4} observations, got {len(s)}")
    ds = np.diff(s)
    nobs = len(ds) - maxlag
    cols = [s[maxlag:-1]] + [ds[maxlag - j : len(ds) - j] for j in range(1, maxlag + 1)]
    design = np.column_stack(cols + [np.ones(nobs)])
    target = ds[maxlag:]
    coef, _, rank, _ = np.linalg.lstsq(design, target, rcond=None)
    dof = nobs - design.shape[1]
    if rank < design.shape[1] or dof <= 0:
        return math.nan
    resid = target - design @ coef
    sigma2 = float(resid @ resid) / dof
    try:
        var0 = float(np.linalg.inv(design.T @ design)[0, 0]) * sigma2
    except np.linalg.LinAlgError:
        return math.nan
    return float(coef[0] / math.sqrt(var0)) if var0 > 0 else math.nan
