"""Surrogate price histories without cointegration, for testing a pairs rule against chance.

Each leg's daily log returns are resampled in circular moving blocks, *independently of the
other legs*: every leg keeps its own volatility, fat tails and (within a block) its own serial
dependence and volatility clustering, but the legs no longer share a common stochastic trend,
so any spread of them is a random walk. A rule that earns as much on such surrogates as on the
real pair has not shown that it trades mean reversion.
"""

from __future__ import annotations

import numpy as np


def independent_block_bootstrap(
    prices: np.ndarray, n_surrogates: int, block: int, rng: np.random.Generator
) -> np.ndarray:
    """``(n_surrogates, rows, legs)`` surrogate closes starting from the real first row.

    ``prices``: ``(rows, legs)`` positive closes. Block starts are drawn separately for each
    surrogate and each leg.
    """
    p = np.asarray(prices, dtype=float)
    if p.ndim != 2 or p.shape[0] < 3:
        raise ValueError(f"surrogates need a (rows >= 3, legs) price array, got shape {p.shape}")
    if not (np.isfinite(p).all() and (p > 0).all()):
        raise ValueError("surrogates need finite, positive prices")
    if n_surrogates < 1 or block < 1:
        raise ValueError(f"n_surrogates and block must be positive, got {n_surrogates} and {block}")
    r = np.diff(np.log(p), axis=0)  # (n, legs)
    n, legs = r.shape
    n_blocks = -(-n // block)
    starts = rng.integers(0, n, size=(n_surrogates, legs, n_blocks))
    idx = (starts[..., None] + np.arange(block)).reshape(n_surrogates, legs, -1)[..., :n] % n
    resampled = np.take_along_axis(r.T[None, :, :], idx, axis=2)  # (S, legs, n)
    paths = np.concatenate([np.zeros((n_surrogates, legs, 1)), np.cumsum(resampled, axis=2)], axis=2)
    return (p[0][None, :, None] * np.exp(paths)).transpose(0, 2, 1)


def surrogate_summary(real: float, surrogate_scores: np.ndarray) -> dict[str, float]:
    """How the real score ranks among surrogate scores (higher = better).

    ``surrogate_p_value`` is the share of surrogates that score at least as well, counting the
    real series as one of them ((1 + #{s >= real}) / (1 + n)), so it is never 0.
    """
    s = np.asarray(surrogate_scores, dtype=float)
    return {
        "surrogate_p_value": float((1 + np.sum(s >= real)) / (1 + s.size)),
        "surrogate_sharpe_mean": float(s.mean()),
        "surrogate_sharpe_q95": float(np.quantile(s, 0.95)),
        "n_surrogates": float(s.size),
    }
