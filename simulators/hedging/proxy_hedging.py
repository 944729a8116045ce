"""Proxy-hedging engine: books the P&L of hedging a target with several proxies, in units.

Conventions (returns are SIMPLE daily returns; P&L is a fraction of the exposure's value):

- The exposure is a long holding of the target, worth ``notional`` at the window's start and
  held in shares, so its value E_t drifts with the target's price.
- ``ratios[t, j]`` is the hedge ratio the model wants on day t, known at the close of t-1.
- Rebalance days (:func:`rebalance_mask`): every day (``daily``), the first trading day of each
  ISO week (``weekly``) or month (``monthly``), and always the first day of the window. On a
  rebalance day (at the close of t-1) the hedge trades to a short position in proxy j worth
  h_j,t x E_t; between rebalance days it holds its number of proxy shares, so the position's
  value drifts with the proxy's price and its ratio to the exposure drifts as
  h x (growth of proxy j) / (growth of the target) since the last rebalance.
- Constraints (:func:`apply_constraints`) act on the target ratios of rebalance days: each |h_j|
  is clipped to ``max_abs_ratio``; then if the gross leverage sum_j |h_j| exceeds
  ``max_gross_leverage`` all h_j are scaled down by the same factor. Drift between rebalance
  days may carry the held ratios past the caps until the next rebalance.
- Hedged return on day t: r_target,t - sum_j p_j,t r_proxy_j,t, with p_j,t the ratio held over
  day t (position value / exposure value at the start of the day).
- Turnover on a rebalance day: sum_j |h_j,t - drifted p_j| (what is traded, per unit of the
  exposure), with the first day trading from no hedge; cost_t = turnover_t x cost_bps / 1e4,
  charged on day t; net = gross - cost. Daily rebalancing therefore trades every day (the drift
  of yesterday's position back to the ratio), weekly and monthly trade less but drift more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulators.conventions import TRADING_DAYS
from simulators.performance import max_drawdown

REBALANCE_FREQUENCIES = ("daily", "weekly", "monthly")


@dataclass(frozen=True)
class HedgeResult:
    """Daily series of one hedged window (returns are fractions of the exposure's value)."""

    positions: np.ndarray  # [n, m] ratios held over each day (after that day's trade)
    unhedged: np.ndarray  # [n] target return
    gross: np.ndarray  # [n] hedged return before costs
    net: np.ndarray  # [n] hedged return after costs
    turnover: np.ndarray  # [n] sum_j |trade_j|, multiples of the exposure's value
    cost: np.ndarray  # [n] cost as a fraction of the exposure's value
    exposure: np.ndarray  # [n] the exposure's value (currency) at the start of each day


def rebalance_mask(index: pd.DatetimeIndex, frequency: str) -> np.ndarray:
    """Boolean [n]: True on the days the hedge is reset (the first day always)."""
    if frequency not in REBALANCE_FREQUENCIES:
        raise ValueError(f"rebalance must be one of {REBALANCE_FREQUENCIES}, got {frequency!r}")
    n = len(index)
    mask = np.ones(n, dtype=bool)
    if frequency == "daily" or n == 0:
        return mask
    idx = pd.DatetimeIndex(index)
    if frequency == "weekly":
        iso = idx.isocalendar()
        key = iso["year"].to_numpy(np.int64) * 100 + iso["week"].to_numpy(np.int64)
    else:
        key = idx.year.to_numpy(np.int64) * 100 + idx.month.to_numpy(np.int64)
    mask[1:] = key[1:] != key[:-1]
    return mask


def apply_constraints(
    ratios: np.ndarray, max_abs_ratio: float | None, max_gross_leverage: float | None
) -> np.ndarray:
    """Clip each |h_j| to ``max_abs_ratio``, then scale rows whose sum |h_j| exceeds the cap."""
    h = np.array(ratios, dtype=np.float64, ndmin=2)
    if max_abs_ratio is not None:
        if max_abs_ratio < 0:
            raise ValueError(f"max_abs_ratio must be >= 0, got {max_abs_ratio}")
        h = np.clip(h, -max_abs_ratio, max_abs_ratio)
    if max_gross_leverage is not None:
        if max_gross_leverage < 0:
            raise ValueError(f"max_gross_leverage must be >= 0, got {max_gross_leverage}")
        gross = np.abs(h).sum(axis=1)
        over = gross > max_gross_leverage
        h[over] *= (max_gross_leverage / gross[over])[:, None]
    return h


def last_rebalance(mask: np.ndarray) -> np.ndarray:
    """Index [n] of the latest rebalance day at or before each day."""
    return np.maximum.accumulate(np.where(mask, np.arange(len(mask)), 0))


def run_hedge(
    target: np.ndarray,
    proxies: np.ndarray,
    ratios: np.ndarray,
    mask: np.ndarray,
    cost_bps: float,
    max_abs_ratio: float | None = None,
    max_gross_leverage: float | None = None,
    notional: float = 1.0,
) -> HedgeResult:
    """Hedge ``target`` [n] with ``proxies`` [n, m] (simple returns) at model ``ratios`` [n, m],
    trading on ``mask`` days and holding shares in between."""
    target = np.asarray(target, dtype=np.float64)
    proxies = np.array(proxies, dtype=np.float64, ndmin=2)
    if proxies.shape[0] != target.shape[0] and proxies.shape[1] == target.shape[0]:
        proxies = proxies.T
    ratios = np.array(ratios, dtype=np.float64, ndmin=2)
    if ratios.shape != proxies.shape or mask.shape != target.shape:
        raise ValueError(
            f"shapes differ: target {target.shape}, proxies {proxies.shape}, ratios {ratios.shape}, mask "
            f"{mask.shape}"
        )
    if len(target) == 0:
        raise ValueError("empty hedging window")
    if not mask[0]:
        raise ValueError("the first day of a window must be a rebalance day")
    if not np.isfinite(ratios[mask]).all():
        raise ValueError("hedge ratios are NaN or inf on a rebalance day")
    if cost_bps < 0 or notional <= 0:
        raise ValueError(f"cost_bps must be >= 0 and notional > 0, got {cost_bps}, {notional}")
    if not (np.all(target > -1.0) and np.all(proxies > -1.0)):
        raise ValueError("simple returns must exceed -100%")
    goal = apply_constraints(np.where(mask[:, None], ratios, 0.0), max_abs_ratio, max_gross_leverage)
    # log growth up to the start of each day: row t sums days 0 .. t-1
    grow_p = np.vstack([np.zeros((1, proxies.shape[1])), np.cumsum(np.log1p(proxies), axis=0)])
    grow_t = np.concatenate([[0.0], np.cumsum(np.log1p(target))])
    rel = grow_p - grow_t[:, None]  # log of proxy growth relative to the target's
    last = last_rebalance(mask)
    n = len(target)
    pos = goal[last] * np.exp(rel[:n] - rel[last])
    # before the day's trade: yesterday's position drifted over yesterday (no hedge on day 0)
    before = np.zeros_like(pos)
    before[1:] = pos[:-1] * np.exp(rel[1:n] - rel[: n - 1])
    turnover = np.where(mask, np.abs(pos - before).sum(axis=1), 0.0)
    gross = target - np.einsum("ij,ij->i", pos, proxies)
    cost = turnover * (cost_bps * 1e-4)
    exposure = float(notional) * np.exp(grow_t[:n])
    return HedgeResult(pos, target, gross, gross - cost, turnover, cost, exposure)


def rolling_std_mean(values: np.ndarray, window: int = 20) -> float:
    """Mean over time and columns of the ``window``-day rolling std (ddof=1): beta stability."""
    v = np.array(values, dtype=np.float64, ndmin=2)
    if v.shape[0] < window:
        return float(np.mean(np.std(v, axis=0, ddof=1))) if v.shape[0] > 1 else 0.0
    win = np.lib.stride_tricks.sliding_window_view(v, window, axis=0)
    return float(win.std(axis=-1, ddof=1).mean())


def hedge_metrics(result: HedgeResult, stability_window: int = 20) -> dict[str, float]:
    """Metrics of one window: effectiveness 1 - Var(hedged)/Var(unhedged) gross and net of costs,
    annualised net Sharpe (no risk-free rate), max drawdown of net P&L (fraction of the exposure),
    turnover (total and annualised, multiples of the exposure), total cost (currency), beta
    stability (mean ``stability_window``-day rolling std of the held ratios) and mean gross
    leverage."""
    n = len(result.net)
    var_u = float(np.var(result.unhedged, ddof=1))
    if not var_u > 0:
        raise ValueError("unhedged return has zero variance: cannot measure hedge effectiveness")
    sd_net = float(np.std(result.net, ddof=1))
    return {
        "effectiveness": 1.0 - float(np.var(result.net, ddof=1)) / var_u,
        "effectiveness_gross": 1.0 - float(np.var(result.gross, ddof=1)) / var_u,
        "sharpe": float(np.mean(result.net)) / sd_net * np.sqrt(TRADING_DAYS) if sd_net > 0 else 0.0,
        "vol": sd_net * np.sqrt(TRADING_DAYS),
        "max_drawdown": max_drawdown(result.net),
        "turnover": float(result.turnover.sum()),
        "turnover_annual": float(result.turnover.sum()) * TRADING_DAYS / n,
        "total_cost": float((result.cost * result.exposure).sum()),
        "beta_stability": rolling_std_mean(result.positions, stability_window),
        "gross_leverage": float(np.abs(result.positions).sum(axis=1).mean()),
    }
