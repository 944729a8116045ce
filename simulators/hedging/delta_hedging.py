"""Delta-hedging engine: an options book hedged with a linear perpetual, over many paths.

The policy and its costs are :mod:`simulators.hedging.hedge_policy`. The book's value, delta and gamma
on every path and tick do not depend on the policy, so they are computed once
(:func:`build_hedge_inputs`) and shared by every trial (common random numbers); the per-trial
work is the compiled kernel :func:`simulators.hedging.delta_hedge_kernel.hedge_kernel`, which only runs
the policy and the accounting (the tests check it against a plain-Python hedge of the same
rules from raw market data).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulators.conventions import PathGrid
from simulators.hedging.delta_hedge_kernel import hedge_kernel
from simulators.hedging.hedge_policy import CostModel, HedgePolicy
from simulators.markets.crypto_perp import MarketPaths
from simulators.pricing.options_book import OptionsBook

__all__ = [
    "HedgeInputs",
    "HedgeResult",
    "build_hedge_inputs",
    "run_hedge",
    "sample_ticks",
]


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
    hedge_kernel(
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
