"""Closed-form hedge ratios of a spread: OLS, total least squares, Johansen and Box-Tiao.

Each ``get_*`` function returns a dict of ratios keyed by column (dependent first), the hedge
legs ``X``, the dependent leg ``y`` (``None`` for Box-Tiao) and the fit residuals / spread; each
``*_beta`` function is the same estimator on a ``(rows, legs)`` array, dependent leg first,
without the DataFrame checks. Johansen comes from statsmodels' ``coint_johansen``; Box-Tiao's
VAR(1) is fitted by least squares in numpy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.linalg
from statsmodels.tsa.vector_ar.vecm import coint_johansen

from simulators.estimators.spread_legs import construct_spread, ratios_dict, split_legs


def ols_beta(P: np.ndarray, add_constant: bool) -> tuple[np.ndarray, float]:
    """OLS of the first column on the others (with an intercept if asked): (beta, intercept)."""
    design = np.column_stack([np.ones(len(P)), P[:, 1:]]) if add_constant else P[:, 1:]
    coef = np.linalg.lstsq(design, P[:, 0], rcond=None)[0]
    return (coef[1:], float(coef[0])) if add_constant else (coef, 0.0)


def get_ols_hedge_ratio(
    price_data: pd.DataFrame, dependent_variable: str | None = None, add_constant: bool = False
) -> tuple[dict[str, float], pd.DataFrame, pd.Series, pd.Series]:
    """OLS hedge ratio ``y = [alpha +] beta . X``: (ratios, X, y, residuals)."""
    y, X = split_legs(price_data, dependent_variable)
    beta, alpha = ols_beta(np.column_stack([y.to_numpy(), X.to_numpy()]), add_constant)
    residuals = y - alpha - X.to_numpy() @ beta
    return ratios_dict(y.name, list(X.columns), beta), X, y, residuals


def get_tls_hedge_ratio(
    price_data: pd.DataFrame, dependent_variable: str | None = None, add_constant: bool = False
) -> tuple[dict[str, float], pd.DataFrame, pd.Series, pd.Series]:
    """Total least squares (orthogonal regression) hedge ratio: (ratios, X, y, residuals).

    The normal vector of the best-fitting hyperplane is the eigenvector of the smallest
    eigenvalue of the (centred, with a constant; raw, without) second-moment matrix of [y, X].
    Residuals are ``y - [alpha] - beta . X``.
    """
    y, X = split_legs(price_data, dependent_variable)
    beta, alpha = tls_beta(np.column_stack([y.to_numpy(), X.to_numpy()]), add_constant)
    residuals = y - alpha - X.to_numpy() @ beta
    return ratios_dict(y.name, list(X.columns), beta), X, y, residuals


def tls_beta(Z: np.ndarray, add_constant: bool) -> tuple[np.ndarray, float]:
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
    y, X = split_legs(price_data, dependent_variable)
    frame = pd.concat([y, X], axis=1)
    beta = johansen_beta(frame.to_numpy(), det_order, k_ar_diff)
    ratios = ratios_dict(y.name, list(X.columns), beta)
    spread = construct_spread(frame, ratios)
    return ratios, X, y, spread


def johansen_beta(P: np.ndarray, det_order: int = 0, k_ar_diff: int = 1) -> np.ndarray:
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
    y, X = split_legs(price_data, dependent_variable)
    frame = pd.concat([y, X], axis=1)
    beta = box_tiao_beta(frame.to_numpy())
    ratios = ratios_dict(y.name, list(X.columns), beta)
    return ratios, X, None, construct_spread(frame, ratios)


def box_tiao_beta(P: np.ndarray) -> np.ndarray:
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
