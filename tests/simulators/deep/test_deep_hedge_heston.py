"""Heston pricing and greeks, and the classical hedges the deep hedger is compared with."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from simulators.deep.sv_hedges import banded_hedges, whalley_wilmott_half_width
from simulators.markets.sv_paths import PathSpec, bs_call_price, simulate_heston
from simulators.pricing.heston import (
    HestonParams,
    heston_call_price,
    heston_greeks,
    integrated_variance,
    min_variance_delta,
)

torch.set_num_threads(1)
STUDY = HestonParams(v0=0.04, kappa=2.0, theta=0.04, xi=0.5, rho=-0.7)


def test_heston_price_matches_published_reference() -> None:
    # Fang & Oosterlee (2008), the COS method paper, Heston test: S0 = K = 100, T = 1, r = q = 0,
    # kappa 1.5768, theta 0.0398, eta 0.5751, rho -0.5711, v0 0.0175 -> 5.785155450
    p = HestonParams(v0=0.0175, kappa=1.5768, theta=0.0398, xi=0.5751, rho=-0.5711)
    assert heston_call_price(100.0, 100.0, 1.0, p) == pytest.approx(5.785155450, abs=1e-7)


def test_heston_price_matches_monte_carlo_within_three_standard_errors() -> None:
    n = 60_000
    gen = torch.Generator().manual_seed(2024)
    paths = simulate_heston(PathSpec(n, 25, 0.25), STUDY, substeps=4, generator=gen)
    s_T = paths.spot[:, -1].numpy()
    payoff = np.maximum(s_T - 100.0, 0.0)
    # the martingale S_T - S_0 (zero mean, known exactly) as a control variate
    cv = s_T - 100.0
    b = np.cov(payoff, cv)[0, 1] / cv.var(ddof=1)
    adj = payoff - b * cv
    mc, se = adj.mean(), adj.std(ddof=1) / math.sqrt(n)
    price = heston_call_price(100.0, 100.0, 0.25, STUDY)
    assert abs(price - mc) < 3 * se, (price, mc, se)
    # and it is not the Black-Scholes price at sqrt(v0), which the premium used to be
    assert float(bs_call_price(100.0, 100.0, 0.25, 0.2)) - price > 10 * se


def test_heston_limits() -> None:
    assert heston_call_price(120.0, 100.0, 0.0, STUDY) == 20.0
    with pytest.raises(ValueError, match="rho"):
        HestonParams(rho=-1.0)
    # tiny vol of vol and v0 = theta: Black-Scholes at sqrt(theta)
    p = HestonParams(v0=0.04, kappa=2.0, theta=0.04, xi=1e-4, rho=0.0)
    for k in (80.0, 100.0, 125.0):
        assert heston_call_price(100.0, k, 0.5, p) == pytest.approx(
            float(bs_call_price(100.0, k, 0.5, 0.2)), abs=1e-5
        )
    assert float(integrated_variance(np.array(0.09), 1.0, STUDY)) == pytest.approx(
        0.04 + 0.05 * (1 - math.exp(-2.0)) / 2.0
    )


def test_vectorised_greeks_match_quad_and_finite_differences() -> None:
    rng = np.random.default_rng(0)
    n = 60
    s = 100 * np.exp(rng.normal(0, 0.12, n))
    v = rng.uniform(0.0, 0.15, n)
    v[:8] = 0.0  # full truncation leaves v = 0 on paths
    t = rng.choice(np.linspace(0.25 / 30, 0.25, 30), n)
    g = heston_greeks(s, v, t, 100.0, STUDY)

    def quad(ds: float = 0.0, dv: np.ndarray | float = 0.0) -> np.ndarray:
        dv = np.broadcast_to(dv, s.shape)
        return np.array(
            [
                heston_call_price(a + ds, 100.0, c, STUDY, b + e)
                for a, b, c, e in zip(s, v, t, dv, strict=False)
            ]
        )

    ref = quad()
    assert np.abs(g["price"] - ref).max() < 1e-4
    h = 1e-2
    up, dn = quad(ds=h), quad(ds=-h)
    assert np.abs(g["delta"] - (up - dn) / (2 * h)).max() < 1e-4
    assert np.abs(g["gamma"] - (up - 2 * ref + dn) / h**2).max() < 2e-3
    hv = 1e-5
    live = v > 2 * hv
    fd_v = (quad(dv=hv) - quad(dv=-hv * live)) / (hv * (1 + live))
    assert np.abs(g["dv"] - fd_v).max() < 1e-2 * max(1.0, np.abs(fd_v).max())
    assert np.all((g["delta"] >= 0) & (g["delta"] <= 1))


def test_min_variance_delta_reduces_one_step_hedging_variance() -> None:
    """Over one short step from the same state, dC - h dS has the least variance at the MV delta."""
    n, dt = 200_000, 1.0 / 2520
    rng = np.random.default_rng(1)
    s0, v0, tau = 100.0, 0.04, 0.2
    z1 = rng.standard_normal(n)
    z2 = STUDY.rho * z1 + math.sqrt(1 - STUDY.rho**2) * rng.standard_normal(n)
    s1 = s0 * np.exp(-0.5 * v0 * dt + math.sqrt(v0 * dt) * z1)
    v1 = np.maximum(v0 + STUDY.kappa * (STUDY.theta - v0) * dt + STUDY.xi * math.sqrt(v0 * dt) * z2, 0.0)
    c0 = heston_greeks(np.array([s0]), np.array([v0]), np.array([tau]), 100.0, STUDY)
    c1 = heston_greeks(s1, v1, np.full(n, tau - dt), 100.0, STUDY)["price"]
    dc, ds = c1 - c0["price"][0], s1 - s0
    h_star = np.cov(dc, ds)[0, 1] / ds.var(ddof=1)  # regression slope = best linear hedge
    mv = float(min_variance_delta(c0, np.array([s0]), STUDY)[0])
    assert mv == pytest.approx(h_star, abs=0.01)
    assert abs(float(c0["delta"][0]) - h_star) > 0.03  # the plain delta is off by the vanna term


def test_whalley_wilmott_band_by_hand() -> None:
    # H = (3 c S Gamma^2 / (2 lambda))^(1/3)
    assert float(whalley_wilmott_half_width(100.0, 0.04, 0.002, 1.0)) == pytest.approx(
        (3 * 0.002 * 100 * 0.0016 / 2) ** (1 / 3)
    )
    with pytest.raises(ValueError, match="risk_aversion"):
        whalley_wilmott_half_width(100.0, 0.04, 0.002, 0.0)
    targets = torch.tensor([[0.50, 0.55, 0.70, 0.60, 0.45]])
    hw = torch.full_like(targets, 0.1)
    # from 0: to the near edge 0.40; band [0.45, 0.65] -> 0.45; [0.60, 0.80] -> 0.60;
    # [0.50, 0.70] holds 0.60; [0.35, 0.55] -> 0.55
    assert torch.allclose(banded_hedges(targets, hw), torch.tensor([[0.40, 0.45, 0.60, 0.60, 0.55]]))
    assert torch.equal(banded_hedges(targets, torch.zeros_like(targets)), targets)
