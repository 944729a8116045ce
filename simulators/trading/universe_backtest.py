"""Walk-forward pairs portfolio over a price universe: select pairs, trade them, repeat.

At each trading-window start ``t`` the pairs are chosen from the formation rows
``[t - formation, t)`` only (``simulators.trading.pair_selection``: pre-screen by return correlation,
then a cointegration test), each chosen pair's hedge ratio, spread mean and standard deviation
come from the same rows (``simulators.trading.pairs_backtest.RatioEstimator``), and the z-score rule
(``simulators.trading.pairs_trading``) trades rows ``[t, t + trading)``.

Money: the book has ``k`` slots of equal capital ``G / k``; each chosen pair trades one slot
(sized as in the single-pair study: gross notional of the slot at entry, then shares held) and
slots without a pair hold cash. The portfolio's daily net return is therefore the sum of the
pairs' daily net returns (each a fraction of its slot) divided by ``k``: a return on the
committed capital, so a rule that finds few pairs is not flattered by leverage.

Everything that depends on the formation rows alone (the screens and the ratio estimates) is
cached per backtest object, so trials that share a test, a formation window and window starts
reuse them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from simulators.conventions import TRADING_DAYS
from simulators.estimators.pair_ratios import BATCHED_METHODS, pair_ratios
from simulators.performance import annualised_sharpe, max_drawdown
from simulators.trading.pair_selection import TESTS, Screen, screen
from simulators.trading.pairs_backtest import (
    Estimate,
    RatioEstimator,
    SpreadSettings,
    trading_windows,
)
from simulators.trading.pairs_trading import trade_window


@dataclass(frozen=True)
class Selection:
    """How pairs are chosen at each formation window: test, significance level, number of slots."""

    test: str = "engle_granger"
    level: float = 0.05
    k: int = 5

    def __post_init__(self) -> None:
        if self.test not in TESTS:
            raise ValueError(f"selection.test must be one of {list(TESTS)}, got {self.test!r}")
        if not 0.0 < self.level <= 1.0:
            raise ValueError(f"selection.p_value must be in (0, 1], got {self.level}")
        if self.k < 1:
            raise ValueError(f"selection.k must be >= 1, got {self.k}")


class UniverseBacktest:
    """Caches of one price universe ``(rows, assets)``: screens and per-pair formation estimates."""

    def __init__(self, values: np.ndarray, candidates: int, cache: bool = True) -> None:
        self.values = np.asarray(values, dtype=float)
        if self.values.ndim != 2 or self.values.shape[1] < 2:
            raise ValueError(f"a universe needs a (rows, assets >= 2) price array, got {self.values.shape}")
        self.candidates = int(candidates)
        if self.candidates < 1:
            raise ValueError(f"selection.candidates must be >= 1, got {candidates}")
        self.cache = cache
        self._screens: dict[tuple[str, int, int], Screen] = {}
        self._estimates: dict[tuple, Estimate] = {}

    def screen(self, test: str, formation: int, t: int) -> Screen:
        """The ranked candidates of the formation rows ``[t - formation, t)``."""
        key = (test, formation, t)
        found = self._screens.get(key)
        if found is None:
            if t - formation < 0:
                raise ValueError(f"formation window {formation} reaches before the first row at {t}")
            found = screen(self.values[t - formation : t], test, self.candidates)
            if self.cache:
                self._screens[key] = found
        return found

    def estimates(self, s: SpreadSettings, t: int, pairs: np.ndarray) -> list[Estimate]:
        """Each pair's ratio, spread mean and std on the formation rows ``[t - s.formation, t)``
        (first leg dependent). Closed-form ratios of all the pairs not yet cached are computed
        in one batch (``simulators.estimators.pair_ratios``); the numerical methods, and a batch with a
        singular pair, go pair by pair through the single-pair ``RatioEstimator``."""
        keys = [(int(i), int(j), s.method, s.add_constant, s.formation, t) for i, j in pairs]
        todo = [k for k in keys if k not in self._estimates]
        if todo and s.method in BATCHED_METHODS:
            lo = t - s.formation
            levels = np.stack([self.values[lo:t, [k[0], k[1]]] for k in todo])
            try:
                ratios = pair_ratios(s.method, levels, s.add_constant)
            except np.linalg.LinAlgError:
                ratios = np.array([])
            for key, block, ratio in zip(todo, levels, ratios, strict=False):
                if np.isfinite(ratio):
                    spread = block[:, 0] - ratio * block[:, 1]
                    self._estimates[key] = Estimate(
                        np.array([ratio]), float(spread.mean()), float(spread.std(ddof=1))
                    )
                else:
                    self._estimates[key] = Estimate(None, math.nan, math.nan)
        for key in todo:
            if key not in self._estimates:
                pair = self.values[:, [key[0], key[1]]]
                self._estimates[key] = RatioEstimator(pair, ["a", "b"], cache=False).estimate(
                    s.method, s.add_constant, s.formation, t
                )
        found = [self._estimates[k] for k in keys]
        if not self.cache:
            self._estimates.clear()
        return found


@dataclass
class UniverseWalk:
    """Per-day portfolio net returns over the scored rows and per-window details."""

    returns: np.ndarray
    k: int
    windows: list[tuple[int, int]]
    selected: list[np.ndarray] = field(default_factory=list)  # (m, 2) pairs per window
    trade_pnls: list[float] = field(default_factory=list)  # per round trip, fraction of a slot
    traded: float = 0.0  # notional traded, in multiples of G
    slot_days_in_market: int = 0
    failed: int = 0  # chosen pairs whose ratio estimate failed (they hold cash)


def walk_forward_universe(
    bt: UniverseBacktest,
    s: SpreadSettings,
    sel: Selection,
    lo: int,
    hi: int,
    on_window: Callable[[int, np.ndarray], None] | None = None,
) -> UniverseWalk:
    """Run the pairs portfolio over rows ``[lo, hi)``; ``on_window(k, returns so far)`` after each window."""
    values = bt.values
    windows = trading_windows(lo, hi, s.trading)
    returns = np.zeros(hi - lo)
    walk = UniverseWalk(returns, sel.k, windows)
    for w, (t, e) in enumerate(windows):
        chosen = bt.screen(sel.test, s.formation, t).select(sel.k, sel.level)
        walk.selected.append(chosen)
        for (i, j), est in zip(chosen, bt.estimates(s, t, chosen), strict=False):
            if est.beta is None:
                walk.failed += 1
                continue
            weights = np.concatenate([[1.0], -est.beta])
            trades = trade_window(values[t - 1 : e, [i, j]], weights, est.mean, est.std, s.rule, s.cost_bps)
            returns[t - lo : e - lo] += trades.returns / sel.k
            walk.trade_pnls += trades.trade_pnls
            walk.traded += trades.traded / sel.k
            walk.slot_days_in_market += trades.days_in_market
        if on_window is not None:
            on_window(w, returns[: e - lo])
    return walk


def summarise_universe(walk: UniverseWalk, periods_per_year: float = TRADING_DAYS) -> dict[str, float]:
    """Trading metrics of one portfolio walk-forward."""
    r = walk.returns
    pnls = np.asarray(walk.trade_pnls, dtype=float)
    counts = np.array([len(c) for c in walk.selected], dtype=float)
    distinct = {(int(i), int(j)) for c in walk.selected for i, j in c}
    return {
        "sharpe": annualised_sharpe(r, periods_per_year),
        "annual_return": float(r.mean() * periods_per_year),
        "total_return": float(r.sum()),
        "volatility": float(r.std(ddof=1) * math.sqrt(periods_per_year)),
        "max_drawdown": max_drawdown(r),
        "turnover": float(walk.traded / (len(r) / periods_per_year)),
        "n_trades": float(len(pnls)),
        "hit_rate": float((pnls > 0).mean()) if pnls.size else 0.0,
        "exposure": walk.slot_days_in_market / (walk.k * len(r)),
        "pairs_per_window": float(counts.mean()),
        "empty_windows": float((counts == 0).mean()),
        "distinct_pairs": float(len(distinct)),
        "failed_estimates": float(walk.failed),
        "n_windows": float(len(walk.windows)),
    }


def equal_weight_buy_and_hold(prices: np.ndarray, cost_bps: float) -> np.ndarray:
    """Daily returns of ``G`` split equally over every asset at the first close, shares then held.

    ``prices``: ``(days + 1, assets)``; the entry cost is booked on the first day.
    """
    p = np.asarray(prices, dtype=float)
    rets = (np.diff(p, axis=0) / p[0]).mean(axis=1)
    rets[0] -= cost_bps * 1e-4
    return rets
