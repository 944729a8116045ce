"""The Kalman hedge-ratio filter against statsmodels and a plain recursion; static baselines."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.tsa.statespace.kalman_filter import KalmanFilter

from simulators.estimators.kalman import fit_observation_noise, kalman_filter
from simulators.estimators.static_hedge import (
    min_variance_ratio,
    ols_hedge,
    ridge_hedge,
    rolling_ols_ratios,
)


def _synthetic(
    n: int = 400, m: int = 3, seed: int = 7, x_sd: float = 0.012, e_sd: float = 0.004
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Proxy returns, random-walk betas (step sd 0.01) and a target from the state-space model."""
    rng = np.random.default_rng(seed)
    X = rng.normal(0.0, x_sd, size=(n, m))
    beta = np.cumsum(rng.normal(0.0, 0.01, size=(n, m)), axis=0) + np.linspace(0.3, 0.9, m)
    y = (X * beta).sum(axis=1) + rng.normal(0.0, e_sd, size=n)
    return y, X, beta


def _statsmodels(y, Z, q, r, b0, P0):
    _, k = Z.shape
    kf = KalmanFilter(k_endog=1, k_states=k)
    kf.bind(y[None, :].copy())
    kf.design = Z.T[None, :, :].copy()
    kf.obs_cov = np.array([[r]])
    kf.transition = np.eye(k)
    kf.selection = np.eye(k)
    kf.state_cov = np.diag(np.broadcast_to(q, (k,)))
    kf.initialize_known(b0, P0)
    return kf.filter()


@pytest.mark.parametrize("intercept", [False, True])
def test_matches_statsmodels_state_space(intercept: bool) -> None:
    y, X, _ = _synthetic()
    k = X.shape[1] + int(intercept)
    b0 = np.linspace(-0.1, 0.2, k)
    P0 = 0.5 * np.eye(k) + 0.1
    res = kalman_filter(y, X, 2e-5, 3e-5, beta0=b0, P0=P0, intercept=intercept)
    Z = np.column_stack([np.ones(len(y)), X]) if intercept else X
    sm = _statsmodels(y, Z, 2e-5, 3e-5, b0, P0)
    np.testing.assert_allclose(res.prior_beta, sm.predicted_state[:, :-1].T, rtol=0, atol=1e-8)
    np.testing.assert_allclose(res.filtered_beta, sm.filtered_state.T, rtol=0, atol=1e-8)
    np.testing.assert_allclose(res.innovations, sm.forecasts_error[0], rtol=0, atol=1e-8)
    np.testing.assert_allclose(res.innovation_var, sm.forecasts_error_cov[0, 0], rtol=1e-8)
    np.testing.assert_allclose(
        res.prior_var, np.diagonal(sm.predicted_state_cov[:, :, :-1], axis1=0, axis2=1), rtol=1e-8, atol=1e-14
    )
    assert res.loglik == pytest.approx(float(sm.llf_obs.sum()), rel=1e-8)
    assert res.hedge_ratios.shape == (len(y), X.shape[1])
    if intercept:
        np.testing.assert_array_equal(res.hedge_ratios, res.prior_beta[:, 1:])


def _plain_recursion(y, X, q, r, b0, P0):
    """Textbook predict/update in matrix form, written independently of the numba kernel."""
    n, k = X.shape
    b, P, Q = b0.copy(), P0.copy(), q * np.eye(k)
    prior = np.zeros((n, k))
    for t in range(n):
        if t > 0:
            P = P + Q  # predict: beta_t = beta_{t-1} + w_t
        prior[t] = b
        x = X[t]
        S = x @ P @ x + r
        K = P @ x / S
        b = b + K * (y[t] - x @ b)
        P = (np.eye(k) - np.outer(K, x)) @ P
    return prior


def test_matches_plain_recursion_and_tracks_true_beta() -> None:
    y, X, beta = _synthetic(n=600, x_sd=0.02, e_sd=0.002)
    b0, P0 = np.zeros(3), np.eye(3)
    q, r = 1e-4, 4e-6  # the generating model's own noise levels
    res = kalman_filter(y, X, q, r, beta0=b0, P0=P0)
    np.testing.assert_allclose(res.prior_beta, _plain_recursion(y, X, q, r, b0, P0), rtol=0, atol=1e-8)
    # after a burn-in the filter tracks the true random-walk betas far better than the best
    # constant, and better than a filter that assumes (nearly) constant betas
    err = np.abs(res.filtered_beta[200:] - beta[200:]).mean()
    const = np.abs(beta[200:] - beta[200:].mean(axis=0)).mean()
    assert err < 0.4 * const
    stiff = kalman_filter(y, X, 1e-9, r, beta0=b0, P0=P0)
    assert err < 0.5 * np.abs(stiff.filtered_beta[200:] - beta[200:]).mean()


