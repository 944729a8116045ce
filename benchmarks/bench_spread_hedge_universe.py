"""spread_hedge_universe costs, each beside its slow reference measured in the same run:

1. one formation window's pair screen: the batched Engle-Granger / Johansen tests on the
   pre-screened candidates against statsmodels' ``coint`` / ``coint_johansen`` called pair by
   pair on the same candidates, and against ``coint`` (its default lag search) on every pair
   of the universe (what a loop without pre-screen would run);
2. a sequence of random trials with the per-worker caches (screens and ratio estimates kept
   across trials) against the same trials re-screening and re-estimating every window.

    python benchmarks/bench_spread_hedge_universe.py
"""

from __future__ import annotations

import time
import warnings
from itertools import combinations

import numpy as np
from bench_spread_hedge import cached_and_fresh
from statsmodels.tsa.stattools import coint
from statsmodels.tsa.vector_ar.vecm import coint_johansen

from hedgeopt.config.compose import compose
from hedgeopt.execution.objective_builder import build_objective
from objectives.spread_hedge_universe.objective import SpreadHedgeUniverseObjective
from simulators.trading import pair_selection as ps
from simulators.trading.universe_backtest import UniverseBacktest


def _per_call(fn, repeats: int) -> float:
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


def bench_screen(obj: SpreadHedgeUniverseObjective, formation: int = 120) -> None:
    t = obj.split - 1
    block = obj.values[t - formation : t]
    cand = obj.backtest.candidates
    pairs = ps.prescreen(block, cand)
    n_assets = block.shape[1]
    all_pairs = list(combinations(range(n_assets), 2))

    def eg_loop() -> None:
        for i, j in pairs:
            max(
                coint(block[:, i], block[:, j], maxlag=1, autolag=None)[1],
                coint(block[:, j], block[:, i], maxlag=1, autolag=None)[1],
            )

    def jo_loop() -> None:
        for i, j in pairs:
            coint_johansen(block[:, [i, j]], 0, 1)

    def eg_all_default() -> None:
        for i, j in all_pairs:
            coint(block[:, i], block[:, j])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast_eg = _per_call(lambda: ps.screen(block, "engle_granger", cand), 20)
        fast_jo = _per_call(lambda: ps.screen(block, "johansen", cand), 20)
        slow_eg = _per_call(eg_loop, 2)
        slow_jo = _per_call(jo_loop, 2)
        slow_all = _per_call(eg_all_default, 1)
    print(
        f"one formation window ({formation} rows, {n_assets} assets, {len(all_pairs)} pairs, "
        f"{len(pairs)} candidates after the correlation pre-screen)"
    )
    print(f"  Engle-Granger, batched (both directions)   : {fast_eg * 1e3:9.2f} ms")
    print(
        f"  reference: statsmodels coint pair by pair  : {slow_eg * 1e3:9.2f} ms  ({slow_eg / fast_eg:6.1f}x)"
    )
    print(f"  Johansen trace, batched                    : {fast_jo * 1e3:9.2f} ms")
    print(
        f"  reference: coint_johansen pair by pair     : {slow_jo * 1e3:9.2f} ms  ({slow_jo / fast_jo:6.1f}x)"
    )
    print(
        f"  reference: coint (AIC lags), every pair    : {slow_all * 1e3:9.2f} ms  "
        f"({slow_all / fast_eg:6.1f}x)"
    )


def bench_trials(obj: SpreadHedgeUniverseObjective, n_trials: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    trials = [
        {
            "selection.test": str(rng.choice(ps.TESTS)),
            "selection.p_value": float(rng.choice([0.01, 0.05, 0.1])),
            "selection.k": int(rng.integers(1, 11)),
            "spread.method": str(rng.choice(["ols", "tls", "johansen", "box_tiao"])),
            "spread.formation_window": int(rng.choice(np.arange(60, 251, 10))),
            "spread.trading_window": int(rng.choice([20, 40, 60, 80, 100, 120])),
            "trade.entry_z": float(rng.uniform(1.0, 3.0)),
        }
        for _ in range(n_trials)
    ]

    def rescreen(o: SpreadHedgeUniverseObjective) -> None:  # the reference: no caches
        o.backtest = UniverseBacktest(o.values, o.backtest.candidates, cache=False)

    t_cached, t_fresh = cached_and_fresh(obj, trials, rescreen)
    print(f"{n_trials} random trials, one process")
    print(f"  with the per-worker caches                 : {t_cached / n_trials * 1e3:9.1f} ms/trial")
    print(
        f"  reference, re-screening every window       : {t_fresh / n_trials * 1e3:9.1f} ms/trial"
        f"  ({t_fresh / t_cached:6.2f}x)"
    )


def main(n_trials: int = 30, seed: int = 0) -> None:
    obj = build_objective(compose(["+study=spread_hedge_universe", "surrogates.n=0"]))
    bench_screen(obj)
    bench_trials(obj, n_trials, seed)


if __name__ == "__main__":
    main()
