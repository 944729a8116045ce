"""Delta-hedging engine: an options book hedged with a linear perpetual, over many paths.

Policy, evaluated at every tick ``t`` on what is known at ``t``, with the
hedge position ``h`` and the target ``target = -hedge_ratio x book delta`` (underlying units):

* a *timed* re-hedge when ``cadence_seconds`` have elapsed since the last re-hedge, or when
  ``|S / S_last_hedge - 1| > gamma_scalp_threshold`` (the move band: the gamma-scalp
  trigger); it trades to the target;
* a *band* re-hedge when the hedge has drifted from its target by more than the band's
  half-width ``w``: ``|h - target| > w``. ``band_mode: fixed``: ``w = delta_threshold x
  notional / S`` (``|h - target| x S / notional > delta_threshold``); ``band_mode:
  whalley_wilmott``: ``w = band_scale x (3 x cost_rate x S x Gamma^2 / (2 x risk_aversion))^(1/3)``
  from the book's gamma at the tick (Whalley and Wilmott 1997; ``band_scale = 1`` is their
  band). ``rehedge_to: target`` trades back to the target, ``band_edge`` to the nearest edge
  of the band (``target +- w``), the cheapest trade that restores the band; a timed trigger on
  the same tick wins (to the target);
* the trade is clipped to ``max_hedge_per_interval x notional / S`` units and executed at
  ``S_t``; costs ``|trade| x S x (fee + slippage)``; funding ``-h x S x rate`` at each funding
  time on the position held into it (a long perp pays a positive rate);
* P&L = book value change + hedge P&L (``sum h_t (S_{t+1} - S_t)``) + funding - costs.

The band measures the hedge's deviation from its target, not the raw net delta: with a hedge
ratio below 1 the deliberately unhedged ``(1 - ratio) x book delta`` would otherwise breach
the band almost every tick.

Conventions: the first re-hedge is at t0, to the target (a desk hedges the book when it opens
it); there is no re-hedge at the final tick (the horizon is a mark-to-market, not a
liquidation); a trigger that results in a zero trade still resets the cadence clock and the
move band's reference but is not counted as a hedge. ``mean_abs_net_delta`` averages the
post-trade ``|net delta| x S / notional`` carried over each tick interval.

The book's value, delta and gamma on every path and tick do not depend on the policy, so they
are computed once (:func:`build_hedge_inputs`) and shared by every trial (common random
numbers); the per-trial work is the compiled kernel :func:`_hedge_kernel`, which only runs
the policy and the accounting (the tests check it against a plain-Python hedge of the same
rules from raw market data).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from simulators._numerics import PathGrid
from simulators.crypto_perp import MarketPaths
from simulators.options_book import OptionsBook

__all__ = [
    "CostModel",
    "HedgeInputs",
    "HedgePolicy",
    "HedgeResult",
    "build_hedge_inputs",
    "run_hedge",
    "sample_ticks",
]

BAND_MODES = ("fixed", "whalley_wilmott")
REHEDGE_TO = ("target", "band_edge")


@dataclass(frozen=True)
class HedgePolicy:
    """A re-hedging policy: the five parameters of the seed notebook's hedger plus the band's mode and
    re-hedge rule.

    ``inf`` disables the cadence, a band or the clip. ``risk_aversion`` (per USD) sizes the
    Whalley-Wilmott band; it is the objective's, not a tuned knob (``band_scale`` is).
    """

    cadence_seconds: float = 60.0
    delta_threshold: float = math.inf
    hedge_ratio: float = 1.0
    gamma_scalp_threshold: float = math.inf
    max_hedge_per_interval: float = math.inf
    band_mode: str = "fixed"
    band_scale: float = 1.0
    rehedge_to: str = "target"
    risk_aversion: float | None = None

    def __post_init__(self) -> None:
        def bad(msg: str) -> None:
            raise ValueError(f"delta_hedging: {msg}")

        if not self.cadence_seconds > 0:
            bad(f"cadence_seconds must be positive, got {self.cadence_seconds}")
        if not self.delta_threshold >= 0:
            bad(f"delta_threshold must be >= 0, got {self.delta_threshold}")
        if not 0 <= self.hedge_ratio <= 2:
            bad(f"hedge_ratio must lie in [0, 2], got {self.hedge_ratio}")
        if not self.gamma_scalp_threshold >= 0:
            bad(f"gamma_scalp_threshold must be >= 0, got {self.gamma_scalp_threshold}")
        if not self.max_hedge_per_interval > 0:
            bad(f"max_hedge_per_interval must be > 0, got {self.max_hedge_per_interval}")
        if self.band_mode not in BAND_MODES:
            bad(f"band_mode must be one of {list(BAND_MODES)}, got {self.band_mode!r}")
        if self.rehedge_to not in REHEDGE_TO:
            bad(f"rehedge_to must be one of {list(REHEDGE_TO)}, got {self.rehedge_to!r}")
        if not 0 <= self.band_scale < math.inf:
            bad(f"band_scale must be finite and >= 0, got {self.band_scale}")
        if self.band_mode == "whalley_wilmott" and not (self.risk_aversion or 0) > 0:
            bad("band_mode whalley_wilmott needs a positive risk_aversion")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], risk_aversion: float | None = None) -> HedgePolicy:
        """From ``hedge:`` config; null means disabled (inf) for the cadence, the bands and the
        clip. ``risk_aversion`` sizes the Whalley-Wilmott band."""
        numbers = (
            "cadence_seconds",
            "delta_threshold",
            "hedge_ratio",
            "gamma_scalp_threshold",
            "max_hedge_per_interval",
            "band_scale",
        )
        words = ("band_mode", "rehedge_to")
        unknown = sorted(set(cfg) - set(numbers) - set(words))
        if unknown:
            raise ValueError(f"delta_hedging: unknown hedge keys {unknown}")
        vals: dict[str, Any] = {
            k: (math.inf if cfg[k] is None else float(cfg[k])) for k in numbers if k in cfg
        }
        vals.update({k: str(cfg[k]) for k in words if k in cfg and cfg[k] is not None})
        return cls(**vals, risk_aversion=risk_aversion)

    def cadence_ticks(self, tick_seconds: float) -> int:
        """Cadence in whole ticks (at least one): a re-hedge fires once this many have passed.
        An infinite cadence never fires after t0."""
        if math.isinf(self.cadence_seconds):
            return 2**62
        return max(1, math.ceil(self.cadence_seconds / tick_seconds - 1e-9))

    def ww_coefficient(self, cost_rate: float) -> float:
        """``k`` with band half-width ``(k x S x Gamma^2)^(1/3)`` in Whalley-Wilmott mode, else 0:
        ``band_scale^3 x 3 x cost_rate / (2 x risk_aversion)``."""
        if self.band_mode != "whalley_wilmott":
            return 0.0
        return self.band_scale**3 * 1.5 * cost_rate / float(self.risk_aversion)

    def half_width(self, spot: float, gamma: float, notional: float, cost_rate: float) -> float:
        """The band's half-width (underlying units) at one tick."""
        if self.band_mode == "whalley_wilmott":
            return (self.ww_coefficient(cost_rate) * spot * gamma * gamma) ** (1.0 / 3.0)
        return self.delta_threshold * notional / spot


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
class HedgeInputs(PathGrid):
    """Policy-independent arrays shared by all trials (float64, C-contiguous).

    ``spot``/``book_delta``/``book_gamma``: (n_paths, n_steps + 1); ``sample_idx``: ticks where P&L is
    sampled (every ``sample_seconds`` and the last tick); ``book_value``: (n_paths,
    n_samples) at those ticks; ``funding_idx``/``funding_rate`` as in :class:`MarketPaths`.
    """

    spot: np.ndarray
    book_delta: np.ndarray
    book_gamma: np.ndarray
    book_value: np.ndarray
    sample_idx: np.ndarray
    funding_idx: np.ndarray
    funding_rate: np.ndarray
    tick_seconds: float
    sample_seconds: float
    notional: float


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
    every = max(1, round(sample_seconds / tick_seconds))
    idx = np.arange(0, n_steps + 1, every, dtype=np.int64)
    if idx[-1] != n_steps:
        idx = np.append(idx, n_steps)
    return idx


