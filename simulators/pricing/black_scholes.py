"""Black-Scholes(-Merton) price and greeks of European calls and puts.

Two flavours of the same formulas:

* vectorised numpy functions (``bs_price``, ``bs_delta``, ``bs_gamma``, ``bs_vega``,
  ``bs_theta``) that broadcast over arrays, for analysis, tests and plots;
* scalar ``@njit`` functions (``bs_price_scalar``, ``bs_delta_scalar``, ``bs_gamma_scalar``,
  and the pieces ``bs_d1_scalar`` / ``norm_cdf_scalar`` for kernels that share one N(d1)
  between legs) that compiled kernels call inside their loops (the options book marks
  millions of path-ticks with them).

Conventions: ``S`` spot, ``K`` strike, ``T`` time to expiry in years, ``sigma`` annualised
volatility, ``r`` continuously compounded rate, ``q`` continuous dividend (or, for a crypto
perpetual, funding/borrow) yield; ``is_call`` True for a call, False for a put. Vega is per
unit of volatility (1.00 = 100 vol points), theta per year (divide by 365 for per day).
At or after expiry (``T <= 0``) the price is the intrinsic value, delta is the exercise
indicator and gamma, vega and theta are zero; ``sigma <= 0`` is treated like the
deterministic limit (the discounted forward intrinsic value).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from scipy.special import ndtr

__all__ = [
    "bs_price",
    "bs_delta",
    "bs_gamma",
    "bs_vega",
    "bs_theta",
    "bs_price_scalar",
    "bs_delta_scalar",
    "bs_gamma_scalar",
    "bs_d1_scalar",
    "norm_cdf_scalar",
]

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _npdf(x: np.ndarray) -> np.ndarray:
    return _INV_SQRT_2PI * np.exp(-0.5 * x * x)


def _prepare(S, K, T, sigma, r, q, is_call):
    S, K, T, sigma, r, q = (np.asarray(a, dtype=np.float64) for a in (S, K, T, sigma, r, q))
    is_call = np.asarray(is_call, dtype=bool)
    if np.any(S <= 0) or np.any(K <= 0):
        raise ValueError("black_scholes: spot S and strike K must be positive")
    live = (T > 0) & (sigma > 0)
    T_ = np.where(live, T, 1.0)
    sig_ = np.where(live, sigma, 1.0)
    vol_sqrt_t = sig_ * np.sqrt(T_)
    d1 = (np.log(S / K) + (r - q + 0.5 * sig_ * sig_) * T_) / vol_sqrt_t
    d2 = d1 - vol_sqrt_t
    return S, K, T, sigma, r, q, is_call, live, T_, vol_sqrt_t, d1, d2


def bs_price(S, K, T, sigma, r=0.0, q=0.0, is_call=True) -> np.ndarray:
    """Black-Scholes price; intrinsic (forward-discounted) value when T <= 0 or sigma <= 0."""
    S, K, T, sigma, r, q, is_call, live, T_, _, d1, d2 = _prepare(S, K, T, sigma, r, q, is_call)
    df_r = np.exp(-r * T_)
    df_q = np.exp(-q * T_)
    call = S * df_q * ndtr(d1) - K * df_r * ndtr(d2)
    put = K * df_r * ndtr(-d2) - S * df_q * ndtr(-d1)
    live_price = np.where(is_call, call, put)
    Tc = np.maximum(T, 0.0)
    fwd_s = S * np.exp(-q * Tc)
    fwd_k = K * np.exp(-r * Tc)
    dead_price = np.where(is_call, np.maximum(fwd_s - fwd_k, 0.0), np.maximum(fwd_k - fwd_s, 0.0))
    return np.where(live, live_price, dead_price)


def bs_delta(S, K, T, sigma, r=0.0, q=0.0, is_call=True) -> np.ndarray:
    """dPrice/dS; the exercise indicator (+1/-1 or 0) when T <= 0 or sigma <= 0."""
    S, K, T, sigma, r, q, is_call, live, T_, _, d1, _ = _prepare(S, K, T, sigma, r, q, is_call)
    df_q = np.exp(-q * T_)
    live_delta = np.where(is_call, df_q * ndtr(d1), -df_q * ndtr(-d1))
    Tc = np.maximum(T, 0.0)
    itm_call = S * np.exp(-q * Tc) > K * np.exp(-r * Tc)
    itm_put = S * np.exp(-q * Tc) < K * np.exp(-r * Tc)
    dead = np.where(
        is_call, np.where(itm_call, np.exp(-q * Tc), 0.0), np.where(itm_put, -np.exp(-q * Tc), 0.0)
    )
    return np.where(live, live_delta, dead)


def bs_gamma(S, K, T, sigma, r=0.0, q=0.0, is_call=True) -> np.ndarray:
    """d2Price/dS2 (same for calls and puts); 0 when T <= 0 or sigma <= 0."""
    S, K, T, sigma, r, q, is_call, live, T_, vst, d1, _ = _prepare(S, K, T, sigma, r, q, is_call)
    g = np.exp(-q * T_) * _npdf(d1) / (S * vst)
    return np.where(live, g, 0.0) + np.zeros(is_call.shape)


def bs_vega(S, K, T, sigma, r=0.0, q=0.0, is_call=True) -> np.ndarray:
    """dPrice/dsigma per unit of vol (same for calls and puts); 0 when T <= 0 or sigma <= 0."""
    S, K, T, sigma, r, q, is_call, live, T_, _, d1, _ = _prepare(S, K, T, sigma, r, q, is_call)
    v = S * np.exp(-q * T_) * _npdf(d1) * np.sqrt(T_)
    return np.where(live, v, 0.0) + np.zeros(is_call.shape)


def bs_theta(S, K, T, sigma, r=0.0, q=0.0, is_call=True) -> np.ndarray:
    """dPrice/dt per year of calendar time (= -dPrice/dT); 0 when T <= 0 or sigma <= 0."""
    S, K, T, sigma, r, q, is_call, live, T_, vst, d1, d2 = _prepare(S, K, T, sigma, r, q, is_call)
    df_r = np.exp(-r * T_)
    df_q = np.exp(-q * T_)
    decay = -S * df_q * _npdf(d1) * (vst / T_) / 2.0
    call = decay - r * K * df_r * ndtr(d2) + q * S * df_q * ndtr(d1)
    put = decay + r * K * df_r * ndtr(-d2) - q * S * df_q * ndtr(-d1)
    return np.where(live, np.where(is_call, call, put), 0.0)


# ---------------------------------------------------------------------------------------
# Scalar, numba-compiled versions for kernels.


@njit(cache=True, inline="always")
def norm_cdf_scalar(x: float) -> float:
    """Standard normal CDF via erfc (accurate in both tails)."""
    return 0.5 * math.erfc(-x / _SQRT2)


@njit(cache=True, inline="always")
def bs_d1_scalar(S: float, K: float, T: float, sigma: float, r: float, q: float) -> float:
    """d1 = (ln(S/K) + (r - q + sigma^2/2) T) / (sigma sqrt(T)); needs T > 0 and sigma > 0."""
    return (math.log(S / K) + (r - q + 0.5 * sigma * sigma) * T) / (sigma * math.sqrt(T))


@njit(cache=True, inline="always")
def _discounted_spot_strike(S: float, K: float, T: float, r: float, q: float) -> tuple[float, float]:
    """(S exp(-q T), K exp(-r T)) with T floored at 0: what the deterministic limit compares."""
    Tc = max(T, 0.0)
    return S * math.exp(-q * Tc), K * math.exp(-r * Tc)


@njit(cache=True)
def bs_price_scalar(S: float, K: float, T: float, sigma: float, r: float, q: float, is_call: bool) -> float:
    """Scalar Black-Scholes price; same conventions as :func:`bs_price`."""
    if T <= 0.0 or sigma <= 0.0:
        fs, fk = _discounted_spot_strike(S, K, T, r, q)
        return max(fs - fk, 0.0) if is_call else max(fk - fs, 0.0)
    d1 = bs_d1_scalar(S, K, T, sigma, r, q)
    d2 = d1 - sigma * math.sqrt(T)
    if is_call:
        return S * math.exp(-q * T) * norm_cdf_scalar(d1) - K * math.exp(-r * T) * norm_cdf_scalar(d2)
    return K * math.exp(-r * T) * norm_cdf_scalar(-d2) - S * math.exp(-q * T) * norm_cdf_scalar(-d1)


@njit(cache=True)
def bs_delta_scalar(S: float, K: float, T: float, sigma: float, r: float, q: float, is_call: bool) -> float:
    """Scalar Black-Scholes delta; same conventions as :func:`bs_delta`."""
    if T <= 0.0 or sigma <= 0.0:
        fs, fk = _discounted_spot_strike(S, K, T, r, q)
        df_q = math.exp(-q * max(T, 0.0))
        if is_call:
            return df_q if fs > fk else 0.0
        return -df_q if fs < fk else 0.0
    d1 = bs_d1_scalar(S, K, T, sigma, r, q)
    if is_call:
        return math.exp(-q * T) * norm_cdf_scalar(d1)
    return -math.exp(-q * T) * norm_cdf_scalar(-d1)


@njit(cache=True)
def bs_gamma_scalar(S: float, K: float, T: float, sigma: float, r: float, q: float) -> float:
    """Scalar Black-Scholes gamma; 0 when T <= 0 or sigma <= 0."""
    if T <= 0.0 or sigma <= 0.0:
        return 0.0
    d1 = bs_d1_scalar(S, K, T, sigma, r, q)
    return math.exp(-q * T) * _INV_SQRT_2PI * math.exp(-0.5 * d1 * d1) / (S * sigma * math.sqrt(T))
