"""Benchmark of the delta_hedge study's inner loop, beside the seed notebook's loop, same run.

Prints:
  setup_s=...            per-worker set-up for the study default (128 one-week 10 s paths):
                         path simulation + book marking (sim_s, marks_s)
  path_steps_per_s=...   compiled hedging kernel (policy + accounting), ONE core, with the
                         seed's policy (60 s cadence, bands, clip) as the seed loop runs it
  ww_steps_per_s=...     the same kernel with the study's default Whalley-Wilmott band
  seed_steps_per_s=...   a faithful re-implementation of seed 002's per-tick Python loop
                         (datetime ticks, greeks recomputed each tick with scipy.stats.norm),
                         on fewer ticks of the same path
  seed_ratio=...         path_steps_per_s / seed_steps_per_s
  trial_s=...            one full trial of the objective's work (kernel + metrics, 128 paths)

    python benchmarks/bench_delta_hedge.py [--seed-ticks 3000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numba
import numpy as np

from hedgeopt.config.compose import compose
from simulators.hedging.delta_hedging import build_hedge_inputs, run_hedge
from simulators.hedging.delta_hedging_metrics import aggregate_metrics, path_metrics
from simulators.hedging.hedge_policy import CostModel, HedgePolicy
from simulators.markets.crypto_perp import CryptoPerpParams, simulate_paths
from simulators.pricing.options_book import OptionsBook

# ---------------------------------------------------------------------------------------
# Seed 002's simulator, re-implemented as the notebook runs it (bugs included: this measures
# its speed, not its answers).

TAKER_FEE = 0.0005
SLIPPAGE = 0.0001


@dataclass
class MarketTick:
    timestamp: datetime
    spot_price: float
    iv: float
    funding_rate: float


@dataclass
class OptionsPosition:
    delta: float
    gamma: float
    theta: float
    vega: float
    notional: float


class SeedGreeksSimulator:
    def __init__(self, initial_position: OptionsPosition, strike: float, days_to_expiry: float):
        self.position = initial_position
        self.strike = strike
        self.dte = days_to_expiry

    def update_greeks(self, spot: float, iv: float, time_passed_days: float) -> OptionsPosition:
        self.dte = max(0.01, self.dte - time_passed_days)
        moneyness = np.log(spot / self.strike) / (iv * np.sqrt(self.dte / 365))
        from scipy.stats import norm

        d1 = moneyness + 0.5 * iv * np.sqrt(self.dte / 365)
        base_delta = norm.cdf(d1)
        position_sign = 1 if self.position.delta >= 0 else -1
        gamma = norm.pdf(d1) / (spot * iv * np.sqrt(self.dte / 365))
        gamma = gamma * abs(self.position.notional) / spot
        theta = -spot * norm.pdf(d1) * iv / (2 * np.sqrt(self.dte / 365))
        theta = theta * abs(self.position.notional) / spot / 365
        vega = spot * norm.pdf(d1) * np.sqrt(self.dte / 365)
        vega = vega * abs(self.position.notional) / spot / 100
        return OptionsPosition(
            delta=(base_delta - 0.5) * 2 * position_sign,
            gamma=gamma * position_sign,
            theta=theta,
            vega=vega * position_sign,
            notional=self.position.notional,
        )


def seed_run_simulation(
    market_data: list[MarketTick],
    cadence: int,
    delta_threshold: float,
    hedge_ratio: float,
    gamma_scalp_threshold: float,
    max_hedge: float,
) -> float:
    initial = OptionsPosition(delta=0.15, gamma=-0.02, theta=500, vega=-3000, notional=1_000_000)
    greeks_sim = SeedGreeksSimulator(initial, strike=50000, days_to_expiry=30)
    hedge_position = 0.0
    pnl_history = [0.0]
    total_costs = 0.0
    hedge_count = 0
    delta_exposures = []
    last_hedge_time = market_data[0].timestamp
    last_price = market_data[0].spot_price
    for i, tick in enumerate(market_data[1:], 1):
        time_passed = (tick.timestamp - market_data[i - 1].timestamp).total_seconds() / 86400
        g = greeks_sim.update_greeks(tick.spot_price, tick.iv, time_passed)
        net_delta = g.delta + hedge_position / tick.spot_price
        delta_exposures.append(abs(net_delta))
        price_change = tick.spot_price - last_price
        tick_pnl = (
            g.delta * price_change
            + 0.5 * g.gamma * price_change**2
            + hedge_position * (tick.spot_price - last_price) / last_price
            + g.theta * time_passed
        )
        pnl_history.append(pnl_history[-1] + tick_pnl)
        should_hedge = (tick.timestamp - last_hedge_time).total_seconds() >= cadence
        if abs(net_delta) > delta_threshold:
            should_hedge = True
        if should_hedge:
            target = -g.delta * hedge_ratio
            change = target - hedge_position / tick.spot_price
            lim = max_hedge * abs(g.notional) / tick.spot_price
            change = np.clip(change, -lim, lim)
            total_costs += abs(change) * tick.spot_price * (TAKER_FEE + SLIPPAGE)
            hedge_position += change * tick.spot_price
            hedge_count += 1
            last_hedge_time = tick.timestamp
        if abs(g.gamma * price_change**2) > gamma_scalp_threshold * abs(g.notional):
            total_costs += abs(0.5 * g.gamma * price_change) * tick.spot_price * (TAKER_FEE + SLIPPAGE)
        last_price = tick.spot_price
    pnl = np.array(pnl_history)
    returns = np.diff(pnl)
    sharpe = np.mean(returns) / np.std(returns) * np.sqrt(365 * 24 * 6) if np.std(returns) > 0 else 0
    max_dd = np.min(pnl - np.maximum.accumulate(pnl))
    return float(sharpe - 0.1 * abs(max_dd) / 10000 - 0.05 * total_costs / 1000)


# ---------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed-ticks", type=int, default=3000, help="ticks for the seed loop")
    ap.add_argument("--repeats", type=int, default=7, help="timed kernel runs (best is kept)")
    args = ap.parse_args()
    numba.set_num_threads(1)

    cfg = compose(["+study=delta_hedge"])
    market = CryptoPerpParams.from_config(cfg["simulator"])
    book = OptionsBook.from_config(cfg["book"], market.s0)
    policy = HedgePolicy(
        cadence_seconds=60.0,
        delta_threshold=0.2,
        hedge_ratio=1.0,
        gamma_scalp_threshold=0.05,
        max_hedge_per_interval=0.5,
    )  # the seed's
    ww = HedgePolicy.from_config(cfg["hedge"], risk_aversion=float(cfg["risk"]["risk_aversion"]))
    costs = CostModel(cfg["costs"]["taker_fee"], cfg["costs"]["slippage"])
    n_paths = int(cfg["paths"]["n_paths"])

    # compile / load the kernels on a tiny case first, so set-up is measured warm
    tiny = build_hedge_inputs(simulate_paths(CryptoPerpParams(horizon_hours=0.1), 2, 0), book, 60.0)
    run_hedge(tiny, policy, costs)

    t0 = time.perf_counter()
    paths = simulate_paths(market, n_paths, int(cfg["seed"]))
    t1 = time.perf_counter()
    inputs = build_hedge_inputs(paths, book, float(cfg["paths"]["sample_seconds"]))
    t2 = time.perf_counter()
    print(
        f"setup_s={t2 - t0:.3f} sim_s={t1 - t0:.3f} marks_s={t2 - t1:.3f} "
        f"(n_paths={n_paths}, n_steps={inputs.n_steps})"
    )

    steps = inputs.n_paths * inputs.n_steps
    best = np.inf
    for _ in range(args.repeats):
        a = time.perf_counter()
        run_hedge(inputs, policy, costs)
        best = min(best, time.perf_counter() - a)
    kernel_rate = steps / best
    best_ww = np.inf
    for _ in range(args.repeats):
        a = time.perf_counter()
        run_hedge(inputs, ww, costs)
        best_ww = min(best_ww, time.perf_counter() - a)
    a = time.perf_counter()
    aggregate_metrics(path_metrics(run_hedge(inputs, ww, costs)))
    trial_s = time.perf_counter() - a

    # the seed's loop on the first path's first ticks, as MarketTick objects (built untimed,
    # as the notebook builds its market data once)
    n_seed = min(args.seed_ticks, inputs.n_steps)
    start = datetime(2024, 1, 1)
    ticks = [
        MarketTick(
            start + timedelta(seconds=i * market.tick_seconds),
            float(paths.spot[0, i]),
            float(paths.iv[0, i]),
            0.0002,
        )
        for i in range(n_seed + 1)
    ]
    a = time.perf_counter()
    seed_run_simulation(ticks, 60, 0.2, 1.0, 0.05, 0.5)
    seed_rate = n_seed / (time.perf_counter() - a)

    print(
        f"path_steps_per_s={kernel_rate:.4g}  (best of {args.repeats}; {steps} path-steps in "
        f"{best * 1e3:.1f} ms)"
    )
    print(f"ww_steps_per_s={steps / best_ww:.4g}  (default Whalley-Wilmott band)")
    print(f"seed_steps_per_s={seed_rate:.4g}  ({n_seed} ticks of seed 002's Python loop)")
    print(f"seed_ratio={kernel_rate / seed_rate:.4g}")
    print(f"trial_s={trial_s:.4f}  (kernel + metrics, {n_paths} paths)")


if __name__ == "__main__":
    main()