def build_hedge_inputs(paths: MarketPaths, book: OptionsBook, sample_seconds: float = 3600.0) -> HedgeInputs:
    """Mark the book (delta and gamma at every tick, value at the sample ticks) once for all
    trials."""
    if not sample_seconds > 0:
        raise ValueError(f"delta_hedging: sample_seconds must be positive, got {sample_seconds}")
    spot = np.ascontiguousarray(paths.spot, dtype=np.float64)
    delta = book.delta(spot, paths.iv, paths.times)
    gamma = book.gamma(spot, paths.iv, paths.times)
    idx = sample_ticks(paths.n_steps, paths.tick_seconds, sample_seconds)
    value = book.value(
        np.ascontiguousarray(spot[:, idx]), np.ascontiguousarray(paths.iv[:, idx]), paths.times[idx]
    )
    return HedgeInputs(
        spot=spot,
        book_delta=delta,
        book_gamma=gamma,
        book_value=value,
        sample_idx=idx,
        funding_idx=np.ascontiguousarray(paths.funding_idx, dtype=np.int64),
        funding_rate=np.ascontiguousarray(paths.funding_rate, dtype=np.float64),
        tick_seconds=float(paths.tick_seconds),
        sample_seconds=float(sample_seconds),
        notional=float(book.notional),
    )


