"""Performance measures of a return series, one home for each: Sharpe, volatility, drawdown.

Returns are periodic (daily for exchange data); ``periods_per_year`` annualises them, with
:data:`~simulators.conventions.TRADING_DAYS` as the exchange-data convention.
"""

from __future__ import annotations

import math

import numpy as np

from simulators.conventions import TRADING_DAYS

__all__ = ["annualised_sharpe", "annualised_vol", "compounded_max_drawdown", "max_drawdown"]


def annualised_sharpe(returns: np.ndarray, periods_per_year: float = TRADING_DAYS) -> float:
    """mean / std (ddof 1) x sqrt(periods); 0 for a constant series (no risk taken, none earned)."""
    r = np.asarray(returns, dtype=float)
    sd = float(r.std(ddof=1)) if r.size > 1 else 0.0
    return float(r.mean() / sd * math.sqrt(periods_per_year)) if sd > 0 else 0.0


def annualised_vol(returns: np.ndarray, periods_per_year: float = TRADING_DAYS) -> np.ndarray:
    """std (ddof 1) x sqrt(periods) over the last axis."""
    return np.asarray(returns, dtype=float).std(axis=-1, ddof=1) * math.sqrt(periods_per_year)


def max_drawdown(returns: np.ndarray) -> float:
    """Largest fall of the cumulative (uncompounded, fixed-notional) return from its peak, >= 0."""
    cum = np.concatenate([[0.0], np.cumsum(np.asarray(returns, dtype=float))])
    return float(np.max(np.maximum.accumulate(cum) - cum))


def compounded_max_drawdown(returns: np.ndarray) -> np.ndarray:
    """Largest peak-to-trough loss of the value path ``prod(1 + r)`` of each row (positive)."""
    wealth = np.cumprod(1.0 + np.atleast_2d(returns), axis=-1)
    wealth = np.concatenate([np.ones(wealth.shape[:-1] + (1,)), wealth], axis=-1)
    return (1.0 - wealth / np.maximum.accumulate(wealth, axis=-1)).max(axis=-1)
