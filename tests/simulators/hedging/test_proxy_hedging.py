"""The proxy-hedging engine's arithmetic: rebalance calendar, holding, constraints, costs, metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulators.hedging.proxy_hedging import apply_constraints, hedge_metrics, rebalance_mask, run_hedge
from simulators.performance import max_drawdown


def test_rebalance_calendar() -> None:
    idx = pd.DatetimeIndex(
        ["2020-01-30", "2020-01-31", "2020-02-03", "2020-02-04", "2020-02-10", "2020-03-02"]
    )
    assert rebalance_mask(idx, "daily").all()
    # weekly: first trading day of each ISO week (Thu 30 Jan starts the window)
    assert rebalance_mask(idx, "weekly").tolist() == [True, False, True, False, True, True]
    assert rebalance_mask(idx, "monthly").tolist() == [True, False, True, False, False, True]
    with pytest.raises(ValueError, match="rebalance"):
        rebalance_mask(idx, "hourly")


def test_units_held_between_rebalances_hand_computed() -> None:
    # one proxy; rebalance on days 0 and 2; 10 bps; exposure worth 100 at the start
    target = np.array([0.10, 0.0, -0.05])
    proxies = np.array([[0.20], [0.10], [0.0]])
    ratios = np.array([[0.5], [0.8], [0.7]])
    res = run_hedge(target, proxies, ratios, np.array([True, False, True]), cost_bps=10.0, notional=100.0)
    # day 0: short 0.5 x 100 = 50 of the proxy. Day 1 (no trade): the short is 50 x 1.2 = 60 against
    # an exposure of 110, a ratio of 6/11 (not the 0.8 the model wants). Day 2: before trading the
    # short is 60 x 1.1 = 66 on an exposure of 110 (0.6); it trades to 0.7 x 110 = 77, i.e. 0.1 x 110.
    np.testing.assert_allclose(res.positions[:, 0], [0.5, 6.0 / 11.0, 0.7])
    np.testing.assert_allclose(res.exposure, [100.0, 110.0, 110.0])
    np.testing.assert_allclose(res.turnover, [0.5, 0.0, 0.1], atol=1e-15)
    np.testing.assert_allclose(res.cost, [0.5e-3, 0.0, 0.1e-3], atol=1e-18)
    np.testing.assert_allclose(res.gross, [0.10 - 0.5 * 0.20, 0.0 - 6.0 / 11.0 * 0.10, -0.05 - 0.7 * 0.0])
    np.testing.assert_allclose(res.net, res.gross - res.cost)
    m = hedge_metrics(res, stability_window=2)
    assert m["total_cost"] == pytest.approx(0.5e-3 * 100.0 + 0.1e-3 * 110.0)  # currency: 0.05 + 0.011
    assert m["turnover"] == pytest.approx(0.6)
    var_u = np.var(target, ddof=1)
    assert m["effectiveness_gross"] == pytest.approx(1 - np.var(res.gross, ddof=1) / var_u)
    assert m["effectiveness"] == pytest.approx(1 - np.var(res.net, ddof=1) / var_u)
    assert m["sharpe"] == pytest.approx(res.net.mean() / res.net.std(ddof=1) * np.sqrt(252))
    # the same ratios rebalanced daily: what the model wants is held every day, and yesterday's drift is
    # traded back
    daily = run_hedge(target, proxies, ratios, np.ones(3, bool), cost_bps=10.0, notional=100.0)
    np.testing.assert_allclose(daily.positions[:, 0], [0.5, 0.8, 0.7])
    np.testing.assert_allclose(daily.turnover, [0.5, abs(0.8 - 6.0 / 11.0), abs(0.7 - 0.8 * 1.1 / 1.0)])


def _market(n: int = 120, m: int = 2, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    proxies = rng.normal(0.0003, 0.012, size=(n, m))
    target = proxies @ np.array([0.6, 0.3][:m]) + rng.normal(0.0, 0.004, size=n)
    ratios = 0.5 + 0.2 * np.sin(np.arange(n) / 9.0)[:, None] + np.zeros((1, m))
    return target, proxies, ratios


def test_buy_and_hold_matches_share_accounting() -> None:
    # rebalance only on day 0: the P&L is that of fixed share counts, computed here from prices
    target, proxies, ratios = _market()
    n = len(target)
    mask = np.zeros(n, bool)
    mask[0] = True
    res = run_hedge(target, proxies, ratios, mask, cost_bps=0.0, notional=1e6)
    p_t = np.concatenate([[50.0], 50.0 * np.cumprod(1 + target)])
    p_x = np.vstack([[[20.0, 80.0]], np.array([20.0, 80.0]) * np.cumprod(1 + proxies, axis=0)])
    shares_t = 1e6 / p_t[0]
    shares_x = ratios[0] * 1e6 / p_x[0]
    pnl = shares_t * np.diff(p_t) - (shares_x * np.diff(p_x, axis=0)).sum(axis=1)
    np.testing.assert_allclose(res.net, pnl / (shares_t * p_t[:-1]), rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(
        res.positions, shares_x * p_x[:-1] / (shares_t * p_t[:-1])[:, None], rtol=1e-10
    )


def test_weekly_with_costs_matches_share_loop() -> None:
    # an independent day-by-day book: share counts, prices, trades at the close before the day
    target, proxies, ratios = _market(seed=11)
    mask = rebalance_mask(pd.bdate_range("2021-01-04", periods=len(target)), "weekly")
    res = run_hedge(target, proxies, ratios, mask, cost_bps=7.0, notional=1e6)
    p_t, p_x, s_t, s_x = 40.0, np.array([25.0, 90.0]), 1e6 / 40.0, np.zeros(2)
    net, cost_ccy = [], 0.0
    for t in range(len(target)):
        value = s_t * p_t
        cost = 0.0
        if mask[t]:
            want = ratios[t] * value / p_x
            cost = float(np.abs(want - s_x) @ p_x) * 7e-4
            s_x = want
        n_t, n_x = p_t * (1 + target[t]), p_x * (1 + proxies[t])
        net.append((s_t * (n_t - p_t) - s_x @ (n_x - p_x) - cost) / value)
        cost_ccy += cost
        p_t, p_x = n_t, n_x
    np.testing.assert_allclose(res.net, net, rtol=1e-9, atol=1e-15)
    assert hedge_metrics(res)["total_cost"] == pytest.approx(cost_ccy, rel=1e-9)


def test_daily_is_constant_ratio_and_weekly_differs_without_costs() -> None:
    target, proxies, ratios = _market()
    idx = pd.bdate_range("2021-01-04", periods=len(target))
    daily = run_hedge(target, proxies, ratios, rebalance_mask(idx, "daily"), 0.0)
    np.testing.assert_allclose(daily.gross, target - (ratios * proxies).sum(axis=1), atol=1e-15)
    weekly = run_hedge(target, proxies, ratios, rebalance_mask(idx, "weekly"), 0.0)
    flat = run_hedge(
        target, proxies, np.repeat(ratios[:1], len(target), axis=0), rebalance_mask(idx, "weekly"), 0.0
    )
    mask = rebalance_mask(idx, "weekly")
    assert not np.allclose(weekly.gross, daily.gross)  # positions drift between rebalances
    np.testing.assert_allclose(weekly.positions[mask], ratios[mask])  # back on target on rebalance days
    assert (
        np.abs(
            weekly.positions[~mask]
            - ratios[np.maximum.accumulate(np.where(mask, np.arange(len(mask)), 0))][~mask]
        ).max()
        > 1e-4
    )
    # with costs, weekly trades less than daily (daily re-trades each day's drift), and a constant
    # ratio rebalanced weekly still trades its drift back
    assert weekly.turnover.sum() < daily.turnover.sum()
    assert flat.turnover[mask][1:].min() > 0.0


def test_constraints_clip_then_scale_gross() -> None:
    h = np.array([[3.0, -0.5, 0.5], [0.5, 0.5, 0.5], [-1.0, 1.5, 1.5]])
    out = apply_constraints(h, max_abs_ratio=2.0, max_gross_leverage=2.0)
    # row 0: clip 3 -> 2, gross 3 > 2: scale by 2/3 keeping direction
    np.testing.assert_allclose(out[0], np.array([2.0, -0.5, 0.5]) * (2.0 / 3.0))
    np.testing.assert_allclose(out[1], h[1])  # within both limits
    np.testing.assert_allclose(out[2], h[2] * (2.0 / 4.0))
    assert np.abs(out).max() <= 2.0 and np.abs(out).sum(axis=1).max() <= 2.0 + 1e-12
    np.testing.assert_allclose(apply_constraints(h, None, None), h)


def test_constraints_applied_in_engine() -> None:
    target = np.array([0.01, 0.02])
    proxies = np.array([[0.01], [0.02]])
    res = run_hedge(target, proxies, np.array([[5.0], [5.0]]), np.array([True, True]), 0.0, max_abs_ratio=1.0)
    np.testing.assert_allclose(res.positions[:, 0], [1.0, 1.0])
    np.testing.assert_allclose(res.gross, [0.0, 0.0])  # a perfect hedge at the capped ratio


def test_max_drawdown() -> None:
    assert max_drawdown(np.array([0.1, -0.05, -0.1, 0.2, -0.02])) == pytest.approx(0.15)
    assert max_drawdown(np.array([-0.03, 0.01])) == pytest.approx(0.03)  # from the starting 0
    assert max_drawdown(np.array([0.01, 0.02])) == 0.0


def test_rejects_bad_input() -> None:
    t = np.array([0.01, 0.02])
    p = np.array([[0.01], [0.02]])
    with pytest.raises(ValueError, match="first day"):
        run_hedge(t, p, np.ones((2, 1)), np.array([False, True]), 1.0)
    with pytest.raises(ValueError, match="NaN"):
        run_hedge(t, p, np.array([[np.nan], [1.0]]), np.array([True, True]), 1.0)