@njit(cache=True)
def _hedge_kernel(
    spot,
    book_delta,
    book_gamma,
    book_value,
    sample_idx,
    funding_idx,
    funding_rate,
    p0,
    p1,
    cadence_ticks,
    band_usd,
    ww_coef,
    to_edge,
    hedge_ratio,
    move_band,
    max_trade_usd,
    cost_rate,
    out_pnl,
    out_costs,
    out_funding,
    out_hedge_pnl,
    out_traded,
    out_count,
    out_abs_nd,
    trace_path,
    trace_h,
    trace_nd,
):
    """Run the policy on paths [p0, p1); outputs are indexed by path - p0.

    The band's half-width is ``band_usd / S`` (fixed) or ``cbrt(ww_coef S Gamma^2)``
    (Whalley-Wilmott, when ``ww_coef > 0``)."""
    n = spot.shape[1] - 1
    n_fund = funding_idx.shape[0]
    n_samp = sample_idx.shape[0]
    third = 1.0 / 3.0
    wide = 0.0
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
                target = -hedge_ratio * bd
                dev = h - target
                adev = abs(dev)
                if ww_coef > 0.0:  # |dev| > cbrt(k S G^2) without a cube root on every tick
                    g = book_gamma[p, t]
                    wide = ww_coef * s * g * g
                    breach = adev * adev * adev > wide
                else:
                    breach = adev * s > band_usd
                timed = t - last_t >= cadence_ticks or abs(s - last_s) > move_band * last_s
                if timed or breach:
                    goal = target
                    if to_edge and not timed:
                        half = wide**third if ww_coef > 0.0 else band_usd / s
                        goal = target + half if dev > 0.0 else target - half
                    trade = goal - h
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


def run_hedge(
    inputs: HedgeInputs,
    policy: HedgePolicy,
    costs: CostModel,
    paths: slice | None = None,
    trace_path: int = -1,
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
    _hedge_kernel(
        inputs.spot,
        inputs.book_delta,
        inputs.book_gamma,
        inputs.book_value,
        inputs.sample_idx,
        inputs.funding_idx,
        inputs.funding_rate,
        p0,
        p1,
        policy.cadence_ticks(inputs.tick_seconds),
        policy.delta_threshold * inputs.notional,
        policy.ww_coefficient(costs.rate),
        policy.rehedge_to == "band_edge",
        float(policy.hedge_ratio),
        policy.gamma_scalp_threshold,
        policy.max_hedge_per_interval * inputs.notional,
        costs.rate,
        pnl,
        c,
        fu,
        hp,
        tr,
        cnt,
        nd,
        int(trace_path),
        trace_h,
        trace_nd,
    )
    res = HedgeResult(
        pnl=pnl,
        costs=c,
        funding=fu,
        hedge_pnl=hp,
        book_pnl=inputs.book_value[p0:p1, -1] - inputs.book_value[p0:p1, 0],
        traded_notional=tr,
        hedge_count=cnt,
        mean_abs_net_delta=nd / inputs.notional,
        sample_seconds=inputs.sample_seconds,
    )
    if trace_path >= 0:
        return res, trace_h, trace_nd
    return res
