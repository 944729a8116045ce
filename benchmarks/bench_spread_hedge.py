"""spread_hedge trial cost: the objective's per-worker window cache against recomputing every
window's estimate per trial (what a trial costs without the cache), same params, same run.

    python benchmarks/spread_hedge_bench.py
"""

from __future__ import annotations

import time

import numpy as np

from hedgeopt.config import compose
from hedgeopt.protocol import NullReporter
from objectives.spread_hedge import SpreadHedgeObjective
from simulators.hedge_ratios import METHODS


def main(n_trials: int = 30, seed: int = 0) -> None:
    cfg = compose(["+study=spread_hedge"])
    rng = np.random.default_rng(seed)
    trials = [
        {
            "spread.method": str(rng.choice(METHODS)),
            "spread.formation_window": int(rng.choice(np.arange(40, 241, 20))),
            "spread.add_constant": bool(rng.integers(2)),
            "spread.trading_window": int(rng.choice([20, 40, 60])),
        }
        for _ in range(n_trials)
    ]
    cached = SpreadHedgeObjective(cfg)
    t0 = time.perf_counter()
    fast = [cached(p, NullReporter()) for p in trials]
    t_cached = time.perf_counter() - t0
    t0 = time.perf_counter()
    slow = []
    for p in trials:
        cached._cache.clear()  # reference: every window re-estimated in every trial
        slow.append(cached(p, NullReporter()))
    t_fresh = time.perf_counter() - t0
    assert fast == slow
    print(f"{n_trials} random trials on XLF/XLK ({len(cached.prices)} rows)")
    print(f"  with the window cache    : {t_cached / n_trials * 1e3:8.1f} ms/trial")
    print(f"  reference, no cache      : {t_fresh / n_trials * 1e3:8.1f} ms/trial")
    print(f"  speed-up                 : {t_fresh / t_cached:8.2f}x")


if __name__ == "__main__":
    main()
