"""Benchmark: one Kalman filter pass over the full default dataset (EEM on FXI, EPP, EFA,
2008-2016, with an intercept: 4 states), timed beside two independent implementations of the
same model in the same run: statsmodels' state-space filter (compiled) and a plain numpy loop.
Then the units hedging engine (weekly rebalancing, costs) over the same days beside a per-day
share-accounting loop, and one kalman_hedge trial and the baselines of the default study.

Prints ``filter_ms=<float>`` (numba kernel, median) and ``speedup=<float>`` (statsmodels time /
ours), plus the numpy-loop figures and the largest difference in prior betas; ``engine_ms``,
``engine_loop_ms`` and their largest difference in net returns; ``trial_ms`` and
``baselines_s``.

    python benchmarks/bench_kalman.py
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from statsmodels.tsa.statespace.kalman_filter import KalmanFilter

from simulators.estimators.kalman import kalman_filter
from simulators.hedging.proxy_hedging import rebalance_mask, run_hedge
from simulators.markets.prices import load_prices, returns

Q, R = 1e-5, 1e-4


def best_ms(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``fn`` in milliseconds over ``repeat`` calls (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def statsmodels_prior(y: np.ndarray, Z: np.ndarray) -> np.ndarray:
    _, k = Z.shape
    kf = KalmanFilter(k_endog=1, k_states=k)
    kf.bind(y[None, :].copy())
    kf.design = Z.T[None, :, :].copy()
    kf.obs_cov = np.array([[R]])
    kf.transition = np.eye(k)
    kf.selection = np.eye(k)
    kf.state_cov = Q * np.eye(k)
    kf.initialize_known(np.zeros(k), np.eye(k))
    return kf.filter().predicted_state[:, :-1].T


def numpy_prior(y: np.ndarray, Z: np.ndarray) -> np.ndarray:
    n, k = Z.shape
    b, P = np.zeros(k), np.eye(k)
    out = np.empty((n, k))
    for t in range(n):
        out[t] = b
        x = Z[t]
        Px = P @ x
        s = x @ Px + R
        b = b + Px * ((y[t] - x @ b) / s)
        P = P - np.outer(Px, Px) / s + Q * np.eye(k)
    return out


def engine_loop(
    target: np.ndarray, proxies: np.ndarray, ratios: np.ndarray, mask: np.ndarray, bps: float
) -> np.ndarray:
    """Net hedged returns by share accounting, one day at a time (the engine's reference)."""
    n, m = proxies.shape
    p_t, p_x = 1.0, np.ones(m)
    shares_t, shares_x = 1.0, np.zeros(m)
    net = np.empty(n)
    for t in range(n):
        exposure = shares_t * p_t
        if mask[t]:
            want = ratios[t] * exposure / p_x
            cost = np.abs(want - shares_x) @ p_x * bps * 1e-4
            shares_x = want
        else:
            cost = 0.0
        new_t, new_x = p_t * (1 + target[t]), p_x * (1 + proxies[t])
        net[t] = (shares_t * (new_t - p_t) - shares_x @ (new_x - p_x) - cost) / exposure
        p_t, p_x = new_t, new_x
    return net


def main() -> None:
    r = returns(load_prices("stock_prices.csv", ["EEM", "FXI", "EPP", "EFA"]))
    y = r["EEM"].to_numpy()
    X = r[["FXI", "EPP", "EFA"]].to_numpy()
    Z = np.column_stack([np.ones(len(y)), X])
    ours = kalman_filter(y, X, Q, R, intercept=True).prior_beta
    diff_sm = float(np.abs(ours - statsmodels_prior(y, Z)).max())
    diff_np = float(np.abs(ours - numpy_prior(y, Z)).max())
    t_ours = best_ms(lambda: kalman_filter(y, X, Q, R, intercept=True), 200)
    t_sm = best_ms(lambda: statsmodels_prior(y, Z), 20)
    t_np = best_ms(lambda: numpy_prior(y, Z), 5)
    print(f"days={len(y)} states={Z.shape[1]}")
    print(f"filter_ms={t_ours:.4f}")
    print(f"statsmodels_ms={t_sm:.3f}")
    print(f"speedup={t_sm / t_ours:.1f}")
    print(f"numpy_loop_ms={t_np:.3f}")
    print(f"speedup_vs_numpy_loop={t_np / t_ours:.1f}")
    print(f"max_abs_diff_statsmodels={diff_sm:.2e} max_abs_diff_numpy={diff_np:.2e}")

    h = ours[:, 1:]
    mask = rebalance_mask(r.index, "weekly")
    net = run_hedge(y, X, h, mask, 5.0).net
    diff_engine = float(np.abs(net - engine_loop(y, X, h, mask, 5.0)).max())
    t_eng = best_ms(lambda: run_hedge(y, X, h, mask, 5.0), 50)
    t_loop = best_ms(lambda: engine_loop(y, X, h, mask, 5.0), 3)
    print(
        f"engine_ms={t_eng:.3f} engine_loop_ms={t_loop:.3f} speedup={t_loop / t_eng:.1f} "
        f"max_abs_diff_net={diff_engine:.2e}"
    )

    from hedgeopt.config.compose import compose
    from hedgeopt.execution.objective_builder import build_objective
    from hedgeopt.protocol import NullReporter

    obj = build_objective(compose(["+study=kalman_hedge"]))
    params = {"kalman.signal_to_noise": 1e-2, "kalman.observation_noise": 1e-3, "engine.rebalance": "weekly"}
    print(f"trial_ms={best_ms(lambda: obj(params, NullReporter()), 20):.2f}")
    t0 = time.perf_counter()
    obj.baselines()
    print(f"baselines_s={time.perf_counter() - t0:.3f}")


if __name__ == "__main__":
    main()
