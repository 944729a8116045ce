"""Numerical hedge ratios of a spread: the minimum half-life and the minimum ADF statistic.

Both search in volatility-scaled units ``theta_i = ratio_i * sd(leg_i) / sd(y)`` with BFGS, from
the OLS ratio and from the exact minimum-AR(1)-slope portfolio (a generalised eigenvector),
keeping the better; each ``get_*`` function returns the ratios, ``X``, ``y``, the residuals and
scipy's result:

* non-convergence (``result.success`` false) raises a :class:`HedgeRatioConvergenceWarning`;
* a *divergent* optimisation -- the best spread puts (almost) no weight on the dependent leg,
  which is what a pair that is not cointegrated produces -- raises a
  :class:`DivergentHedgeRatioWarning`, sets ``result.diverged = True`` and returns NaN ratios
  (and NaN residuals) rather than a ratio that looks plausible but means nothing. Divergent
  means ``max|theta| > DIVERGENCE_THETA`` or the optimum beats the hedge-legs-only portfolio
  along the same direction (the ``theta -> infinity`` limit) by less than ``MIN_IMPROVEMENT``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg
from scipy.optimize import OptimizeResult, minimize

from simulators.estimators.mean_reversion import adf_statistic, ar1_slope
from simulators.estimators.spread_legs import ratios_dict, split_legs

#: Largest hedge size, in volatility units of the dependent leg, not flagged as divergent.
DIVERGENCE_THETA = 10.0
#: Smallest relative gain of the optimum over the hedge-legs-only limit not flagged as divergent.
MIN_IMPROVEMENT = 0.05


class HedgeRatioConvergenceWarning(UserWarning):
    """A numerical hedge-ratio search stopped before scipy reported convergence."""


class DivergentHedgeRatioWarning(UserWarning):
    """A numerical hedge-ratio search ran off to a spread without the dependent leg."""


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
SEARCHES: dict[str, tuple[Callable[[np.ndarray], float], str]] = {
    "min_half_life": (ar1_slope, "minimum half-life"),
    "min_adf": (adf_statistic, "minimum ADF"),
}


def _optimise_ratio(
    y: pd.Series, X: pd.DataFrame, method: str, options: Mapping[str, Any] | None
) -> tuple[dict[str, float], pd.Series, OptimizeResult]:
    """Run the ``method`` search over the hedge ratios: (ratios, residuals, scipy result)."""
    beta, result = optimise_beta(y.to_numpy(), X.to_numpy(), method, options, stacklevel=4)
    return ratios_dict(y.name, list(X.columns), beta), y - X.to_numpy() @ beta, result


def optimise_beta(
    yv: np.ndarray, Xv: np.ndarray, method: str, options: Mapping[str, Any] | None, stacklevel: int = 3
) -> tuple[np.ndarray, OptimizeResult]:
    """Minimise the ``method``'s criterion of the spread over the ratios; flag non-convergence
    and divergence."""
    criterion, what = SEARCHES[method]
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
    y, X = split_legs(price_data, dependent_variable)
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
    y, X = split_legs(price_data, dependent_variable)
    ratios, residuals, result = _optimise_ratio(y, X, "min_adf", options)
    return ratios, X, y, residuals, result
