"""Black-Scholes: published values, parity, finite-difference greeks, scalar == vectorised."""

import numpy as np
import pytest

from simulators.pricing.black_scholes import (
    bs_delta,
    bs_delta_scalar,
    bs_gamma,
    bs_gamma_scalar,
    bs_price,
    bs_price_scalar,
    bs_theta,
    bs_vega,
)


def test_hull_example_15_6():
    # Hull, Options Futures and Other Derivatives: S=42, K=40, r=10%, sigma=20%, T=0.5
    assert bs_price(42, 40, 0.5, 0.2, 0.1, 0.0, True) == pytest.approx(4.7594, abs=5e-4)
    assert bs_price(42, 40, 0.5, 0.2, 0.1, 0.0, False) == pytest.approx(0.8086, abs=5e-4)


def test_hull_greeks_example():
    # Hull's greeks example: S=49, K=50, r=5%, sigma=20%, T=20/52 call:
    # delta 0.522, gamma 0.066, vega 12.1 (per unit vol), theta -4.31 per year
    args = (49.0, 50.0, 20 / 52, 0.2, 0.05, 0.0, True)
    assert bs_delta(*args) == pytest.approx(0.522, abs=1e-3)
    assert bs_gamma(*args) == pytest.approx(0.066, abs=1e-3)
    assert bs_vega(*args) == pytest.approx(12.1, abs=0.05)
    assert bs_theta(*args) == pytest.approx(-4.31, abs=0.01)


@pytest.mark.parametrize("q", [0.0, 0.03])
def test_put_call_parity(q):
    rng = np.random.default_rng(0)
    S = rng.uniform(50, 150, 200)
    K = rng.uniform(50, 150, 200)
    T = rng.uniform(0.01, 2, 200)
    sig = rng.uniform(0.05, 1.5, 200)
    r = 0.04
    c = bs_price(S, K, T, sig, r, q, True)
    p = bs_price(S, K, T, sig, r, q, False)
    np.testing.assert_allclose(c - p, S * np.exp(-q * T) - K * np.exp(-r * T), atol=1e-9)
    # delta parity: call delta - put delta = exp(-qT)
    np.testing.assert_allclose(
        bs_delta(S, K, T, sig, r, q, True) - bs_delta(S, K, T, sig, r, q, False), np.exp(-q * T), atol=1e-12
    )


@pytest.mark.parametrize("is_call", [True, False])
def test_greeks_match_finite_differences(is_call):
    S, K, T, sig, r, q = 100.0, 95.0, 0.4, 0.35, 0.03, 0.01
    h = 1e-3 * S
    price = lambda s=S, t=T, v=sig: bs_price(s, K, t, v, r, q, is_call)  # noqa: E731
    fd_delta = (price(S + 0.01) - price(S - 0.01)) / 0.02
    fd_gamma = (price(S + h) - 2 * price() + price(S - h)) / h**2
    fd_vega = (price(v=sig + 1e-5) - price(v=sig - 1e-5)) / 2e-5
    fd_theta = -(price(t=T + 1e-6) - price(t=T - 1e-6)) / 2e-6
    assert bs_delta(S, K, T, sig, r, q, is_call) == pytest.approx(fd_delta, rel=1e-6)
    assert bs_gamma(S, K, T, sig, r, q, is_call) == pytest.approx(fd_gamma, rel=1e-4)
    assert bs_vega(S, K, T, sig, r, q, is_call) == pytest.approx(fd_vega, rel=1e-6)
    assert bs_theta(S, K, T, sig, r, q, is_call) == pytest.approx(fd_theta, rel=1e-5)


def test_expiry_and_zero_vol_limits():
    assert bs_price(110, 100, 0.0, 0.3, 0, 0, True) == pytest.approx(10.0)
    assert bs_price(90, 100, -1.0, 0.3, 0, 0, False) == pytest.approx(10.0)
    assert bs_delta(110, 100, 0.0, 0.3, 0, 0, True) == 1.0
    assert bs_delta(110, 100, 0.0, 0.3, 0, 0, False) == 0.0
    assert bs_gamma(100, 100, 0.0, 0.3) == 0.0
    # deterministic limit: discounted forward intrinsic value
    assert bs_price(100, 100, 1.0, 0.0, 0.05, 0.0, True) == pytest.approx(100 - 100 * np.exp(-0.05))
    # a tiny time to expiry converges to intrinsic
    assert bs_price(110, 100, 1e-10, 0.3, 0, 0, True) == pytest.approx(10.0, abs=1e-6)


def test_scalar_versions_equal_vectorised():
    rng = np.random.default_rng(1)
    for _ in range(50):
        S, K = rng.uniform(50, 150, 2)
        T, sig = rng.uniform(-0.1, 1.0), rng.uniform(0.0, 1.2)
        r, q = rng.uniform(0, 0.05, 2)
        for is_call in (True, False):
            assert bs_price_scalar(S, K, T, sig, r, q, is_call) == pytest.approx(
                float(bs_price(S, K, T, sig, r, q, is_call)), rel=1e-12, abs=1e-12
            )
            assert bs_delta_scalar(S, K, T, sig, r, q, is_call) == pytest.approx(
                float(bs_delta(S, K, T, sig, r, q, is_call)), rel=1e-12, abs=1e-14
            )
        assert bs_gamma_scalar(S, K, T, sig, r, q) == pytest.approx(
            float(bs_gamma(S, K, T, sig, r, q)), rel=1e-12, abs=1e-14
        )


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="positive"):
        bs_price(-1.0, 100, 1.0, 0.2)
