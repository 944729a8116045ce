"""Walk-forward pairs backtest: estimate on a formation window, trade the next window, repeat.

At each trading-window start ``t`` the hedge ratios (``simulators.estimators.hedge_ratios``), the spread's
mean and its standard deviation come from rows ``[t - formation, t)`` only; the z-score rule
(``simulators.trading.pairs_trading``) then trades rows ``[t, t + trading)`` with them. Windows tile the
scored rows ``[lo, hi)`` exactly (the last one may be shorter), so every configuration yields
one net return per scored day and configurations are compared on the same days.

Diagnostics of the spread's mean reversion per window (AR(1) half-life around the formation
mean, ADF(1) statistic) and the variance reduction of the spread's daily changes against the
dependent leg's are reported beside the trading results; they do not score anything.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from simulators.conventions import TRADING_DAYS
from simulators.estimators import hedge_ratios as hr
from simulators.estimators.mean_reversion import adf_statistic, half_life
from simulators.performance import annualised_sharpe, max_drawdown
from simulators.trading.pairs_trading import ZScoreRule, trade_window

#: Half-life (days) reported for a window whose spread does not revert, and its cap.
HALF_LIFE_CAP = 500.0


@dataclass(frozen=True)
class SpreadSettings:
    """One configuration of the walk-forward: estimator, windows, rule and costs."""

    method: str
    add_constant: bool
    formation: int
    trading: int
    rule: ZScoreRule
    cost_bps: float


@dataclass(frozen=True)
class Estimate:
    """Ratios of the legs after the dependent one (None: estimation failed) and the formation
    spread's mean and standard deviation."""

    beta: np.ndarray | None
    mean: float
    std: float


class RatioEstimator:
    """Formation-window estimates on one price history, cached by (method, constant, formation, t)."""

    def __init__(self, values: np.ndarray, columns: Sequence[str], cache: bool = True) -> None:
        self.values = np.asarray(values, dtype=float)
        self.columns = [str(c) for c in columns]
        self._cache: dict[tuple, Estimate] | None = {} if cache else None

    def estimate(self, method: str, add_constant: bool, formation: int, t: int) -> Estimate:
        key = (method, add_constant, formation, t)
        if self._cache is not None and key in self._cache:
            return self._cache[key]
        lo = t - formation
        if lo < 0:
            raise ValueError(f"formation window {formation} reaches before the first row at {t}")
        vals = self.values[lo:t]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                beta = np.asarray(hr.hedge_ratio_array(method, vals, add_constant), dtype=float)
            if not np.isfinite(beta).all():
                raise ValueError("divergent estimate")
            spread = vals[:, 0] - vals[:, 1:] @ beta
            est = Estimate(beta, float(spread.mean()), float(spread.std(ddof=1)))
        except (ValueError, np.linalg.LinAlgError):
            est = Estimate(None, math.nan, math.nan)
        if self._cache is not None:
            self._cache[key] = est
        return est


def trading_windows(lo: int, hi: int, trading: int) -> list[tuple[int, int]]:
    """Windows ``[t, min(t + trading, hi))`` tiling ``[lo, hi)``."""
    if trading < 1 or hi <= lo:
        raise ValueError(f"no trading window fits in rows [{lo}, {hi}) with length {trading}")
    return [(t, min(t + trading, hi)) for t in range(lo, hi, trading)]


@dataclass
class WalkForward:
    """Per-day net returns over the scored rows and per-window details."""

    returns: np.ndarray
    windows: list[tuple[int, int]]
    estimates: list[Estimate]
    trade_pnls: list[float] = field(default_factory=list)
    traded: float = 0.0
    days_in_market: int = 0
    half_lives: list[float] = field(default_factory=list)
    adf_stats: list[float] = field(default_factory=list)
    spread_changes: list[np.ndarray] = field(default_factory=list)
    dependent_changes: list[np.ndarray] = field(default_factory=list)


def walk_forward(
    estimator: RatioEstimator,
    s: SpreadSettings,
    lo: int,
    hi: int,
    diagnostics: bool = True,
    on_window: Callable[[int, np.ndarray], None] | None = None,
) -> WalkForward:
    """Run ``s`` over rows ``[lo, hi)``; ``on_window(k, returns so far)`` after each window."""
    values = estimator.values
    windows = trading_windows(lo, hi, s.trading)
    returns = np.zeros(hi - lo)
    walk = WalkForward(returns, windows, [])
    for k, (t, e) in enumerate(windows):
        est = estimator.estimate(s.method, s.add_constant, s.formation, t)
        walk.estimates.append(est)
        if est.beta is not None:
            weights = np.concatenate([[1.0], -est.beta])
            block = values[t - 1 : e]  # row t-1: the last formation close, the first decision
            trades = trade_window(block, weights, est.mean, est.std, s.rule, s.cost_bps)
            returns[t - lo : e - lo] = trades.returns
            walk.trade_pnls += trades.trade_pnls
            walk.traded += trades.traded
            walk.days_in_market += trades.days_in_market
            if diagnostics:
                spread = block @ weights
                walk.half_lives.append(
                    min(half_life(spread - est.mean, mean=0.0), HALF_LIFE_CAP) if e - t >= 3 else math.nan
                )
                walk.adf_stats.append(adf_statistic(spread[1:]) if e - t >= 10 else math.nan)
                walk.spread_changes.append(np.diff(spread))
                walk.dependent_changes.append(np.diff(block[:, 0]))
        elif diagnostics:
            walk.half_lives.append(HALF_LIFE_CAP)
            walk.adf_stats.append(math.nan)
        if on_window is not None:
            on_window(k, returns[: e - lo])
    return walk


def summarise(walk: WalkForward, periods_per_year: float = TRADING_DAYS) -> dict[str, float]:
    """Trading metrics (and, when collected, the diagnostics) of one walk-forward run."""
    r = walk.returns
    years = len(r) / periods_per_year
    pnls = np.asarray(walk.trade_pnls, dtype=float)
    out = {
        "sharpe": annualised_sharpe(r, periods_per_year),
        "annual_return": float(r.mean() * periods_per_year),
        "total_return": float(r.sum()),
        "volatility": float(r.std(ddof=1) * math.sqrt(periods_per_year)),
        "max_drawdown": max_drawdown(r),
        "turnover": float(walk.traded / years),
        "n_trades": float(len(pnls)),
        "hit_rate": float((pnls > 0).mean()) if pnls.size else 0.0,
        "exposure": walk.days_in_market / len(r),
        "failed_share": sum(e.beta is None for e in walk.estimates) / len(walk.estimates),
        "n_windows": float(len(walk.windows)),
    }
    if walk.half_lives:
        hl = np.asarray(walk.half_lives, dtype=float)
        adf = np.asarray(walk.adf_stats, dtype=float)
        out["half_life"] = float(np.nanmean(hl)) if np.isfinite(hl).any() else HALF_LIFE_CAP
        out["adf_stat"] = float(np.nanmean(adf)) if np.isfinite(adf).any() else 0.0
        if walk.spread_changes:
            ds = np.concatenate(walk.spread_changes)
            dy = np.concatenate(walk.dependent_changes)
            out["variance_reduction"] = 1.0 - float(ds.var()) / float(dy.var()) if dy.var() > 0 else 0.0
        else:
            out["variance_reduction"] = 0.0
    return out
