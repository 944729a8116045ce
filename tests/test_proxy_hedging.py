"""The proxy-hedging engine's arithmetic: rebalance calendar, holding, constraints, costs, metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulators.proxy_hedging import (
    apply_constraints,
    hedge_metrics,
    max_drawdown,
    rebalance_mask,
    run_hedge,
)


def test_rebalance_calendar() -> None:
    idx = pd.DatetimeIndex(["2020-01-30", "2020-01-31", "2020-02-03", "2020-02-04", "2020-02-10", "2020-03-02"])
    assert rebalance_mask(idx, "daily").all()
    # weekly: first trading day of each ISO week (Thu 30 Jan starts the window)
    assert rebalance_mask(idx, "weekly").tolist() == [True, False, True, False, True, True]
    assert rebalance_mask(idx, "monthly").tolist() == [True, False, True, False, False, True]
    with pytest.raises(ValueError, match="rebalance"):
        rebalance_mask(idx, "hourly")


def test_ratios_held_between_rebalances_and_cost_arithmetic() -> None:
    target = np.array([0.01, -0.02, 0.015, 0.005])
    proxies = np.array([[0.02, 0.0], [-0.01, 0.01], [0.01, 0.02], [0.0, -0.01]])
    ratios = np.array([[0.5, 0.2], [0.9, 0.9], [0.4, 0.1], [0.7, 0.3]])
    mask = np.array([True, False, True, False])
    res = run_hedge(target, proxies, ratios, mask, cost_bps=10.0, notional=1e6)
    held = np.array([[0.5, 0.2], [0.5, 0.2], [0.4, 0.1], [0.4, 0.1]])
    np.testing.assert_allclose(res.positions, held)
    np.testing.assert_allclose(res.gross, target - (held * proxies).sum(axis=1))
    # turnover: put on 0.7 on day 0, nothing on day 1, |0.4-0.5|+|0.1-0.2| = 0.2 on day 2
    np.testing.assert_allclose(res.turnover, [0.7, 0.0, 0.2, 0.0])
    np.testing.assert_allclose(res.cost, [0.7e-3, 0.0, 0.2e-3, 0.0])
    np.testing.assert_allclose(res.net, res.gross - res.cost)
    m = hedge_metrics(res, stability_window=2)
    assert m["total_cost"] == pytest.approx(0.9e-3 * 1e6)
    assert m["turnover"] == pytest.approx(0.9)
    var_u = np.var(target, ddof=1)
    assert m["effectiveness_gross"] == pytest.approx(1 - np.var(res.gross, ddof=1) / var_u)
    assert m["effectiveness"] == pytest.approx(1 - np.var(res.net, ddof=1) / var_u)
    assert m["sharpe"] == pytest.approx(res.net.mean() / res.net.std(ddof=1) * np.sqrt(252))
    # 2-day rolling std of held ratios: non-zero only across the day-2 change (|0.1| / sqrt 2 per proxy)
    assert m["beta_stability"] == pytest.approx((0.0 + 0.1 / np.sqrt(2) + 0.0) / 3)


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
