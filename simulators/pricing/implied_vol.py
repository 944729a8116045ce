"""A stated implied-vol model for pricing index puts when no option prices ship with the data.

At-the-money implied vol = trailing realised vol x (1 + ``vol_premium``): the variance risk
premium makes options dearer than the volatility they later realise. A put skew makes implied
vol rise as the strike falls below spot: sigma(K) = atm + ``skew`` x ln(S / K), floored at
``floor``. Realised vol on day t uses returns up to and including day t's close only (the close
at which that day's options are marked and traded), never a later one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulators.conventions import TRADING_DAYS


def trailing_realised_vol(log_returns: np.ndarray, lookback: int, min_periods: int = 5) -> np.ndarray:
    """Annualised zero-mean realised vol over the last ``lookback`` returns, per day.

    ``log_returns`` is ``(..., n)`` with ``log_returns[..., i]`` the return from close i to
    close i + 1; the result is ``(..., n + 1)``, one value per close: entry t uses returns that
    end at close t or earlier. Before ``lookback`` returns exist the window is the returns seen
    so far; entries with fewer than ``min_periods`` returns are NaN (nothing to price with).
    """
    if lookback < 2:
        raise ValueError(f"implied_vol.lookback must be >= 2 days, got {lookback}")
    r2 = np.asarray(log_returns, dtype=float) ** 2
    n = r2.shape[-1]
    if n < min_periods:
        raise ValueError(f"need at least {min_periods} returns for a realised vol, got {n}")
    cs = np.concatenate([np.zeros(r2.shape[:-1] + (1,)), np.cumsum(r2, axis=-1)], axis=-1)
    t = np.arange(n + 1)
    lo = np.maximum(t - lookback, 0)
    count = t - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (cs[..., t] - cs[..., lo]) / np.maximum(count, 1)
    var[..., count < min_periods] = np.nan
    return np.sqrt(TRADING_DAYS * var)


@dataclass(frozen=True)
class SkewVolModel:
    """sigma(K; S, rv) = max(floor, rv x (1 + vol_premium) + skew x ln(S / K))."""

    vol_premium: float = 0.2
    skew: float = 0.8
    floor: float = 0.05

    def __post_init__(self) -> None:
        if self.vol_premium <= -1.0:
            raise ValueError(f"implied_vol.vol_premium must be > -1, got {self.vol_premium}")
        if self.floor <= 0.0:
            raise ValueError(f"implied_vol.floor must be > 0, got {self.floor}")

    def atm(self, realised: np.ndarray) -> np.ndarray:
        return np.asarray(realised, dtype=float) * (1.0 + self.vol_premium)

    def vol(self, spot, strike, realised) -> np.ndarray:
        """Implied vol of a strike given spot and the realised vol (broadcasting)."""
        smile = self.atm(realised) + self.skew * np.log(np.asarray(spot, float) / np.asarray(strike, float))
        return np.maximum(smile, self.floor)
