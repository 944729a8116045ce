"""The z-score pairs rule, its P&L and costs, and the no-cointegration surrogates."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hedgeopt.stats import Sharpe
from simulators.markets.surrogates import independent_block_bootstrap
from simulators.performance import annualised_sharpe, max_drawdown
from simulators.trading.pairs_trading import ZScoreRule, buy_and_hold, positions, trade_window


def test_positions_enter_exit_stop_and_rearm():
    z = np.array([0.0, 2.5, 1.0, 0.3, -2.5, -4.5, -3.0, -1.0, -2.5, 5.0])
    got = positions(z, ZScoreRule(entry_z=2.0, exit_z=0.5, stop_z=4.0))
    # short above 2, exit at 0.3; long below -2, stopped at -4.5, no re-entry until |z| < 2,
    # long again at -2.5, then stopped (z beyond the stop level) and no entry beyond the stop
    assert got.tolist() == [0, -1, -1, 0, 1, 0, 0, 0, 1, 0]


def test_rule_rejects_inconsistent_thresholds():
    with pytest.raises(ValueError, match="entry_z"):
        ZScoreRule(entry_z=2.0, exit_z=2.5, stop_z=4.0)
    with pytest.raises(ValueError, match="stop_z"):
        ZScoreRule(entry_z=2.0, exit_z=0.5, stop_z=1.5)


def test_trade_window_pnl_and_costs_by_hand():
    # spread = leg1 - leg2 with mean 0 and std 1: z = 2.5 (short), 1.0 (hold), 0.2 (exit), 0.0
    prices = np.array([[102.5, 100.0], [101.0, 100.0], [100.2, 100.0], [100.0, 100.0]])
    c = 10e-4
    out = trade_window(prices, np.array([1.0, -1.0]), 0.0, 1.0, ZScoreRule(2.0, 0.5, 4.0), 10.0)
    gross = 202.5  # |w| . P at entry: one unit of gross notional buys 1/202.5 spreads
    expected = [1.5 / gross - c, 0.8 / gross, -c * 200.2 / gross]
    np.testing.assert_allclose(out.returns, expected, rtol=1e-12)
    assert out.trade_pnls == pytest.approx([2.3 / gross - c - c * 200.2 / gross])
    assert out.traded == pytest.approx(1.0 + 200.2 / gross)
    assert out.days_in_market == 2


def test_open_position_is_closed_at_window_end_and_unusable_window_does_not_trade():
    prices = np.array([[97.0, 100.0], [98.0, 100.0], [99.0, 100.0]])  # z = -3, -2, -1: long, held
    out = trade_window(prices, np.array([1.0, -1.0]), 0.0, 1.0, ZScoreRule(2.0, 0.0, 4.0), 0.0)
    np.testing.assert_allclose(out.returns, [1.0 / 197.0, 1.0 / 197.0])
    assert len(out.trade_pnls) == 1 and out.trade_pnls[0] == pytest.approx(2.0 / 197.0)
    flat = trade_window(prices, np.array([1.0, -1.0]), 0.0, 0.0, ZScoreRule(), 5.0)
    assert not flat.returns.any() and flat.trade_pnls == []


def test_buy_and_hold_sharpe_and_drawdown():
    p = np.array([100.0, 110.0, 99.0, 104.5])
    r = buy_and_hold(p, cost_bps=10.0)
    np.testing.assert_allclose(r, [0.1 - 1e-3, -0.11, 0.055])
    assert max_drawdown(r) == pytest.approx(0.11)
    assert annualised_sharpe(r) == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252))
    assert annualised_sharpe(r) == pytest.approx(float(Sharpe(252)(r[:, None])))
    zeros = np.zeros(50)  # no trade: no risk, no return, a Sharpe of 0 (not NaN)
    assert annualised_sharpe(zeros) == 0.0 and float(Sharpe(252)(zeros[:, None])) == 0.0


def test_surrogates_keep_each_legs_returns_and_break_the_link():
    rng = np.random.default_rng(5)
    common = np.cumsum(rng.normal(0, 0.01, 600))
    logp = np.column_stack([common + rng.normal(0, 0.002, 600), 0.9 * common + rng.normal(0, 0.002, 600)])
    prices = 50.0 * np.exp(logp)
    surr = independent_block_bootstrap(prices, 40, 20, np.random.default_rng(1))
    assert surr.shape == (40, 600, 2)
    np.testing.assert_allclose(surr[:, 0], np.broadcast_to(prices[0], (40, 2)))
    real_r = np.diff(np.log(prices), axis=0)
    surr_r = np.diff(np.log(surr), axis=1)
    for leg in range(2):  # every surrogate return is one of that leg's own returns
        assert np.isin(np.round(surr_r[..., leg], 9), np.round(real_r[:, leg], 9)).all()
    real_corr = np.corrcoef(real_r.T)[0, 1]
    surr_corr = np.mean([np.corrcoef(s.T)[0, 1] for s in surr_r])
    assert real_corr > 0.9 and abs(surr_corr) < 0.1
    again = independent_block_bootstrap(prices, 40, 20, np.random.default_rng(1))
    np.testing.assert_array_equal(surr, again)
    with pytest.raises(ValueError, match="positive"):
        independent_block_bootstrap(-prices, 2, 5, rng)
