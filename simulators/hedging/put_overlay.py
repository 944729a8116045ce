"""The put-overlay engine: a long equity portfolio with rolled index puts and a trend overlay.

One portfolio per path, marked daily at the close, self-financing, value 1 at the first close:

* equity: ``exposure[t] x V`` dollars in the index, chosen at close t for the day ahead
  (1 without a trend overlay), rebalanced daily at ``trend_cost`` per dollar traded; the
  index earns its price return plus ``equity_yield`` per year (dividends: the embedded
  prices are closes without them); the rest is cash at ``rate``;
* puts: on a fixed roll calendar (every ``tenor_days - roll_days_before`` trading days from
  the first close) the held puts are closed (sold at the bid, or settled at max(K - S, 0) at
  expiry) and new puts bought at the ask with strike ``moneyness x S`` and expiry
  ``tenor_days`` trading days later, sized to spend ``budget`` x the roll interval in years x
  V (budget sizing) or to cover ``hedge_ratio`` x the equity held (ratio sizing).
  Puts are marked each day at the Black-Scholes mid with the implied vol of
  :mod:`simulators.pricing.implied_vol`; bid and ask are ``half_spread`` away, in vol points
  (``spread_mode`` 0) or as a fraction of the mid (``spread_mode`` 1).

Everything is recorded per close as a fraction of that day's opening value V_{t-1}, so the day's
portfolio return is the sum of the equity, cash and put-leg parts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from simulators.conventions import TRADING_DAYS
from simulators.pricing.black_scholes import bs_price_scalar

SPREAD_MODES = {"vol": 0, "premium": 1}
SIZINGS = {"budget": 0, "hedge_ratio": 1}


@dataclass(frozen=True)
class PutPolicy:
    """What the overlay buys and when."""

    moneyness: float = 0.9  # strike / spot at purchase
    tenor_days: int = 63  # trading days to expiry at purchase
    roll_days_before: int = 0  # close and replace this many trading days before expiry
    sizing: str = "budget"  # budget | hedge_ratio
    budget: float = 0.01  # premium spent per year, fraction of portfolio value
    hedge_ratio: float = 1.0  # puts per unit of index held (hedge_ratio sizing)

    def __post_init__(self) -> None:
        if not 0.0 < self.moneyness <= 2.0:
            raise ValueError(f"puts.moneyness must be in (0, 2], got {self.moneyness}")
        if self.tenor_days < 1:
            raise ValueError(f"puts.tenor_days must be >= 1, got {self.tenor_days}")
        if not 0 <= self.roll_days_before < self.tenor_days:
            raise ValueError(f"puts.roll_days_before must be in [0, tenor_days), got {self.roll_days_before}")
        if self.sizing not in SIZINGS:
            raise ValueError(f"puts.sizing must be one of {sorted(SIZINGS)}, got {self.sizing!r}")
        if self.budget < 0 or self.hedge_ratio < 0:
            raise ValueError("puts.budget and puts.hedge_ratio must be >= 0")


@dataclass(frozen=True)
class Market:
    """Pricing and carry assumptions shared by every strategy."""

    rate: float = 0.0  # cash rate and Black-Scholes r, per year
    equity_yield: float = 0.02  # index dividend yield: income and Black-Scholes q
    vol_premium: float = 0.2  # ATM implied vol = realised x (1 + vol_premium)
    skew: float = 0.8  # implied vol + skew x ln(S / K)
    vol_floor: float = 0.05
    spread_mode: str = "vol"  # vol | premium
    half_spread: float = 0.01  # vol points (0.01 = 1 point) or fraction of the mid
    trend_cost: float = 2e-4  # per dollar of index traded

    def __post_init__(self) -> None:
        if self.spread_mode not in SPREAD_MODES:
            raise ValueError(
                f"market.spread_mode must be one of {sorted(SPREAD_MODES)}, got {self.spread_mode!r}"
            )
        if self.half_spread < 0 or self.trend_cost < 0 or self.vol_floor <= 0:
            raise ValueError("market.half_spread and market.trend_cost must be >= 0, market.vol_floor > 0")
        if self.spread_mode == "premium" and self.half_spread >= 1:
            raise ValueError("market.half_spread as a fraction of the premium must be < 1")


@dataclass
class OverlayResult:
    """Per-close records ``(n_paths, n_closes)``; entries before ``start + 1`` are zero.

    ``returns``: portfolio return of the day ending at each close; ``put_pnl``: the put leg's
    part of it (mark-to-mid change minus spreads); ``spread_cost``: spreads paid (positive);
    ``premium``: premium paid at the ask at that close (a fraction of that close's value);
    ``trade_cost``: trend rebalancing costs; ``value``: portfolio value at the close before its
    trades (1 at ``start``; the base of the next day's return, so a close's trading costs land
    in the next day); ``contracts``, ``strike``: puts held after that close's trades.
    """

    returns: np.ndarray
    put_pnl: np.ndarray
    spread_cost: np.ndarray
    premium: np.ndarray
    trade_cost: np.ndarray
    value: np.ndarray
    contracts: np.ndarray
    strike: np.ndarray
    start: int

    def window(self, name: str) -> np.ndarray:
        """A record over the days after ``start`` (the returns' days)."""
        return getattr(self, name)[:, self.start + 1 :]


@njit(cache=True, inline="always")
def _put_vol(S: float, K: float, atm: float, skew: float, floor: float) -> float:
    return max(floor, atm + skew * math.log(S / K))


@njit(cache=True, inline="always")
def _quote(
    S: float,
    K: float,
    tau: float,
    sig: float,
    r: float,
    q: float,
    mode: int,
    half: float,
    floor: float,
    side: float,
) -> float:
    """Mid (side 0), ask (side +1) or bid (side -1) of a put."""
    if mode == 0:
        return bs_price_scalar(S, K, tau, max(floor, sig + side * half), r, q, False)
    return bs_price_scalar(S, K, tau, sig, r, q, False) * (1.0 + side * half)


@njit(cache=True)
def _overlay_kernel(
    spot,
    atm,
    expo,
    start,
    moneyness,
    tenor,
    roll_before,
    sizing,
    budget,
    hedge_ratio,
    rate,
    q,
    skew,
    floor,
    mode,
    half,
    trend_cost,
    ret,
    put_pnl,
    spread,
    premium,
    tcost,
    value,
    contracts,
    strike,
):
    n_paths, n_closes = spot.shape
    dt = 1.0 / TRADING_DAYS
    interval = tenor - roll_before
    for p in range(n_paths):
        E = expo[p, start]  # the portfolio starts invested: no cost to build the first position
        C = 1.0 - E
        n = 0.0
        K = 1.0
        expiry = start
        next_roll = start
        V = 1.0
        for t in range(start, n_closes):
            S = spot[p, t]
            tau = (expiry - t) / TRADING_DAYS
            mid = 0.0
            if n > 0.0:
                mid = _quote(
                    S, K, tau, _put_vol(S, K, atm[p, t], skew, floor), rate, q, mode, half, floor, 0.0
                )
            V = E + C + n * mid
            if t > start:
                prev = value[p, t - 1]
                ret[p, t] = V / prev - 1.0
            if t == n_closes - 1:
                value[p, t] = V
                contracts[p, t] = n
                strike[p, t] = K
                break
            cost = 0.0
            if t == next_roll:
                if n > 0.0:
                    if t >= expiry:
                        C += n * mid
                    else:
                        bid = _quote(
                            S,
                            K,
                            tau,
                            _put_vol(S, K, atm[p, t], skew, floor),
                            rate,
                            q,
                            mode,
                            half,
                            floor,
                            -1.0,
                        )
                        C += n * bid
                        cost += n * (mid - bid)
                    n = 0.0
                K = moneyness * S
                expiry = t + tenor
                next_roll = t + interval
                sig = _put_vol(S, K, atm[p, t], skew, floor)
                ask = _quote(S, K, tenor / TRADING_DAYS, sig, rate, q, mode, half, floor, 1.0)
                new_mid = _quote(S, K, tenor / TRADING_DAYS, sig, rate, q, mode, half, floor, 0.0)
                if sizing == 0:
                    n = budget * (interval / TRADING_DAYS) * V / ask if ask > 0.0 else 0.0
                else:
                    n = hedge_ratio * max(expo[p, t], 0.0) * V / S
                C -= n * ask
                cost += n * (ask - new_mid)
                premium[p, t + 1] = n * ask / V
                mid = new_mid
            spread[p, t + 1] = cost / V
            Vt = E + C + n * mid
            target = expo[p, t] * Vt
            trade = abs(target - E) * trend_cost
            C -= target - E + trade
            E = target
            tcost[p, t + 1] = trade / V
            value[p, t] = V
            contracts[p, t] = n
            strike[p, t] = K
            # the day ahead: index price return plus dividends, cash interest, puts re-marked
            S1 = spot[p, t + 1]
            E = E * (S1 / S + q * dt)
            C = C * (1.0 + rate * dt)
            if n > 0.0:
                tau1 = (expiry - (t + 1)) / TRADING_DAYS
                mid1 = _quote(
                    S1, K, tau1, _put_vol(S1, K, atm[p, t + 1], skew, floor), rate, q, mode, half, floor, 0.0
                )
                put_pnl[p, t + 1] = (n * (mid1 - mid) - cost) / V
            else:
                put_pnl[p, t + 1] = -cost / V


def run_overlay(
    spot: np.ndarray,
    atm_vol: np.ndarray,
    exposure: np.ndarray,
    policy: PutPolicy,
    market: Market,
    start: int = 0,
) -> OverlayResult:
    """Run the overlay on closes ``spot`` ``(n_paths, n_closes)`` (or ``(n_closes,)``) from ``start``.

    ``atm_vol``: at-the-money implied vol per close (``SkewVolModel.atm`` of the trailing realised
    vol); ``exposure``: equity exposure chosen at each close (``trend_exposure``, or ones).
    """
    spot = np.atleast_2d(np.asarray(spot, dtype=np.float64))
    atm_vol = np.broadcast_to(np.atleast_2d(np.asarray(atm_vol, dtype=np.float64)), spot.shape)
    exposure = np.broadcast_to(np.atleast_2d(np.asarray(exposure, dtype=np.float64)), spot.shape)
    n_paths, n_closes = spot.shape
    if not 0 <= start < n_closes - 1:
        raise ValueError(f"overlay start {start} must leave at least one day in {n_closes} closes")
    if not np.all(np.isfinite(atm_vol[:, start:])):
        raise ValueError("implied vol is undefined on or after the overlay's start (too little history)")
    out = {
        k: np.zeros((n_paths, n_closes))
        for k in (
            "returns",
            "put_pnl",
            "spread_cost",
            "premium",
            "trade_cost",
            "value",
            "contracts",
            "strike",
        )
    }
    _overlay_kernel(
        spot,
        np.ascontiguousarray(atm_vol),
        np.ascontiguousarray(exposure),
        int(start),
        float(policy.moneyness),
        int(policy.tenor_days),
        int(policy.roll_days_before),
        SIZINGS[policy.sizing],
        float(policy.budget),
        float(policy.hedge_ratio),
        float(market.rate),
        float(market.equity_yield),
        float(market.skew),
        float(market.vol_floor),
        SPREAD_MODES[market.spread_mode],
        float(market.half_spread),
        float(market.trend_cost),
        out["returns"],
        out["put_pnl"],
        out["spread_cost"],
        out["premium"],
        out["trade_cost"],
        out["value"],
        out["contracts"],
        out["strike"],
    )
    return OverlayResult(start=int(start), **out)
