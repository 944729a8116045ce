"""Hedge ratios of a mean-reverting spread by name: one entry point over the six methods.

The estimators live in :mod:`simulators.estimators.closed_form_hedge_ratios` (ols, tls, johansen,
box_tiao) and :mod:`simulators.estimators.hedge_ratio_searches` (min_half_life, min_adf); the spread and
its legs in :mod:`simulators.estimators.spread_legs`, the mean-reversion measures in
:mod:`simulators.estimators.mean_reversion`. Conventions: the dependent leg has hedge ratio 1 and the spread
is ``S = leg1 - sum_i ratio_i * leg_i``; the first column is the dependent leg unless
``dependent_variable`` names another.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulators.estimators.closed_form_hedge_ratios import (
    box_tiao_beta,
    get_box_tiao_hedge_ratio,
    get_johansen_hedge_ratio,
    get_ols_hedge_ratio,
    get_tls_hedge_ratio,
    johansen_beta,
    ols_beta,
    tls_beta,
)
from simulators.estimators.hedge_ratio_searches import (
    SEARCHES,
    get_adf_optimal_hedge_ratio,
    get_minimum_hl_hedge_ratio,
    optimise_beta,
)

METHODS = ("ols", "tls", "johansen", "box_tiao", "min_half_life", "min_adf")


def hedge_ratio_array(method: str, values: np.ndarray, add_constant: bool = False) -> np.ndarray:
    """The ratios of the legs after the first (dependent) column of a ``(rows, legs)`` array.

    The same estimators as the ``get_*`` functions without their DataFrame checks: for callers
    that estimate thousands of windows (walk-forwards, surrogates). Raises ``ValueError`` for an
    ill-posed fit; a divergent numerical search gives NaN ratios (with a warning).
    """
    P = np.asarray(values, dtype=float)
    if method == "ols":
        return ols_beta(P, add_constant)[0]
    if method == "tls":
        return tls_beta(P, add_constant)[0]
    if method == "johansen":
        return johansen_beta(P)
    if method == "box_tiao":
        return box_tiao_beta(P)
    if method in SEARCHES:
        return optimise_beta(P[:, 0], P[:, 1:], method, None)[0]
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
