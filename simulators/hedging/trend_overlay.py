"""A trend overlay: cut (or short) equity exposure while the price is below its moving average.

Exposure decided at close t (from closes up to t) applies to the return from t to t + 1:
exposure = 1 - ``weight`` while close_t < MA_N(t), else 1. ``weight`` 1 goes flat, 2 goes
fully short. Before N closes exist the average is over the closes seen so far.
"""

from __future__ import annotations

import numpy as np


def trailing_mean(prices: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` closes up to and including each close, along the last axis."""
    if window < 1:
        raise ValueError(f"trend.window must be >= 1 day, got {window}")
    p = np.asarray(prices, dtype=float)
    n = p.shape[-1]
    cs = np.concatenate([np.zeros(p.shape[:-1] + (1,)), np.cumsum(p, axis=-1)], axis=-1)
    t = np.arange(1, n + 1)
    lo = np.maximum(t - window, 0)
    return (cs[..., t] - cs[..., lo]) / (t - lo)


def trend_exposure(prices: np.ndarray, window: int, weight: float) -> np.ndarray:
    """Equity exposure per close (same shape as ``prices``): 1 - weight below the MA, else 1."""
    if not 0.0 <= weight <= 2.0:
        raise ValueError(f"trend.weight must be in [0, 2] (2 = fully short), got {weight}")
    p = np.asarray(prices, dtype=float)
    if weight == 0.0:
        return np.ones_like(p)
    below = p < trailing_mean(p, int(window))
    return np.where(below, 1.0 - weight, 1.0)
