"""Identities of the tail-hedge numerics: put payoffs and marks, spreads, roll calendar, no look-ahead."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from simulators.hedging.put_overlay import Market, PutPolicy, run_overlay
from simulators.hedging.trend_overlay import trailing_mean, trend_exposure
from simulators.markets.stress_paths import StressModel, simulate_stress_paths
from simulators.pricing.black_scholes import bs_price
from simulators.pricing.implied_vol import SkewVolModel, trailing_realised_vol

DT = 1.0 / 252.0


def _path(n: int = 80, seed: int = 3, vol: float = 0.25) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(np.r_[0.0, vol * math.sqrt(DT) * rng.standard_normal(n)]))


def _put_vol(S, K, atm, m: Market):
    return SkewVolModel(m.vol_premium, m.skew, m.vol_floor).vol(S, K, atm / (1 + m.vol_premium))


def test_put_held_to_expiry_pays_intrinsic() -> None:
    spot = _path(30)
    spot[10] = 80.0  # deep in the money at expiry
    atm = np.full_like(spot, 0.2)
    m = Market(equity_yield=0.0, half_spread=0.0)
    pol = PutPolicy(moneyness=0.95, tenor_days=10, budget=0.05)
    res = run_overlay(spot, atm, np.zeros_like(spot), pol, m, start=0)  # cash + puts only
    n, K = res.contracts[0, 0], res.strike[0, 0]
    assert K == pytest.approx(0.95 * spot[0])
    ask = bs_price(spot[0], K, 10 / 252, _put_vol(spot[0], K, 0.2, m), 0.0, 0.0, False)
    assert n * ask == pytest.approx(0.05 * 10 / 252)  # budget x roll interval
    assert res.value[0, 10] == pytest.approx(1.0 - n * ask + n * max(K - spot[10], 0.0))
    assert res.strike[0, 10] == pytest.approx(0.95 * spot[10])  # rolled at expiry


def test_daily_mark_is_black_scholes_with_the_skew() -> None:
    spot = _path(40)
    atm = np.linspace(0.15, 0.3, spot.size)
    m = Market(equity_yield=0.015, rate=0.01, half_spread=0.0, skew=1.2)
    pol = PutPolicy(moneyness=0.9, tenor_days=30, budget=0.02)
    res = run_overlay(spot, atm, np.zeros_like(spot), pol, m, start=0)
    n, K = res.contracts[0, 0], res.strike[0, 0]
    t = 17
    cash = (1.0 - res.premium[0, 1]) * (1 + m.rate * DT) ** t
    mark = bs_price(
        spot[t], K, (30 - t) / 252, _put_vol(spot[t], K, atm[t], m), m.rate, m.equity_yield, False
    )
    assert res.value[0, t] == pytest.approx(cash + n * mark, rel=1e-12)


def test_zero_budget_is_the_unhedged_portfolio() -> None:
    spot = _path(60)
    m = Market(equity_yield=0.02)
    res = run_overlay(spot, np.full_like(spot, 0.2), np.ones_like(spot), PutPolicy(budget=0.0), m, start=5)
    expected = spot[6:] / spot[5:-1] - 1.0 + 0.02 * DT
    np.testing.assert_allclose(res.window("returns")[0], expected, rtol=0, atol=1e-13)
    assert np.all(res.window("premium") == 0) and np.all(res.window("spread_cost") == 0)


@pytest.mark.parametrize("mode", ["vol", "premium"])
def test_costs_equal_the_stated_spread(mode: str) -> None:
    spot = _path(40)
    atm = np.full_like(spot, 0.22)
    half = 0.02 if mode == "vol" else 0.05
    m = Market(equity_yield=0.0, spread_mode=mode, half_spread=half)
    pol = PutPolicy(moneyness=0.9, tenor_days=20, roll_days_before=5, budget=0.03)
    res = run_overlay(spot, atm, np.zeros_like(spot), pol, m, start=0)
    n, K = res.contracts[0, 0], res.strike[0, 0]

    def quotes(t: int, tau: float) -> tuple[float, float, float]:
        sig = _put_vol(spot[t], K, atm[t], m)
        mid = float(bs_price(spot[t], K, tau, sig, 0.0, 0.0, False))
        if mode == "vol":
            return (
                float(bs_price(spot[t], K, tau, sig - half, 0.0, 0.0, False)),
                mid,
                float(bs_price(spot[t], K, tau, sig + half, 0.0, 0.0, False)),
            )
        return mid * (1 - half), mid, mid * (1 + half)

    _, mid0, ask0 = quotes(0, 20 / 252)
    assert res.premium[0, 1] == pytest.approx(n * ask0)  # spend at the ask (V = 1)
    assert res.spread_cost[0, 1] == pytest.approx(n * (ask0 - mid0))
    bid15, mid15, _ = quotes(15, 5 / 252)  # closed 5 days before expiry
    sold = res.spread_cost[0, 16] * res.value[0, 15] - n * (mid15 - bid15)
    new_n, new_K = res.contracts[0, 15], res.strike[0, 15]
    sig_new = _put_vol(spot[15], new_K, atm[15], m)
    mid_new = float(bs_price(spot[15], new_K, 20 / 252, sig_new, 0.0, 0.0, False))
    assert sold == pytest.approx(
        res.premium[0, 16] * res.value[0, 15] - new_n * mid_new
    )  # the new buy's spread
    assert res.value[0, 15] == pytest.approx(1.0 - n * ask0 + n * mid15)


def test_roll_calendar() -> None:
    spot = np.linspace(100.0, 140.0, 61)  # rising: every purchase has a new strike
    pol = PutPolicy(moneyness=0.9, tenor_days=10, roll_days_before=3, budget=0.01)
    res = run_overlay(spot, np.full_like(spot, 0.2), np.ones_like(spot), pol, Market(), start=4)
    changes = np.flatnonzero(np.diff(res.strike[0, 4:-1])) + 5
    np.testing.assert_array_equal(changes, np.arange(11, 60, 7))  # every tenor - roll_before days
    np.testing.assert_allclose(res.strike[0, changes], 0.9 * spot[changes])
    held = PutPolicy(moneyness=0.9, tenor_days=10, roll_days_before=0, budget=0.01)
    res = run_overlay(spot, np.full_like(spot, 0.2), np.ones_like(spot), held, Market(), start=0)
    np.testing.assert_array_equal(np.flatnonzero(np.diff(res.strike[0, :-1])) + 1, np.arange(10, 60, 10))
    with pytest.raises(ValueError, match="roll_days_before"):
        PutPolicy(tenor_days=10, roll_days_before=10)


def test_hedge_ratio_sizing_covers_the_equity_held() -> None:
    spot = _path(20)
    pol = PutPolicy(sizing="hedge_ratio", hedge_ratio=0.5, tenor_days=5)
    res = run_overlay(spot, np.full_like(spot, 0.2), np.full_like(spot, 0.8), pol, Market(), start=0)
    assert res.contracts[0, 0] == pytest.approx(0.5 * 0.8 / spot[0])


def test_realised_vol_matches_a_direct_window_and_never_looks_ahead() -> None:
    spot = _path(120)
    lr = np.diff(np.log(spot))
    rv = trailing_realised_vol(lr, 21)
    for t in (5, 10, 21, 60, 120):
        window = lr[max(0, t - 21) : t]
        assert rv[t] == pytest.approx(math.sqrt(252 * np.mean(window**2)))
    assert np.all(np.isnan(rv[:5]))
    shocked = spot.copy()
    shocked[70:] *= 0.5  # a crash after close 69 changes nothing priced at or before it
    rv2 = trailing_realised_vol(np.diff(np.log(shocked)), 21)
    np.testing.assert_array_equal(rv[5:70], rv2[5:70])
    assert rv2[70] > rv[70]


def test_trend_signal_matches_a_rolling_mean_and_never_looks_ahead() -> None:
    spot = _path(300, seed=5)
    ma = pd.Series(spot).rolling(50, min_periods=1).mean().to_numpy()
    np.testing.assert_allclose(trailing_mean(spot, 50), ma, rtol=1e-12)
    expo = trend_exposure(spot, 50, 0.7)
    np.testing.assert_allclose(expo, np.where(spot < ma, 1.0 - 0.7, 1.0), rtol=0, atol=1e-15)
    shocked = spot.copy()
    shocked[200:] *= 0.6
    np.testing.assert_array_equal(trend_exposure(shocked, 50, 0.7)[:200], expo[:200])
    # the engine's returns up to close 200 ignore what happens after it, too
    m = Market()

    def atm(s):
        return SkewVolModel().atm(trailing_realised_vol(np.diff(np.log(s)), 21))

    a = run_overlay(spot, atm(spot), expo, PutPolicy(), m, start=21)
    b = run_overlay(shocked, atm(shocked), trend_exposure(shocked, 50, 0.7), PutPolicy(), m, start=21)
    np.testing.assert_array_equal(a.returns[0, :200], b.returns[0, :200])
    assert a.returns[0, 200] != b.returns[0, 200]


def test_trend_return_is_exposure_times_index_return() -> None:
    spot = _path(50)
    expo = np.where(np.arange(spot.size) % 7 < 3, 0.0, 1.0)
    m = Market(equity_yield=0.0, trend_cost=0.0)
    r = run_overlay(spot, np.full_like(spot, 0.2), expo, PutPolicy(budget=0.0), m, start=0).window("returns")[
        0
    ]
    np.testing.assert_allclose(r, expo[:-1] * (spot[1:] / spot[:-1] - 1.0), atol=1e-13)


def test_stress_paths_are_seeded_and_compensated() -> None:
    model = StressModel()
    a = simulate_stress_paths(model, 20000, 252, seed=1)
    np.testing.assert_array_equal(
        simulate_stress_paths(model, 50, 30, seed=1), simulate_stress_paths(model, 50, 30, seed=1)
    )
    assert not np.array_equal(a, simulate_stress_paths(model, 20000, 252, seed=2))
    growth = a[:, -1] / a[:, 0]
    se = growth.std() / math.sqrt(growth.size)
    assert abs(growth.mean() - math.exp(model.drift)) < 4 * se  # jumps compensated: E[S_T] = S_0 e^{drift T}
    dd = 1.0 - a / np.maximum.accumulate(a, axis=1)
    assert (dd.max(axis=1) > 0.2).mean() > 0.2  # a stress set: many paths with a crash
    with pytest.raises(ValueError, match="unknown key"):
        StressModel.from_config({"drift": 0.05, "jumps": 2})
