"""Hedge ratios of a mean-reverting spread (six estimation methods) and the spread itself.

Conventions: the dependent leg has hedge ratio 1 and the spread is
``S = leg1 - sum_i ratio_i * leg_i``; the first column is the dependent leg unless
``dependent_variable`` names another. Every ``get_*`` function returns a dict of ratios keyed by
column (dependent first), the hedge legs ``X``, the dependent leg ``y`` (``None`` for Box-Tiao)
and the fit residuals / spread; the two numerical methods also return scipy's result.

Econometrics come from statsmodels (OLS, Johansen via ``coint_johansen``); the ADF(1) statistic
(``adfuller``'s value) and Box-Tiao's VAR(1) are computed by least squares in numpy. The
numerical methods (minimum half-life, minimum ADF statistic) search in volatility-scaled units
``theta_i = ratio_i * sd(leg_i) / sd(y)`` with BFGS, from the OLS ratio and from the exact
minimum-AR(1)-slope portfolio (a generalised eigenvector), keeping the better:

* non-convergence (``result.success`` false) raises a :class:`HedgeRatioConvergenceWarning`;
* a *divergent* optimisation -- the best spread puts (almost) no weight on the dependent leg,
  which is what a pair that is not cointegrated produces -- raises a
  :class:`DivergentHedgeRatioWarning`, sets ``result.diverged = True`` and returns NaN ratios
  (and NaN residuals) rather than a ratio that looks plausible but means nothing. Divergent
  means ``max|theta| > DIVERGENCE_THETA`` or the optimum beats the hedge-legs-only portfolio
  along the same direction (the ``theta -> infinity`` limit) by less than ``MIN_IMPROVEMENT``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg
from scipy.optimize import OptimizeResult, minimize
from statsmodels.tsa.vector_ar.vecm import coint_johansen

#: Fewest rows any method accepts (per leg: ``max(MIN_ROWS, 5 * n_legs)``).
MIN_ROWS = 10
#: Largest hedge size, in volatility units of the dependent leg, not flagged as divergent.
DIVERGENCE_THETA = 10.0
#: Smallest relative gain of the optimum over the hedge-legs-only limit not flagged as divergent.
MIN_IMPROVEMENT = 0.05

METHODS = ("ols", "tls", "johansen", "box_tiao", "min_half_life", "min_adf")


class HedgeRatioConvergenceWarning(UserWarning):
    """A numerical hedge-ratio search stopped before scipy reported convergence."""


class DivergentHedgeRatioWarning(UserWarning):
    """A numerical hedge-ratio search ran off to a spread without the dependent leg."""


# --------------------------------------------------------------------------------------------
# input checks and the spread


def _split_legs(price_data: pd.DataFrame, dependent_variable: str | None) -> tuple[pd.Series, pd.DataFrame]:
    """Validate ``price_data`` and return (dependent leg, hedge legs)."""
    if not isinstance(price_data, pd.DataFrame):
        raise ValueError(f"price_data must be a pandas DataFrame, got {type(price_data).__name__}")  # noqa: TRY004 (the project reports bad input as ValueError)
    if price_data.shape[1] < 2:
        raise ValueError(f"price_data needs at least two columns (legs), got {price_data.shape[1]}")
    if price_data.columns.duplicated().any():
        raise ValueError(f"price_data has duplicated columns {list(price_data.columns)}")
    dep = price_data.columns[0] if dependent_variable is None else dependent_variable
    if dep not in price_data.columns:
        raise ValueError(
            f"dependent_variable {dep!r} is not a column of price_data {list(price_data.columns)}"
        )
    min_rows = max(MIN_ROWS, 5 * price_data.shape[1])
    if len(price_data) < min_rows:
        raise ValueError(
            f"price_data has {len(price_data)} rows; at least {min_rows} are needed for "
            f"{price_data.shape[1]} legs"
        )
    try:
        values = price_data.to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"price_data must be numeric: {exc}") from None
    if not np.isfinite(values).all():
        bad = [c for c, ok in zip(price_data.columns, np.isfinite(values).all(axis=0), strict=True) if not ok]
        raise ValueError(f"price_data has NaN or infinite values in column(s) {bad}")
    for col, column in zip(price_data.columns, values.T, strict=True):
        if np.ptp(column) <= 1e-12 * max(1.0, float(np.abs(column).max())):
            raise ValueError(f"column {col!r} is constant: it cannot be a leg of a spread")
    frame = price_data.astype(float)
    y = frame[dep]
    X = frame.drop(columns=[dep])
    return y, X


def _ratios_dict(dependent: str, legs: list[str], ratios: np.ndarray) -> dict[str, float]:
    return {dependent: 1.0, **{leg: float(r) for leg, r in zip(legs, ratios, strict=False)}}


def construct_spread(
    price_data: pd.DataFrame,
    hedge_ratios: pd.Series | Mapping[str, float],
    dependent_variable: str | None = None,
) -> pd.Series:
    """The spread ``ratio_dep * dep - sum(ratio_i * leg_i)``.

    ``dependent_variable=None`` makes the first column of ``price_data`` the dependent leg.
    Every column needs a ratio; ratios for columns not in ``price_data`` are an error. NaN
    ratios (a divergent estimate) give a NaN spread.
    """
    ratios = pd.Series(hedge_ratios, dtype=float)
    if not isinstance(price_data, pd.DataFrame) or price_data.shape[1] < 2:
        raise ValueError("price_data must be a DataFrame with at least two columns")
    missing = [c for c in price_data.columns if c not in ratios.index]
    if missing:
        raise ValueError(f"hedge_ratios has no ratio for column(s) {missing}")
    extra = [c for c in ratios.index if c not in price_data.columns]
    if extra:
        raise ValueError(f"hedge_ratios names column(s) {extra} that price_data lacks")
    dep = price_data.columns[0] if dependent_variable is None else dependent_variable
    if dep not in price_data.columns:
        raise ValueError(f"dependent_variable {dep!r} is not a column of price_data")
    others = [c for c in price_data.columns if c != dep]
    spread = ratios[dep] * price_data[dep] - price_data[others].mul(ratios[others], axis=1).sum(
        axis=1, min_count=len(others)
    )
    if ratios[others].isna().any():
        spread[:] = np.nan
    spread.name = "spread"
    return spread


# --------------------------------------------------------------------------------------------
# mean reversion measures


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


# --------------------------------------------------------------------------------------------
# linear methods


def _ols_beta(P: np.ndarray, add_constant: bool) -> tuple[np.ndarray, float]:
    """OLS of the first column on the others (with an intercept if asked): (beta, intercept)."""
    design = np.column_stack([np.ones(len(P)), P[:, 1:]]) if add_constant else P[:, 1:]
    coef = np.linalg.lstsq(design, P[:, 0], rcond=None)[0]
    return (coef[1:], float(coef[0])) if add_constant else (coef, 0.0)


def get_ols_hedge_ratio(
    price_data: pd.DataFrame, dependent_variable: str | None = None, add_constant: bool = False
) -> tuple[dict[str, float], pd.DataFrame, pd.Series, pd.Series]:
    """OLS hedge ratio ``y = [alpha +] beta . X``: (ratios, X, y, residuals)."""
    y, X = _split_legs(price_data, dependent_variable)
    beta, alpha = _ols_beta(np.column_stack([y.to_numpy(), X.to_numpy()]), add_constant)
    residuals = y - alpha - X.to_numpy() @ beta
    return _ratios_dict(y.name, list(X.columns), beta), X, y, residuals


def get_tls_hedge_ratio(
    price_data: pd.DataFrame, dependent_variable: str | None = None, add_constant: bool = False
) -> tuple[dict[str, float], pd.DataFrame, pd.Series, pd.Series]:
    """Total least squares (orthogonal regression) hedge ratio: (ratios, X, y, residuals).

    The normal vector of the best-fitting hyperplane is the eigenvector of the smallest
    eigenvalue of the (centred, with a constant; raw, without) second-moment matrix of [y, X].
    Residuals are ``y - [alpha] - beta . X``.
    """
    y, X = _split_legs(price_data, dependent_variable)
    beta, alpha = _tls_beta(np.column_stack([y.to_numpy(), X.to_numpy()]), add_constant)
    residuals = y - alpha - X.to_numpy() @ beta
    return _ratios_dict(y.name, list(X.columns), beta), X, y, residuals


def _tls_beta(Z: np.ndarray, add_constant: bool) -> tuple[np.ndarray, float]:
    centre = Z.mean(axis=0) if add_constant else np.zeros(Z.shape[1])
    Zc = Z - centre
    _, vecs = np.linalg.eigh(Zc.T @ Zc)
    normal = vecs[:, 0]
    if abs(normal[0]) < 1e-12:
        raise ValueError("TLS fit is degenerate: the dependent leg has no weight in the spread")
    beta = -normal[1:] / normal[0]
    alpha = float(centre[0] - centre[1:] @ beta) if add_constant else 0.0
    return beta, alpha


def get_johansen_hedge_ratio(
    price_data: pd.DataFrame,
    dependent_variable: str | None = None,
    det_order: int = 0,
    k_ar_diff: int = 1,
) -> tuple[dict[str, float], pd.DataFrame, pd.Series, pd.Series]:
    """Hedge ratio from Johansen's first (most stationary) eigenvector: (ratios, X, y, spread).

    ``det_order`` and ``k_ar_diff`` are passed to statsmodels' ``coint_johansen``.
    """
    y, X = _split_legs(price_data, dependent_variable)
    frame = pd.concat([y, X], axis=1)
    beta = _johansen_beta(frame.to_numpy(), det_order, k_ar_diff)
    ratios = _ratios_dict(y.name, list(X.columns), beta)
    spread = construct_spread(frame, ratios)
    return ratios, X, y, spread


def _johansen_beta(P: np.ndarray, det_order: int = 0, k_ar_diff: int = 1) -> np.ndarray:
    vector = np.asarray(coint_johansen(P, det_order, k_ar_diff).evec)[:, 0]
    if abs(vector[0]) < 1e-12 * np.abs(vector).max():
        raise ValueError("Johansen eigenvector gives the dependent leg no weight")
    return -vector[1:] / vector[0]


def get_box_tiao_hedge_ratio(
    price_data: pd.DataFrame, dependent_variable: str | None = None
) -> tuple[dict[str, float], pd.DataFrame, None, pd.Series]:
    """Box-Tiao canonical decomposition, as the reference library estimates it: (ratios, X, None, spread).

    The prices are demeaned (``D = P - mean(P)``); a VAR(1) ``D_t = c + A D_{t-1} + e_t`` is
    fitted by least squares on them (with the intercept, as statsmodels' ``VAR.fit(1)`` does);
    ``Gamma`` is the covariance (ddof 1) of all demeaned rows. The predictability of weights
    ``w`` is ``w' A Gamma A' w / w' Gamma w``; the weights are the eigenvector of
    ``inv(Gamma) A Gamma A'`` with the smallest eigenvalue (the least predictable, most
    mean-reverting portfolio), solved as the symmetric generalised problem
    ``(A Gamma A') w = lambda Gamma w``.
    """
    y, X = _split_legs(price_data, dependent_variable)
    frame = pd.concat([y, X], axis=1)
    beta = _box_tiao_beta(frame.to_numpy())
    ratios = _ratios_dict(y.name, list(X.columns), beta)
    return ratios, X, None, construct_spread(frame, ratios)


def _box_tiao_beta(P: np.ndarray) -> np.ndarray:
    demeaned = P - P.mean(axis=0)
    design = np.column_stack([np.ones(len(demeaned) - 1), demeaned[:-1]])
    coef = np.linalg.lstsq(design, demeaned[1:], rcond=None)[0]
    var_matrix = coef[1:].T  # A: row i holds the coefficients of leg i's equation
    gamma = np.cov(demeaned, rowvar=False)
    predictable = var_matrix @ gamma @ var_matrix.T
    _, vecs = scipy.linalg.eigh(0.5 * (predictable + predictable.T), gamma)
    weights = vecs[:, 0]
    if abs(weights[0]) < 1e-12 * np.abs(weights).max():
        raise ValueError("Box-Tiao portfolio gives the dependent leg no weight")
    return -weights[1:] / weights[0]


# --------------------------------------------------------------------------------------------
# numerical methods


def _fastest_reverting_ratio(yv: np.ndarray, Xv: np.ndarray) -> np.ndarray | None:
    """Ratios of the portfolio with the smallest AR(1) slope, or None if it excludes ``y``.

    The slope of ``w . P`` is the Rayleigh quotient ``w'Aw / w'Bw`` (A: symmetrised
    lag-change cross-moment, B: lag second moment, both centred), so its minimum is the
    generalised eigenvector of the smallest eigenvalue.
    """
    P = np.column_stack([yv, Xv])
    lag = P[:-1] - P[:-1].mean(axis=0)
    d = np.diff(P, axis=0)
    d = d - d.mean(axis=0)
    a = 0.5 * (lag.T @ d + d.T @ lag)
    try:
        _, vecs = scipy.linalg.eigh(a, lag.T @ lag)
    except (np.linalg.LinAlgError, ValueError):
        return None
    w = vecs[:, 0]
    if abs(w[0]) < 1e-8 * np.abs(w).max():
        return None
    return -w[1:] / w[0]


# The numerical methods: the criterion each minimises over the spread, and its name in warnings.
_SEARCHES: dict[str, tuple[Callable[[np.ndarray], float], str]] = {
    "min_half_life": (ar1_slope, "minimum half-life"),
    "min_adf": (adf_statistic, "minimum ADF"),
}


def _optimise_ratio(
    y: pd.Series, X: pd.DataFrame, method: str, options: Mapping[str, Any] | None
) -> tuple[dict[str, float], pd.Series, OptimizeResult]:
    """Run the ``method`` search over the hedge ratios: (ratios, residuals, scipy result)."""
    beta, result = _optimise_beta(y.to_numpy(), X.to_numpy(), method, options, stacklevel=4)
    return _ratios_dict(y.name, list(X.columns), beta), y - X.to_numpy() @ beta, result


def _optimise_beta(
    yv: np.ndarray, Xv: np.ndarray, method: str, options: Mapping[str, Any] | None, stacklevel: int = 3
) -> tuple[np.ndarray, OptimizeResult]:
    """Minimise the ``method``'s criterion of the spread over the ratios; flag non-convergence
    and divergence."""
    criterion, what = _SEARCHES[method]
    scale = yv.std() / Xv.std(axis=0)
    starts = [np.linalg.lstsq(Xv, yv, rcond=None)[0] / scale]
    fastest = _fastest_reverting_ratio(yv, Xv)
    if fastest is not None:
        starts.append(fastest / scale)

    def loss(theta: np.ndarray) -> float:
        return criterion(yv - Xv @ (theta * scale))

    # Both criteria depend only on the spread's direction, so a line search from one start
    # can run off the wrong way round; start from OLS and from the exact minimum-AR(1)-slope
    # portfolio, and keep the better end point.
    runs = [minimize(loss, x0, method="BFGS", options=dict(options or {})) for x0 in starts]
    result = min(runs, key=lambda r: (not np.isfinite(r.fun), r.fun))
    if not result.success:  # a start at the exact optimum can end in "precision loss"
        tol = 1e-6 * max(abs(float(result.fun)), 1e-12)
        converged = [r for r in runs if r.success and float(r.fun) <= float(result.fun) + tol]
        result = converged[0] if converged else result
    result.diverged = False
    if not result.success:
        warnings.warn(
            f"{what} hedge ratio search did not converge ({result.message}); "
            "check result.status before using the ratio",
            HedgeRatioConvergenceWarning,
            stacklevel=stacklevel,
        )
    theta = np.asarray(result.x, dtype=float)
    reason = _divergence(criterion, Xv, theta, scale, float(result.fun))
    if reason:
        result.diverged = True
        warnings.warn(
            f"{what} hedge ratio search diverged: {reason}; the legs look not cointegrated, "
            "ratios are returned as NaN (see result.x)",
            DivergentHedgeRatioWarning,
            stacklevel=stacklevel,
        )
        beta = np.full(Xv.shape[1], np.nan)
    elif method == "min_half_life" and result.fun >= 0.0:
        # the minimum half-life is infinite: no mean-reverting spread exists
        result.diverged = True
        warnings.warn(
            "minimum half-life search found no mean-reverting spread (AR(1) slope >= 0); "
            "ratios are returned as NaN",
            DivergentHedgeRatioWarning,
            stacklevel=stacklevel,
        )
        beta = np.full(Xv.shape[1], np.nan)
    else:
        beta = theta * scale
    return beta, result


def _divergence(
    criterion: Callable[[np.ndarray], float],
    Xv: np.ndarray,
    theta: np.ndarray,
    scale: np.ndarray,
    best: float,
) -> str:
    """Why the optimum ``theta`` (criterion ``best``) of the search over hedge legs ``Xv`` in
    ``scale`` units is divergent, or "" if it is not."""
    if not np.isfinite(theta).all() or not np.isfinite(best):
        return "the search returned non-finite values"
    if np.abs(theta).max() > DIVERGENCE_THETA:
        return f"hedge legs reached {np.abs(theta).max():.3g}x the dependent leg's volatility"
    limit = criterion(-(Xv @ (theta * scale)))  # theta -> infinity along the same direction
    gain = (limit - best) / max(abs(limit), 1e-12)
    if gain < MIN_IMPROVEMENT:
        return (
            f"the optimum beats the hedge-legs-only portfolio by only {gain:.1%} "
            "(the dependent leg adds nothing)"
        )
    return ""


def get_minimum_hl_hedge_ratio(
    price_data: pd.DataFrame,
    dependent_variable: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> tuple[dict[str, float], pd.DataFrame, pd.Series, pd.Series, OptimizeResult]:
    """Hedge ratio minimising the spread's half-life: (ratios, X, y, residuals, scipy result).

    The half-life ``-ln2 / ln(1 + lambda)`` increases with the AR(1) slope ``lambda`` on the
    mean-reverting range, so the search minimises ``lambda`` itself (smooth everywhere, where
    the half-life is infinite off that range); ``result.fun`` is that slope. A minimum with
    ``lambda >= 0`` means no mean-reverting spread exists and is flagged as divergent.
    ``options`` go to ``scipy.optimize.minimize`` (BFGS).
    """
    y, X = _split_legs(price_data, dependent_variable)
    ratios, residuals, result = _optimise_ratio(y, X, "min_half_life", options)
    return ratios, X, y, residuals, result


def get_adf_optimal_hedge_ratio(
    price_data: pd.DataFrame,
    dependent_variable: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> tuple[dict[str, float], pd.DataFrame, pd.Series, pd.Series, OptimizeResult]:
    """Hedge ratio minimising the spread's ADF t-statistic: (ratios, X, y, residuals, scipy result).

    ADF(1) with a constant, ``adfuller``'s value (a fixed lag keeps the criterion
    smooth). ``options`` go to ``scipy.optimize.minimize`` (BFGS).
    """
    y, X = _split_legs(price_data, dependent_variable)
    ratios, residuals, result = _optimise_ratio(y, X, "min_adf", options)
    return ratios, X, y, residuals, result


def hedge_ratio_array(method: str, values: np.ndarray, add_constant: bool = False) -> np.ndarray:
    """The ratios of the legs after the first (dependent) column of a ``(rows, legs)`` array.

    The same estimators as the ``get_*`` functions without their DataFrame checks: for callers
    that estimate thousands of windows (walk-forwards, surrogates). Raises ``ValueError`` for an
    ill-posed fit; a divergent numerical search gives NaN ratios (with a warning).
    """
    P = np.asarray(values, dtype=float)
    if method == "ols":
        return _ols_beta(P, add_constant)[0]
    if method == "tls":
        return _tls_beta(P, add_constant)[0]
    if method == "johansen":
        return _johansen_beta(P)
    if method == "box_tiao":
        return _box_tiao_beta(P)
    if method in _SEARCHES:
        return _optimise_beta(P[:, 0], P[:, 1:], method, None)[0]
    raise ValueError(f"unknown hedge-ratio method {method!r}; choose one of {list(METHODS)}")


def hedge_ratio(
    method: str,
    price_data: pd.DataFrame,
    dependent_variable: str | None = None,
    add_constant: bool = False,
) -> dict[str, float]:
    """The ratios of one of :data:`METHODS` (``add_constant`` only matters for ols and tls)."""
    if method == "ols":
        return get_ols_hedge_ratio(price_data, dependent_variable, add_constant)[0]
    if method == "tls":
        return get_tls_hedge_ratio(price_data, dependent_variable, add_constant)[0]
    if method == "johansen":
        return get_johansen_hedge_ratio(price_data, dependent_variable)[0]
    if method == "box_tiao":
        return get_box_tiao_hedge_ratio(price_data, dependent_variable)[0]
    if method == "min_half_life":
        return get_minimum_hl_hedge_ratio(price_data, dependent_variable)[0]
    if method == "min_adf":
        return get_adf_optimal_hedge_ratio(price_data, dependent_variable)[0]
    raise ValueError(f"unknown hedge-ratio method {method!r}; choose one of {list(METHODS)}")
