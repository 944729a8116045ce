"""A z-score mean-reversion rule traded on a spread, one trading window at a time, net of costs.

Conventions. The spread's weights are ``w = (1, -ratio_1, ..., -ratio_k)`` (dependent leg first),
so the spread is ``P . w``. Its z-score is ``(P . w - mean) / std`` with the mean and standard
deviation of the *formation* window (known before the trading window starts). Decisions are
taken at each close from the z-score of that close and held over the next day:

* flat: go short the spread when ``z > entry_z``, long when ``z < -entry_z``;
* short: exit when ``z <= exit_z`` (reverted), stop out when ``z >= stop_z``;
* long: exit when ``z >= -exit_z``, stop out when ``z <= -stop_z``;
* after a stop the rule waits until ``|z| < entry_z`` before it enters again (it does not
  re-enter the divergence it was just stopped out of).

A position is sized to a fixed gross notional ``G`` at entry (``units = G / (|w| . P)``, shares
then held until exit) and closed at the end of the trading window (its ratios, mean and std are
replaced by the next window's). Every trade pays ``cost_bps`` on the notional traded on every
leg. Daily net return = (P&L of the shares held over the day - costs of the trades) / ``G``;
the costs of a trade at a close are booked on the following day, and the closing trade at the
window's last close on that last day, so each window's days carry all of its own costs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ZScoreRule:
    """Entry, exit and stop levels of the z-score rule (in formation standard deviations)."""

    entry_z: float = 2.0  # open a position when |z| reaches this
    exit_z: float = 0.5  # close it when |z| falls back to this (negative: only past the mean)
    stop_z: float = 4.0  # close it at a loss when |z| reaches this

    def __post_init__(self) -> None:
        if not (-self.entry_z < self.exit_z < self.entry_z < self.stop_z) or self.entry_z <= 0:
            raise ValueError(
                "the z-score rule needs -entry_z < exit_z < entry_z < stop_z and entry_z > 0, got "
                f"entry_z={self.entry_z}, exit_z={self.exit_z}, stop_z={self.stop_z}"
            )


@dataclass
class WindowTrades:
    """One trading window: daily net returns (fraction of the gross notional) and its trades."""

    returns: np.ndarray  # (days,)
    traded: float  # notional traded over the window, in multiples of G
    trade_pnls: list[float]  # net P&L (fraction of G) of each round trip, costs included
    days_in_market: int


def positions(z: np.ndarray, rule: ZScoreRule) -> np.ndarray:
    """Position decided at each close (+1 long spread, -1 short, 0 flat) from z up to that close."""
    out = np.zeros(len(z), dtype=np.int8)
    pos = 0
    armed = True
    for j, zj in enumerate(z):
        if not math.isfinite(zj):
            pos = 0
        elif pos == 1 and (zj >= -rule.exit_z or zj <= -rule.stop_z):
            armed = zj > -rule.stop_z
            pos = 0
        elif pos == -1 and (zj <= rule.exit_z or zj >= rule.stop_z):
            armed = zj < rule.stop_z
            pos = 0
        if not armed and abs(zj) < rule.entry_z:
            armed = True
        if pos == 0 and armed and math.isfinite(zj) and abs(zj) < rule.stop_z:
            if zj > rule.entry_z:
                pos = -1
            elif zj < -rule.entry_z:
                pos = 1
        out[j] = pos
    return out


def trade_window(
    prices: np.ndarray,
    weights: np.ndarray,
    mean: float,
    std: float,
    rule: ZScoreRule,
    cost_bps: float,
) -> WindowTrades:
    """Trade the rule over one window.

    ``prices``: ``(days + 1, legs)`` closes, the first row the close before the window's first
    day (the last formation close, where the first decision is taken). Returns one net return
    per day of the window. A window whose mean or std is not usable does not trade.
    """
    p = np.asarray(prices, dtype=float)
    days = p.shape[0] - 1
    if days < 1:
        raise ValueError("a trading window needs at least one day")
    w = np.asarray(weights, dtype=float)
    if not (math.isfinite(mean) and math.isfinite(std) and std > 0 and np.isfinite(w).all()):
        return WindowTrades(np.zeros(days), 0.0, [], 0)
    spread = p @ w
    gross = p @ np.abs(w)  # notional of one unit of the spread, per close
    pos = positions((spread[:-1] - mean) / std, rule)  # decisions at closes 0..days-1
    pos = np.append(pos, 0)  # flat at the window's last close
    cost = cost_bps * 1e-4
    rets = np.zeros(days)
    trade_pnls: list[float] = []
    traded = 0.0
    units = 0.0
    held = 0
    open_pnl = 0.0
    for j in range(days + 1):
        if j > 0 and held:
            pnl = held * units * (spread[j] - spread[j - 1])
            rets[j - 1] += pnl
            open_pnl += pnl
        new = int(pos[j])
        if new != held:
            day = min(j, days - 1)  # costs of a trade at close j are booked on day j + 1 (or the last)
            if held:
                notional = units * gross[j]
                rets[day] -= cost * notional
                traded += notional
                trade_pnls.append(open_pnl - cost * notional)
            if new:
                units = 1.0 / gross[j]
                rets[day] -= cost
                traded += 1.0
                open_pnl = -cost
            held = new
    return WindowTrades(rets, traded, trade_pnls, int(np.count_nonzero(pos[:-1])))


def buy_and_hold(prices: np.ndarray, cost_bps: float) -> np.ndarray:
    """Daily returns of buying ``G`` of one leg at the first close and holding the shares.

    ``prices``: ``(days + 1,)`` closes, the first the buying close; the entry cost is booked on
    the first day.
    """
    p = np.asarray(prices, dtype=float)
    rets = np.diff(p) / p[0]
    rets[0] -= cost_bps * 1e-4
    return rets
