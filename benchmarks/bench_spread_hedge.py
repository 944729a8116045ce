"""spread_hedge costs: a trial with the per-worker window cache against re-estimating every window,
and the array-level estimators (what the surrogate test runs) against seed 001's DataFrame
functions on the same windows, measured in the same run.

    python benchmarks/bench_spread_hedge.py
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from hedgeopt.config.compose import compose
from hedgeopt.execution.objective_builder import build_objective
from hedgeopt.protocol import NullReporter
from simulators.estimators import hedge_ratios as hr
from simulators.trading.pairs_backtest import RatioEstimator


def cached_and_fresh(obj: Any, trials: list[dict], forget: Callable[[Any], None]) -> tuple[float, float]:
    """Seconds for ``trials`` through ``obj`` with its per-worker caches, then for the same trials
    with ``forget(obj)`` before each (the reference, nothing reused); asserted: the same metrics."""
    t0 = time.perf_counter()
    cached = [obj(p, NullReporter()).metrics for p in trials]
    t_cached = time.perf_counter() - t0
    t0 = time.perf_counter()
    fresh = []
    for p in trials:
        forget(obj)
        fresh.append(obj(p, NullReporter()).metrics)
    t_fresh = time.perf_counter() - t0
    assert cached == fresh
    return t_cached, t_fresh


def main(n_trials: int = 30, seed: int = 0) -> None:
    cfg = compose(["+study=spread_hedge", "surrogates.n=0"])
    rng = np.random.default_rng(seed)
    trials = [
        {
            "spread.method": str(rng.choice(hr.METHODS)),
            "spread.formation_window": int(rng.choice(np.arange(60, 251, 10))),
            "spread.add_constant": bool(rng.integers(2)),
            "spread.trading_window": int(rng.choice([20, 40, 60, 80, 100, 120])),
            "trade.entry_z": float(rng.uniform(1.0, 3.0)),
        }
        for _ in range(n_trials)
    ]
    obj = build_objective(cfg)

    def fresh_estimator(o) -> None:  # the reference: no reuse across trials
        o.estimator = RatioEstimator(o.values, o.columns)

    t_cached, t_fresh = cached_and_fresh(obj, trials, fresh_estimator)
    print(f"{n_trials} random trials on {'/'.join(obj.columns)} ({len(obj.values)} rows)")
    print(f"  with the window cache      : {t_cached / n_trials * 1e3:8.1f} ms/trial")
    print(f"  reference, no cache        : {t_fresh / n_trials * 1e3:8.1f} ms/trial")
    print(f"  speed-up                   : {t_fresh / t_cached:8.2f}x")

    starts = range(obj.split, len(obj.values), 20)
    print(f"estimates of {len(starts)} held-out windows (formation 60), per method:")
    for method in hr.METHODS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            arr = [hr.hedge_ratio_array(method, obj.values[t - 60 : t]) for t in starts]
            t_arr = time.perf_counter() - t0
            t0 = time.perf_counter()
            ref = [
                hr.hedge_ratio(method, pd.DataFrame(obj.values[t - 60 : t], columns=obj.columns))
                for t in starts
            ]
            t_ref = time.perf_counter() - t0
        same = np.allclose([a[0] for a in arr], [r[obj.columns[1]] for r in ref], equal_nan=True)
        print(
            f"  {method:14s} array {t_arr / len(starts) * 1e3:7.2f} ms   DataFrame reference "
            f"{t_ref / len(starts) * 1e3:7.2f} ms   x{t_ref / t_arr:5.1f}   same ratios: {same}"
        )


if __name__ == "__main__":
    main()
