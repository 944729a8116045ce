"""Delta-hedging engine: an options book hedged with a linear perpetual, over many paths.

Policy (DESIGN section 5), evaluated at every tick ``t`` on what is known at ``t``:

* re-hedge when ``cadence_seconds`` have elapsed since the last re-hedge, or when
  ``|net delta| x S / notional > delta_threshold`` (net delta = book delta + h, underlying
  units), or when ``|S / S_last_hedge - 1| > gamma_scalp_threshold`` (the move band: the
  gamma-scalp trigger);
* target ``h = -hedge_ratio x book delta``; the trade is clipped to
  ``max_hedge_per_interval x notional / S`` units and executed at ``S_t``;
* costs ``|trade| x S x (fee + slippage)``; funding ``-h x S x rate`` at each funding time on
  the position held into it (a long perp pays a positive rate);
* P&L = book value change + hedge P&L (``sum h_t (S_{t+1} - S_t)``) + funding - costs.

Conventions: the first re-hedge is at t0 (a desk hedges the book when it opens it); there is
no re-hedge at the final tick (the horizon is a mark-to-market, not a liquidation); a trigger
that results in a zero trade still resets the cadence clock and the move band's reference
but is not counted as a hedge. ``mean_abs_net_delta`` averages the post-trade
``|net delta| x S / notional`` carried over each tick interval.

The book's value and delta on every path and tick do not depend on the policy, so they are
computed once (:func:`build_hedge_inputs`) and shared by every trial (common random
numbers); the per-trial work is the compiled kernel :func:`_hedge_kernel`, which only runs
the policy and the accounting. :func:`hedge_path_reference` is a plain-Python
implementation of the same rules, from raw market data, used by the tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from numba import njit

from simulators.black_scholes import bs_delta, bs_price
from simulators.crypto_perp import SECONDS_PER_YEAR, MarketPaths
from simulators.options_book import OptionsBook

__all__ = [
    "HedgePolicy",
    "CostModel",
    "HedgeInputs",
    "HedgeResult",
    "build_hedge_inputs",
    "run_hedge",
    "hedge_path_reference",
    "path_metrics",
    "aggregate_metrics",
    "cvar",
]


@dataclass(frozen=True)
class HedgePolicy:
    """The five tuned parameters of seed 002. ``inf`` disables a band or the clip."""

    cadence_seconds: float = 60.0
    delta_threshold: float = math.inf
    hedge_ratio: float = 1.0
    gamma_scalp_threshold: float = math.inf
    max_hedge_per_interval: float = math.inf

    def __post_init__(self) -> None:
        if not self.cadence_seconds > 0:
            raise ValueError(f"delta_hedging: cadence_seconds must be positive, got {self.cadence_seconds}")
        if not self.delta_threshold >= 0:
            raise ValueError(f"delta_hedging: delta_threshold must be >= 0, got {self.delta_threshold}")
        if not 0 <= self.hedge_ratio <= 2:
            raise ValueError(f"delta_hedging: hedge_ratio must lie in [0, 2], got {self.hedge_ratio}")
        if not self.gamma_scalp_threshold >= 0:
            raise ValueError(f"delta_hedging: gamma_scalp_threshold must be >= 0, got {self.gamma_scalp_threshold}")
        if not self.max_hedge_per_interval > 0:
            raise ValueError(f"delta_hedging: max_hedge_per_interval must be > 0, got {self.max_hedge_per_interval}")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> "HedgePolicy":
        """From ``hedge:`` config; null means disabled (inf) for the bands and the clip."""
        names = ("cadence_seconds", "delta_threshold", "hedge_ratio", "gamma_scalp_threshold",
                 "max_hedge_per_interval")
        unknown = sorted(set(cfg) - set(names))
        if unknown:
            raise ValueError(f"delta_hedging: unknown hedge keys {unknown}")
        vals = {k: (math.inf if cfg.get(k, math.inf) is None else float(cfg.get(k, math.inf)))
                for k in names if k in cfg}
        return cls(**vals)

    def cadence_ticks(self, tick_seconds: float) -> int:
        """Cadence in whole ticks (at least one): a re-hedge fires once this many have passed.
        An infinite cadence never fires after t0."""
        if math.isinf(self.cadence_seconds):
            return 2**62
        return max(1, int(math.ceil(self.cadence_seconds / tick_seconds - 1e-9)))


@dataclass(frozen=True)
class CostModel:
    """Proportional execution costs on traded notional: taker fee plus slippage."""

    taker_fee: float = 0.0005
    slippage: float = 0.0001

    def __post_init__(self) -> None:
        if self.taker_fee < 0 or self.slippage < 0:
            raise ValueError("delta_hedging: taker_fee and slippage must be >= 0")

    @property
    def rate(self) -> float:
        """Cost per USD traded."""
        return self.taker_fee + self.slippage


@dataclass
class HedgeInputs:
    """Policy-independent arrays shared by all trials (float64, C-contiguous).

    ``spot``/``book_delta``: (n_paths, n_steps + 1); ``sample_idx``: ticks where P&L is
    sampled (every ``sample_seconds`` and the last tick); ``book_value``: (n_paths,
    n_samples) at those ticks; ``funding_idx``/``funding_rate`` as in :class:`MarketPaths`.
    """

    spot: np.ndarray
    book_delta: np.ndarray
    book_value: np.ndarray
    sample_idx: np.ndarray
    funding_idx: np.ndarray
    funding_rate: np.ndarray
    tick_seconds: float
    sample_seconds: float
    notional: float

    @property
    def n_paths(self) -> int:
        return self.spot.shape[0]

    @property
    def n_steps(self) -> int:
        return self.spot.shape[1] - 1


@dataclass
class HedgeResult:
    """Per-path outputs of a hedging run. ``pnl``: cumulative net P&L at the sample ticks."""

    pnl: np.ndarray
    costs: np.ndarray
    funding: np.ndarray
    hedge_pnl: np.ndarray
    book_pnl: np.ndarray
    traded_notional: np.ndarray
    hedge_count: np.ndarray
    mean_abs_net_delta: np.ndarray
    sample_seconds: float


def sample_ticks(n_steps: int, tick_seconds: float, sample_seconds: float) -> np.ndarray:
    """Tick indices where P&L is sampled: 0, every ``sample_seconds``, and the last tick."""
    every = max(1, int(round(sample_seconds / tick_seconds)))
    idx = np.arange(0, n_steps + 1, every, dtype=np.int64)
    if idx[-1] != n_steps:
        idx = np.append(idx, n_steps)
    return idx


def build_hedge_inputs(paths: MarketPaths, book: OptionsBook, sample_seconds: float = 3600.0) -> HedgeInputs:
    """Mark the book (delta at every tick, value at the sample ticks) once for all trials."""
    if not sample_seconds > 0:
        raise ValueError(f"delta_hedging: sample_seconds must be positive, got {sample_seconds}")
    spot = np.ascontiguousarray(paths.spot, dtype=np.float64)
    delta = book.delta(spot, paths.iv, paths.times)
    idx = sample_ticks(paths.n_steps, paths.tick_seconds, sample_seconds)
    value = book.value(np.ascontiguousarray(spot[:, idx]), np.ascontiguousarray(paths.iv[:, idx]),
                       paths.times[idx])
    return HedgeInputs(spot=spot, book_delta=delta, book_value=value, sample_idx=idx,
                       funding_idx=np.ascontiguousarray(paths.funding_idx, dtype=np.int64),
                       funding_rate=np.ascontiguousarray(paths.funding_rate, dtype=np.float64),
                       tick_seconds=float(paths.tick_seconds), sample_seconds=float(sample_seconds),
                       notional=float(book.notional))


@njit(cache=True)
def _hedge_kernel(spot, book_delta, book_value, sample_idx, funding_idx, funding_rate,
                  p0, p1, cadence_ticks, delta_band_usd, hedge_ratio, move_band, max_trade_usd,
                  cost_rate, out_pnl, out_costs, out_funding, out_hedge_pnl, out_traded,
                  out_count, out_abs_nd, trace_path, trace_h, trace_nd):
    """Run the policy on paths [p0, p1); outputs are indexed by path - p0."""
    n = spot.shape[1] - 1
    n_fund = funding_idx.shape[0]
    n_samp = sample_idx.shape[0]
    for p in range(p0, p1):
        i = p - p0
        h = 0.0
        hedge_pnl = 0.0
        fund = 0.0
        cost = 0.0
        traded = 0.0
        count = 0
        abs_nd = 0.0
        last_t = -cadence_ticks
        s_prev = spot[p, 0]
        last_s = s_prev
        f = 0
        j = 0
        v0 = book_value[p, 0]
        tracing = p == trace_path
        for t in range(n + 1):
            s = spot[p, t]
            hedge_pnl += h * (s - s_prev)
            s_prev = s
            if f < n_fund and funding_idx[f] == t:
                fund -= h * s * funding_rate[p, f]
                f += 1
            bd = book_delta[p, t]
            if t < n:
                if (t - last_t >= cadence_ticks or abs(bd + h) * s > delta_band_usd
                        or abs(s - last_s) > move_band * last_s):
                    trade = -hedge_ratio * bd - h
                    lim = max_trade_usd / s
                    if trade > lim:
                        trade = lim
                    elif trade < -lim:
                        trade = -lim
                    if trade != 0.0:
                        tn = abs(trade) * s
                        cost += tn * cost_rate
                        traded += tn
                        h += trade
                        count += 1
                    last_t = t
                    last_s = s
                abs_nd += abs(bd + h) * s
            if tracing:
                trace_h[t] = h
                trace_nd[t] = bd + h
            if j < n_samp and sample_idx[j] == t:
                out_pnl[i, j] = book_value[p, j] - v0 + hedge_pnl + fund - cost
                j += 1
        out_costs[i] = cost
        out_funding[i] = fund
        out_hedge_pnl[i] = hedge_pnl
        out_traded[i] = traded
        out_count[i] = count
        out_abs_nd[i] = abs_nd / n


def run_hedge(inputs: HedgeInputs, policy: HedgePolicy, costs: CostModel,
              paths: slice | None = None, trace_path: int = -1,
              ) -> HedgeResult | tuple[HedgeResult, np.ndarray, np.ndarray]:
    """Hedge ``inputs`` (optionally only the paths in the slice ``paths``) with ``policy``.

    With ``trace_path >= 0`` (an absolute path index inside the slice) also returns that
    path's hedge position and net delta (underlying units) at every tick.
    """
    p0, p1, step = (paths or slice(None)).indices(inputs.n_paths)
    if step != 1 or p1 <= p0:
        raise ValueError("delta_hedging: paths must be a non-empty contiguous slice")
    m = p1 - p0
    n_samp = inputs.sample_idx.size
    pnl = np.empty((m, n_samp))
    c, fu, hp, tr, nd = (np.empty(m) for _ in range(5))
    cnt = np.empty(m, dtype=np.int64)
    n1 = inputs.n_steps + 1 if trace_path >= 0 else 0
    trace_h = np.zeros(n1)
    trace_nd = np.zeros(n1)
    _hedge_kernel(inputs.spot, inputs.book_delta, inputs.book_value, inputs.sample_idx,
                  inputs.funding_idx, inputs.funding_rate, p0, p1,
                  policy.cadence_ticks(inputs.tick_seconds),
                  policy.delta_threshold * inputs.notional, float(policy.hedge_ratio),
                  policy.gamma_scalp_threshold, policy.max_hedge_per_interval * inputs.notional,
                  costs.rate, pnl, c, fu, hp, tr, cnt, nd, int(trace_path), trace_h, trace_nd)
    res = HedgeResult(pnl=pnl, costs=c, funding=fu, hedge_pnl=hp,
                      book_pnl=inputs.book_value[p0:p1, -1] - inputs.book_value[p0:p1, 0],
                      traded_notional=tr, hedge_count=cnt,
                      mean_abs_net_delta=nd / inputs.notional, sample_seconds=inputs.sample_seconds)
    if trace_path >= 0:
        return res, trace_h, trace_nd
    return res


def hedge_path_reference(spot: np.ndarray, iv: np.ndarray, times: np.ndarray,
                         funding_idx: np.ndarray, funding_rate: np.ndarray, book: OptionsBook,
                         policy: HedgePolicy, costs: CostModel, sample_seconds: float) -> dict:
    """Plain-Python hedge of ONE path from raw market data (slow; for tests).

    Marks the book with the vectorised numpy Black-Scholes functions tick by tick, so it also
    checks the compiled marking. Returns the same quantities as one row of :class:`HedgeResult`.
    """
    n = len(spot) - 1
    tick = float(times[1] - times[0])
    cadence = policy.cadence_ticks(tick)
    samples = set(int(k) for k in sample_ticks(n, tick, sample_seconds))
    funding_at = {int(k): float(rate) for k, rate in zip(funding_idx, funding_rate)}

    def mark(t: int) -> tuple[float, float]:
        value = delta = 0.0
        tau_t = times[t] / SECONDS_PER_YEAR
        for leg in book.legs:
            tau = leg.expiry_days / 365.0 - tau_t
            value += leg.quantity * float(bs_price(spot[t], leg.strike, tau, iv[t], book.r, book.q, leg.is_call))
            delta += leg.quantity * float(bs_delta(spot[t], leg.strike, tau, iv[t], book.r, book.q, leg.is_call))
        return value, delta

    v0, _ = mark(0)
    position = 0.0
    hedge_pnl = funding = cost = traded = exposure = 0.0
    count = 0
    last_hedge_tick: int | None = None
    last_hedge_spot = float(spot[0])
    pnl_samples = []
    for t in range(n + 1):
        s = float(spot[t])
        if t > 0:
            hedge_pnl += position * (s - float(spot[t - 1]))
        if t in funding_at:
            funding += -position * s * funding_at[t]
        value, book_delta = mark(t)
        if t < n:
            cadence_due = last_hedge_tick is None or t - last_hedge_tick >= cadence
            delta_breach = abs(book_delta + position) * s / book.notional > policy.delta_threshold
            move_breach = abs(s / last_hedge_spot - 1.0) > policy.gamma_scalp_threshold
            if cadence_due or delta_breach or move_breach:
                trade = -policy.hedge_ratio * book_delta - position
                limit = policy.max_hedge_per_interval * book.notional / s
                trade = max(-limit, min(limit, trade))
                if trade != 0.0:
                    cost += abs(trade) * s * costs.rate
                    traded += abs(trade) * s
                    position += trade
                    count += 1
                last_hedge_tick = t
                last_hedge_spot = s
            exposure += abs(book_delta + position) * s / book.notional
        if t in samples:
            pnl_samples.append(value - v0 + hedge_pnl + funding - cost)
    return {"pnl": np.array(pnl_samples), "costs": cost, "funding": funding,
            "hedge_pnl": hedge_pnl, "book_pnl": value - v0, "traded_notional": traded,
            "hedge_count": count, "mean_abs_net_delta": exposure / n}


# ---------------------------------------------------------------------------------------
# Metrics


def cvar(pnl: np.ndarray, alpha: float = 0.05) -> float:
    """Expected P&L over the worst ``alpha`` fraction of outcomes (exact for a discrete sample:
    the boundary outcome gets fractional weight). Negative means a loss."""
    x = np.sort(np.asarray(pnl, dtype=np.float64))
    n = x.size
    if n == 0 or not 0 < alpha <= 1:
        raise ValueError("delta_hedging: cvar needs a non-empty sample and alpha in (0, 1]")
    tail = alpha * n
    k = int(math.floor(tail))
    total = x[:k].sum()
    if k < n and tail > k:
        total += (tail - k) * x[k]
    return float(total / tail)


def path_metrics(res: HedgeResult) -> dict[str, np.ndarray]:
    """Per-path metrics: P&L parts, hedge count, exposure, and risk of the sampled P&L curve."""
    pnl = res.pnl
    inc = np.diff(pnl, axis=1)
    periods_per_year = SECONDS_PER_YEAR / res.sample_seconds
    if inc.shape[1] >= 2:
        sd = inc.std(axis=1, ddof=1)
        mean = inc.mean(axis=1)
        sharpe = np.where(sd > 0, mean / np.where(sd > 0, sd, 1.0), 0.0) * math.sqrt(periods_per_year)
    else:
        sd = np.zeros(pnl.shape[0])
        sharpe = np.zeros(pnl.shape[0])
    drawdown = pnl - np.maximum.accumulate(pnl, axis=1)
    net = pnl[:, -1]
    return {
        "net_pnl": net,
        "gross_pnl": net + res.costs,
        "costs": res.costs,
        "funding": res.funding,
        "hedge_pnl": res.hedge_pnl,
        "book_pnl": res.book_pnl,
        "traded_notional": res.traded_notional,
        "hedge_count": res.hedge_count.astype(np.float64),
        "mean_abs_net_delta": res.mean_abs_net_delta,
        "hourly_pnl_vol": sd,
        "sharpe": sharpe,
        "max_drawdown": drawdown.min(axis=1),
    }


def aggregate_metrics(per_path: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Cross-path aggregation: the mean of every per-path metric, plus ``pnl_vol`` (std of net
    P&L across paths: the hedging error), ``cvar95`` (mean net P&L of the worst 5% of paths),
    ``cvar95_loss`` (= -cvar95) and ``worst_drawdown`` (the deepest drawdown of any path)."""
    out = {k: float(np.mean(v)) for k, v in per_path.items()}
    net = np.asarray(per_path["net_pnl"])
    out["pnl_vol"] = float(net.std(ddof=1)) if net.size > 1 else 0.0
    out["cvar95"] = cvar(net, 0.05)
    out["cvar95_loss"] = -out["cvar95"]
    out["worst_drawdown"] = float(np.min(per_path["max_drawdown"]))
    return out
