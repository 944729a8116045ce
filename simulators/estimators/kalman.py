"""Multi-proxy Kalman filter for time-varying hedge ratios.

State-space model (one state per proxy, plus an optional intercept state)::

    beta_t = beta_{t-1} + w_t,        w_t ~ N(0, Q),  Q = diag(q_1 .. q_k)  (q I by default)
    y_t    = x_t . beta_t + e_t,      e_t ~ N(0, R)

with ``y_t`` the target's return and ``x_t`` the proxies' returns on day t (a leading 1 when an
intercept is modelled). The hedge ratio applied over day t must be known at the close of t-1,
so it is the PRIOR (predicted) mean ``beta_{t|t-1}``, built from observations up to t-1 only;
the filtered mean ``beta_{t|t}`` uses day t itself and is returned for diagnostics.

Initialisation: ``beta0``, ``P0`` are the prior mean and covariance of the state on the first
observation (``beta_{0|-1}``, ``P_{0|-1}``), the convention of statsmodels' ``initialize_known``.
A missing observation (NaN in y or x) skips the update: the state only diffuses.

The recursion is a numba kernel (``cache=True``); a full-history pass over ~2,000 days and 3-4
states takes tens of microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit


@dataclass(frozen=True)
class KalmanResult:
    """Output of :func:`kalman_filter`; arrays have one row per observation.

    ``prior_beta`` [n, k]: beta_{t|t-1}, the hedge ratios usable on day t (no look-ahead);
    ``prior_var`` [n, k]: diagonal of P_{t|t-1}; ``filtered_beta`` [n, k]: beta_{t|t};
    ``innovations`` [n]: y_t - x_t . beta_{t|t-1}; ``innovation_var`` [n]: x_t' P_{t|t-1} x_t + R;
    ``loglik``: Gaussian log-likelihood of the innovations; ``intercept``: whether column 0 of
    the states is an intercept (then the hedge ratios are columns 1..k-1).
    """

    prior_beta: np.ndarray
    prior_var: np.ndarray
    filtered_beta: np.ndarray
    innovations: np.ndarray
    innovation_var: np.ndarray
    loglik: float
    intercept: bool

    @property
    def hedge_ratios(self) -> np.ndarray:
        """Prior betas of the proxies only (intercept dropped): the ratio to hold on day t."""
        return self.prior_beta[:, 1:] if self.intercept else self.prior_beta


@njit(cache=True)
def _kalman_recursion(y, X, q, r, beta0, P0, prior_beta, prior_var, filt_beta, innov, innov_var):
    """Random-walk-state Kalman recursion writing into the preallocated outputs; returns sum v^2/s."""
    n, k = X.shape
    b = beta0.copy()
    P = P0.copy()
    Px = np.empty(k)
    quad = 0.0  # sum of v^2 / s; the log-determinant part is summed outside the loop
    for t in range(n):
        for i in range(k):
            prior_beta[t, i] = b[i]
            prior_var[t, i] = P[i, i]
        yt = y[t]
        ok = not np.isnan(yt)
        for i in range(k):
            if np.isnan(X[t, i]):
                ok = False
        if ok:
            pred = 0.0
            for i in range(k):
                pred += X[t, i] * b[i]
                acc = 0.0
                for j in range(k):
                    acc += P[i, j] * X[t, j]
                Px[i] = acc
            s = r
            for i in range(k):
                s += X[t, i] * Px[i]
            v = yt - pred
            inv_s = 1.0 / s
            innov[t] = v
            innov_var[t] = s
            quad += v * v * inv_s
            for i in range(k):
                b[i] += Px[i] * (v * inv_s)
            # P <- P - Px Px' / s, kept exactly symmetric
            for i in range(k):
                gi = Px[i] * inv_s
                for j in range(i, k):
                    pij = P[i, j] - gi * Px[j]
                    P[i, j] = pij
                    P[j, i] = pij
        else:
            innov[t] = np.nan
            innov_var[t] = np.nan
        for i in range(k):
            filt_beta[t, i] = b[i]
        # predict t+1: random walk, mean unchanged, covariance grows by Q
        for i in range(k):
            P[i, i] += q[i]
    return quad


def kalman_filter(
    y: np.ndarray,
    X: np.ndarray,
    process_noise: float | np.ndarray,
    observation_noise: float,
    beta0: np.ndarray | None = None,
    P0: np.ndarray | None = None,
    intercept: bool = False,
) -> KalmanResult:
    """Run the filter over ``y`` [n] given proxy returns ``X`` [n, m].

    ``process_noise``: q (Q = q I) or one q per state; ``observation_noise``: R. With
    ``intercept`` a constant column is prepended, so states are [alpha, beta_1 .. beta_m].
    ``beta0`` defaults to zeros, ``P0`` to the identity (a loose prior for daily-return betas).
    """
    y = np.ascontiguousarray(y, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if y.ndim != 1 or X.shape[0] != y.shape[0]:
        raise ValueError(f"y must be 1-d with one entry per row of X; got {y.shape} and {X.shape}")
    if intercept:
        X = np.column_stack([np.ones(X.shape[0]), X])
    X = np.ascontiguousarray(X)
    n, k = X.shape
    q = np.broadcast_to(np.asarray(process_noise, dtype=np.float64), (k,)).copy()
    r = float(observation_noise)
    if not (np.all(np.isfinite(q)) and np.all(q >= 0.0)):
        raise ValueError(f"process_noise must be finite and >= 0, got {process_noise}")
    if not (np.isfinite(r) and r > 0.0):
        raise ValueError(f"observation_noise must be finite and > 0, got {observation_noise}")
    b0 = np.zeros(k) if beta0 is None else np.asarray(beta0, dtype=np.float64).reshape(-1).copy()
    p0 = np.eye(k) if P0 is None else np.array(P0, dtype=np.float64, ndmin=2)
    if b0.shape != (k,) or p0.shape != (k, k):
        raise ValueError(f"beta0 must have {k} entries and P0 shape ({k}, {k}); got {b0.shape}, {p0.shape}")
    prior = np.empty((n, k))
    prior_var = np.empty((n, k))
    filt = np.empty((n, k))
    innov = np.empty(n)
    innov_var = np.empty(n)
    quad = _kalman_recursion(
        y, X, q, r, b0, np.ascontiguousarray(p0), prior, prior_var, filt, innov, innov_var
    )
    used = np.isfinite(innov_var)
    loglik = -0.5 * (float(used.sum()) * np.log(2.0 * np.pi) + float(np.log(innov_var[used]).sum()) + quad)
    return KalmanResult(prior, prior_var, filt, innov, innov_var, float(loglik), bool(intercept))


def fit_observation_noise(
    y: np.ndarray,
    X: np.ndarray,
    signal_to_noise: float,
    beta0: np.ndarray | None = None,
    P0: np.ndarray | None = None,
    intercept: bool = False,
    bounds: tuple[float, float] = (1e-10, 1.0),
) -> float:
    """Maximum-likelihood observation noise R for a given signal-to-noise ratio delta = q / R.

    Maximises the innovations' Gaussian log-likelihood of the filter with Q = delta R I over
    log R within ``bounds`` (a bounded scalar search; the likelihood is smooth in log R). With
    ``P0`` fixed, R sets how far the filter trusts its starting state, so it is identified.
    """
    from scipy.optimize import minimize_scalar

    delta = float(signal_to_noise)
    if not (np.isfinite(delta) and delta >= 0.0):
        raise ValueError(f"signal_to_noise must be finite and >= 0, got {signal_to_noise}")
    lo, hi = (float(b) for b in bounds)
    if not 0.0 < lo < hi:
        raise ValueError(f"bounds must satisfy 0 < low < high, got {bounds}")

    def neg_loglik(log_r: float) -> float:
        r = float(np.exp(log_r))
        return -kalman_filter(y, X, delta * r, r, beta0, P0, intercept).loglik

    res = minimize_scalar(
        neg_loglik, bounds=(np.log(lo), np.log(hi)), method="bounded", options={"xatol": 1e-3}
    )
    return float(np.exp(res.x))
