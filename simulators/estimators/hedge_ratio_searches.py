"""Numerical hedge ratios of a spread: the minimum half-life and the minimum ADF statistic.

Both search in volatility-scaled units ``theta_i = ratio_i * sd(leg_i) / sd(y)``, inside the box
``|theta_i| <= THETA_BOX``, by a deterministic search of fixed size, so that every CPU gives the
same answer (the result depends on the criterion's values, never on an optimiser's path through
rounding errors): along one coordinate, the criterion on a grid of ``grid`` angles
``atan(theta)`` (fine near small ratios, coarse near the box), then ``golden_steps`` golden-section
steps between the best grid point's neighbours. One hedge leg: one such line search, global over
the box. Several: cyclic coordinate sweeps (at most ``sweeps``) from the better of the OLS ratio
and the exact minimum-AR(1)-slope portfolio (a generalised eigenvector). That portfolio *is* the
minimum half-life's answer whenever it holds the dependent leg (the search is then its
fallback), so that the minimum half-life is exact to rounding; each ``get_*`` function
returns the ratios, ``X``, ``y``, the residuals and an ``OptimizeResult`` (``x``: theta, ``fun``,
``success``, ``nfev``, ``nit``: sweeps):

* a multi-leg search whose last sweep still moved a ratio (``result.success`` false) raises a
  :class:`HedgeRatioConvergenceWarning`;
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
from scipy.optimize import OptimizeResult

from simulators.estimators.mean_reversion import adf_statistic, ar1_slope
from simulators.estimators.spread_legs import ratios_dict, split_legs

#: Largest hedge size, in volatility units of the dependent leg, not flagged as divergent.
DIVERGENCE_THETA = 10.0
#: Smallest relative gain of the optimum over the hedge-legs-only limit not flagged as divergent.
MIN_IMPROVEMENT = 0.05
#: Half-width of the searched box (volatility units): a minimum beyond DIVERGENCE_THETA is divergent.
THETA_BOX = 4 * DIVERGENCE_THETA
#: The search's size (``options`` may change it): grid angles, golden-section steps, sweeps.
SEARCH = {"grid": 121, "golden_steps": 40, "sweeps": 12}
#: Largest move (volatility units) of a ratio in the last sweep of a converged multi-leg search.
SWEEP_TOL = 1e-7
_INVPHI = (np.sqrt(5.0) - 1.0) / 2.0


class HedgeRatioConvergenceWarning(UserWarning):
    """A multi-leg hedge-ratio search still moved a ratio in its last coordinate sweep."""


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


def _finite(value: float) -> float:
    return value if np.isfinite(value) else np.inf


def line_search(f: Callable[[float], float], grid: int, golden_steps: int) -> tuple[float, float, int]:
    """``(theta, f(theta), evaluations)`` minimising ``f`` over ``|theta| <= THETA_BOX``: the best
    of ``grid`` angles ``atan(theta)``, refined by ``golden_steps`` golden-section steps between
    its neighbours. Non-finite values count as +inf; ties keep the first (smallest) angle."""
    phis = np.linspace(-np.arctan(THETA_BOX), np.arctan(THETA_BOX), int(grid))
    values = np.array([_finite(f(float(np.tan(p)))) for p in phis])
    i = int(np.argmin(values))
    best = (float(values[i]), float(phis[i]))
    a, b = float(phis[max(i - 1, 0)]), float(phis[min(i + 1, len(phis) - 1)])
    c, d = b - _INVPHI * (b - a), a + _INVPHI * (b - a)
    fc, fd = _finite(f(float(np.tan(c)))), _finite(f(float(np.tan(d))))
    for _ in range(int(golden_steps)):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - _INVPHI * (b - a)
            fc = _finite(f(float(np.tan(c))))
        else:
            a, c, fc = c, d, fd
            d = a + _INVPHI * (b - a)
            fd = _finite(f(float(np.tan(d))))
    value, phi = min(best, (fc, c), (fd, d))
    return float(np.tan(phi)), value, len(phis) + 2 + int(golden_steps)


def _search(
    loss: Callable[[np.ndarray], float], starts: list[np.ndarray], options: Mapping[str, Any]
) -> OptimizeResult:
    """Cyclic coordinate line searches from the best start; one leg: one global line search."""
    size = {**SEARCH, **options}
    unknown = set(size) - set(SEARCH)
    if unknown:
        raise ValueError(f"unknown search options {sorted(unknown)}; known: {sorted(SEARCH)}")
    k = len(starts[0])
    starts = [np.clip(np.nan_to_num(s, nan=0.0), -THETA_BOX, THETA_BOX) for s in starts]
    theta = min(starts, key=lambda s: _finite(loss(s))).copy()
    value, nfev, moved, sweeps = _finite(loss(theta)), len(starts), np.inf, 0
    while sweeps < int(size["sweeps"]):
        sweeps += 1
        before = theta.copy()
        for i in range(k):

            def along(t: float, i: int = i) -> float:
                trial = theta.copy()
                trial[i] = t
                return loss(trial)

            t, v, n = line_search(along, size["grid"], size["golden_steps"])
            nfev += n
            if v < value:  # never worse than where the sweep started
                theta[i], value = t, v
        moved = float(np.abs(theta - before).max())
        if k == 1 or moved <= SWEEP_TOL:
            break
    success = k == 1 or moved <= SWEEP_TOL
    message = "converged" if success else f"a ratio still moved by {moved:.3g} in the last of {sweeps} sweeps"
    return OptimizeResult(
        x=theta,
        fun=value,
        success=success,
        status=0 if success else 1,
        message=message,
        nfev=nfev,
        nit=sweeps,
    )


def optimise_beta(
    yv: np.ndarray, Xv: np.ndarray, method: str, options: Mapping[str, Any] | None, stacklevel: int = 3
) -> tuple[np.ndarray, OptimizeResult]:
    """Minimise the ``method``'s criterion of the spread over the ratios (the deterministic search
    of the module doc, sized by ``options``: keys of :data:`SEARCH`); flag non-convergence and
    divergence."""
    criterion, what = SEARCHES[method]
    yv, Xv = np.ascontiguousarray(yv, dtype=float), np.ascontiguousarray(Xv, dtype=float)
    scale = yv.std() / Xv.std(axis=0)
    starts = [np.linalg.lstsq(Xv, yv, rcond=None)[0] / scale]
    exact = method == "min_half_life"  # the AR(1) slope's minimum has a closed form
    fastest = _fastest_reverting_ratio(yv, Xv) if exact or Xv.shape[1] > 1 else None
    if fastest is not None:
        starts.append(fastest / scale)

    def loss(theta: np.ndarray) -> float:
        return criterion(yv - Xv @ (theta * scale))

    if exact and fastest is not None:
        theta = fastest / scale
        message = "exact: the generalised eigenvector of the smallest AR(1) slope"
        result = OptimizeResult(
            x=theta, fun=loss(theta), success=True, status=0, message=message, nfev=1, nit=0
        )
    else:
        result = _search(loss, starts, dict(options or {}))
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
    ``options`` size the search (keys of :data:`SEARCH`).
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
    smooth). ``options`` size the search (keys of :data:`SEARCH`).
    """
    y, X = split_legs(price_data, dependent_variable)
    ratios, residuals, result = _optimise_ratio(y, X, "min_adf", options)
    return ratios, X, y, residuals, result