def test_no_look_ahead() -> None:
    y, X, _ = _synthetic()
    base = kalman_filter(y, X, 1e-5, 1e-4)
    t = 250
    y2, X2 = y.copy(), X.copy()
    y2[t] += 0.2
    X2[t, 1] -= 0.15
    moved = kalman_filter(y2, X2, 1e-5, 1e-4)
    # the ratio applied on day t (and every day before) is unchanged by day t's returns ...
    np.testing.assert_array_equal(moved.hedge_ratios[: t + 1], base.hedge_ratios[: t + 1])
    # ... and the shock does reach day t+1's ratio
    assert np.abs(moved.hedge_ratios[t + 1] - base.hedge_ratios[t + 1]).max() > 1e-3


def test_missing_observation_skips_update() -> None:
    y, X, _ = _synthetic(n=50)
    y[20] = np.nan
    res = kalman_filter(y, X, 1e-5, 1e-4)
    np.testing.assert_array_equal(res.filtered_beta[20], res.prior_beta[20])
    np.testing.assert_array_equal(res.prior_beta[21], res.prior_beta[20])
    assert np.isnan(res.innovations[20]) and np.isfinite(res.loglik)


def test_rejects_bad_noise() -> None:
    y, X, _ = _synthetic(n=10)
    with pytest.raises(ValueError, match="observation_noise"):
        kalman_filter(y, X, 1e-5, 0.0)
    with pytest.raises(ValueError, match="process_noise"):
        kalman_filter(y, X, -1e-5, 1e-3)


def test_observation_noise_by_maximum_likelihood() -> None:
    # data from the model with beta step sd 0.01 (q = 1e-4) and noise sd 0.004 (R = 1.6e-5)
    y, X, beta = _synthetic(n=1500)
    delta = 1e-4 / 1.6e-5
    r = fit_observation_noise(y, X, delta, beta[0], 1e-4 * np.eye(3))
    assert 1.6e-5 / 1.5 < r < 1.6e-5 * 1.5

    def ll(v):
        return kalman_filter(y, X, delta * v, v, beta[0], 1e-4 * np.eye(3)).loglik

    assert ll(r) >= max(ll(r * 1.05), ll(r / 1.05))  # a maximum of the likelihood
    with pytest.raises(ValueError, match="signal_to_noise"):
        fit_observation_noise(y, X, -1.0)


def test_min_variance_ratio_is_rho_sigma_ratio() -> None:
    rng = np.random.default_rng(3)
    f = rng.normal(0.0, 0.015, 5000)
    s = 0.8 * f + rng.normal(0.0, 0.006, 5000)
    h, r2 = min_variance_ratio(s, f)
    rho = np.corrcoef(s, f)[0, 1]
    assert h == pytest.approx(rho * s.std(ddof=1) / f.std(ddof=1), rel=1e-12)
    # the population values: h* = 0.8, R^2 = 0.8^2 0.015^2 / (0.8^2 0.015^2 + 0.006^2)
    assert h == pytest.approx(0.8, abs=0.02)
    assert r2 == pytest.approx(0.64 * 0.015**2 / (0.64 * 0.015**2 + 0.006**2), abs=0.01)
    fit = ols_hedge(s, f)  # the OLS slope and R^2 are the same numbers
    assert fit.ratios[0] == pytest.approx(h, rel=1e-10) and fit.r2 == pytest.approx(r2, rel=1e-10)

    # h* minimises the hedged variance: any other ratio does worse
    def var(x):
        return np.var(s - x * f)

    assert var(h) < var(h + 0.01) and var(h) < var(h - 0.01)


def test_ols_ridge_and_rolling() -> None:
    y, X, _ = _synthetic(n=300)
    fit = ols_hedge(y, X, intercept=True)
    Z = np.column_stack([np.ones(len(y)), X])
    coef = np.linalg.solve(Z.T @ Z, Z.T @ y)
    np.testing.assert_allclose(fit.ratios, coef[1:], rtol=1e-10)
    assert fit.alpha == pytest.approx(coef[0], abs=1e-12)
    np.testing.assert_allclose(ridge_hedge(y, X, 0.0).ratios, fit.ratios, rtol=1e-8)
    shrunk = ridge_hedge(y, X, 1.0).ratios
    assert np.linalg.norm(shrunk) < np.linalg.norm(fit.ratios)
    window = 60
    roll = rolling_ols_ratios(y, X, window)
    assert np.isnan(roll[:window]).all()
    for t in (window, 150, 299):
        np.testing.assert_allclose(roll[t], ols_hedge(y[t - window : t], X[t - window : t]).ratios, rtol=1e-7)
