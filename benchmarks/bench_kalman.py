"""Benchmark: one Kalman filter pass over the full default dataset (EEM on FXI, EPP, EFA,
2008-2016, with an intercept: 4 states), timed beside two independent implementations of the
same model in the same run: statsmodels' state-space filter (compiled) and a plain numpy loop.

Prints ``filter_ms=<float>`` (numba kernel, median) and ``speedup=<float>`` (statsmodels time /
ours), plus the numpy-loop figures and the largest difference in prior betas.

    python benchmarks/bench_kalman.py
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
from statsmodels.tsa.statespace.kalman_filter import KalmanFilter

from simulators.kalman import kalman_filter
from simulators.prices import load_prices, returns

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
    n, k = Z.shape
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


if __name__ == "__main__":
    main()
