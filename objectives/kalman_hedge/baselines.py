"""Baselines of the kalman_hedge study: the hedge ratios of the reference methods the tuned
filter is compared with, and the seed's (q, R) calibration grid.

Static methods fit constant ratios on a window's train rows (``static`` config section:
``intercept``, ``ridge_alpha``, ``rolling_window``); rolling OLS refits every day on the
trailing window.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from simulators.estimators.static_hedge import min_variance_ratio, ols_hedge, ridge_hedge, rolling_ols_ratios

#: (baseline name, static method) of the constant-ratio baselines.
STATIC_BASELINES = (
    ("no_hedge", "none"),
    ("static_ols", "ols"),
    ("ridge", "ridge"),
    ("min_variance_single", "min_variance"),
)


def fit_static_ratios(method: str, y: np.ndarray, X: np.ndarray, static: Mapping[str, Any]) -> np.ndarray:
    """Constant ratios [m] of a static method fitted on returns ``y`` [days] of the target and
    ``X`` [days, m] of the proxies."""
    intercept = bool(static["intercept"])
    if method == "ols":
        return ols_hedge(y, X, intercept).ratios
    if method == "ridge":
        return ridge_hedge(y, X, float(static["ridge_alpha"]), intercept).ratios
    if method == "min_variance":
        # one proxy, h* = rho sigma_S / sigma_F, on the proxy with the highest R^2
        fits = [min_variance_ratio(y, X[:, j]) for j in range(X.shape[1])]
        j = int(np.argmax([r2 for _, r2 in fits]))
        h = np.zeros(X.shape[1])
        h[j] = fits[j][0]
        return h
    if method == "none":
        return np.zeros(X.shape[1])
    raise ValueError(f"unknown static method {method!r}")


def rolling_ratios(y: np.ndarray, X: np.ndarray, static: Mapping[str, Any]) -> np.ndarray:
    """Trailing-window OLS ratios of every day (``static.rolling_window`` days before it)."""
    return rolling_ols_ratios(y, X, int(static["rolling_window"]), bool(static["intercept"]))


def grid_candidates(kalman: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Trial params of every (q, R) of ``kalman.process_noise_grid`` x ``observation_noise_grid``
    (q and R set directly, no signal-to-noise), in grid order."""
    return [
        {
            "kalman.signal_to_noise": None,
            "kalman.process_noise": float(q),
            "kalman.observation_noise": float(r),
        }
        for q in kalman["process_noise_grid"]
        for r in kalman["observation_noise_grid"]
    ]
