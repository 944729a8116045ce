"""spread_hedge_universe: pair selection on formation rows only, and the pairs portfolio's evaluations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.tsa.stattools import coint
from statsmodels.tsa.vector_ar.vecm import coint_johansen
from test_spread_hedge_objective import _contract, _paired_on_held_out_days

from hedgeopt.config.compose import compose
from hedgeopt.execution.objective_builder import build_objective
from hedgeopt.protocol import NullReporter
from hedgeopt.stats import paired_difference
from objectives.spread_hedge_universe.objective import SpreadHedgeUniverseObjective
from simulators.trading import pair_selection as ps
from simulators.trading.pairs_backtest import RatioEstimator, SpreadSettings
from simulators.trading.pairs_trading import ZScoreRule, trade_window
from simulators.trading.universe_backtest import (
    Selection,
    UniverseBacktest,
    walk_forward_universe,
)

FAST = {"spread.formation_window": 120, "spread.trading_window": 60}


def _planted_universe(rows: int = 300, assets: int = 12, seed: int = 0) -> np.ndarray:
    """Independent random walks (log prices) and one more asset cointegrated with asset 3."""
    rng = np.random.default_rng(seed)
    logs = 4.0 + np.cumsum(rng.normal(0.0, 0.015, size=(rows, assets)), axis=0)
    noise = np.zeros(rows)
    for t in range(1, rows):  # AR(1), half-life about 2 days
        noise[t] = 0.7 * noise[t - 1] + rng.normal(0.0, 0.3)
    planted = 0.8 * np.exp(logs[:, 3]) + 10.0 + noise
    return np.column_stack([np.exp(logs), planted])


@pytest.fixture(scope="module")
def objective() -> SpreadHedgeUniverseObjective:
    return build_objective(compose(["+study=spread_hedge_universe", "surrogates.n=8"]))


# ------------------------------------------------------------------ the tests themselves


def test_engle_granger_and_johansen_match_statsmodels():
    v = _planted_universe(rows=150)
    pairs = [(3, 12), (0, 1), (5, 9), (12, 7)]
    y, x = v[:, [i for i, _ in pairs]].T, v[:, [j for _, j in pairs]].T
    stats = ps.engle_granger_statistic(y, x)
    trace = ps.johansen_trace(np.stack([y, x], axis=2))
    for k, (i, j) in enumerate(pairs):
        ref = coint(v[:, i], v[:, j], maxlag=1, autolag=None)
        assert stats[k] == pytest.approx(ref[0], rel=1e-9)
        assert ps.engle_granger_p_values(stats[k : k + 1])[0] == pytest.approx(ref[1], rel=1e-9)
        johansen = coint_johansen(v[:, [i, j]], 0, 1)
        assert trace[k] == pytest.approx(johansen.lr1[0], rel=1e-9)
        vector = johansen.evec[:, 0]
        assert ps.johansen_ratios(np.stack([y, x], axis=2))[k] == pytest.approx(
            -vector[1] / vector[0], rel=1e-9
        )


@pytest.mark.parametrize("method", ["ols", "tls", "johansen", "box_tiao", "min_half_life", "min_adf"])
def test_batched_estimates_equal_the_single_pair_estimator(method):
    """Ratios, means and stds batched per window are those of the single-pair estimator."""
    v = _planted_universe()
    constant = method in ("ols", "tls")
    s = SpreadSettings(method, constant, 80, 40, ZScoreRule(1.5, 0.3, 4.0), 5.0)
    sel = Selection("johansen", 0.10, 4)
    walk = walk_forward_universe(UniverseBacktest(v, 30), s, sel, 100, 300)
    bt = UniverseBacktest(v, 30)
    assert sum(len(c) for c in walk.selected) >= 5
    for (t, _e), chosen in zip(walk.windows, walk.selected, strict=False):
        for (i, j), est in zip(chosen, bt.estimates(s, t, chosen), strict=False):
            ref = RatioEstimator(v[:, [i, j]], ["a", "b"]).estimate(method, constant, 80, t)
            if ref.beta is None:  # the search found no ratio in this window: neither path has one
                assert est.beta is None
                continue
            assert est.beta == pytest.approx(ref.beta, rel=1e-8)
            assert (est.mean, est.std) == pytest.approx((ref.mean, ref.std), rel=1e-8, nan_ok=True)


@pytest.mark.parametrize("method", ["min_half_life", "min_adf"])
def test_numerical_ratios_agree_batched_and_single_when_the_search_gives_none(method):
    """Random walks against a stationary leg: the searches diverge (no ratio) on some windows and
    not on others; the universe's batch and the single-pair estimator say the same every time,
    to the bit, whatever the memory layout of the prices (a Fortran-ordered copy)."""
    rng = np.random.default_rng(4)
    walks = 100.0 + np.cumsum(rng.normal(0.0, 1.0, size=(400, 3)), axis=0)
    stationary = np.zeros(400)
    for t in range(1, 400):
        stationary[t] = 0.8 * stationary[t - 1] + rng.normal(0.0, 1.0)
    v = np.column_stack([walks, 20.0 + stationary, 0.8 * walks[:, 0] + 5.0 + stationary])
    s = SpreadSettings(method, False, 80, 40, ZScoreRule(1.5, 0.3, 4.0), 5.0)
    pairs = np.array([(0, 3), (1, 3), (0, 4), (1, 2)])
    verdicts = set()
    for values in (v, np.asfortranarray(v)):
        bt = UniverseBacktest(values, 10)
        for t in range(80, 400, 40):
            for (i, j), est in zip(pairs, bt.estimates(s, t, pairs), strict=True):
                ref = RatioEstimator(v[:, [i, j]], ["a", "b"]).estimate(method, False, 80, t)
                verdicts.add(ref.beta is None)
                if ref.beta is None:
                    assert est.beta is None and math.isnan(est.mean) and math.isnan(est.std)
                else:
                    assert est.beta is not None and est.beta.tolist() == ref.beta.tolist()
                    assert (est.mean, est.std) == (ref.mean, ref.std)
    assert verdicts == {True, False}  # both cases met


def test_prescreen_keeps_the_most_correlated_pairs():
    v = _planted_universe()
    r = np.diff(np.log(v), axis=0)
    corr = np.corrcoef(r, rowvar=False)
    pairs = ps.prescreen(v, 5)
    expected = sorted(((corr[i, j], i, j) for i in range(13) for j in range(i + 1, 13)), reverse=True)[:5]
    assert [tuple(p) for p in pairs] == [(i, j) for _, i, j in expected]


@pytest.mark.parametrize("test", ps.TESTS)
def test_selection_finds_the_planted_pair_among_random_walks(test):
    v = _planted_universe()
    for candidates in (10, 78):  # after a tight pre-screen, and testing every pair
        s = ps.screen(v[50:300], test, candidates)
        assert tuple(s.pairs[0]) == (3, 12)
        assert s.p_value[0] <= 0.01
        assert [tuple(p) for p in s.select(1, 0.01)] == [(3, 12)]
        # random walks are rejected about as often as the level says, not routinely
        assert np.mean(s.p_value[1:] <= 0.05) <= 0.25


def test_screen_on_random_walks_alone_rarely_selects():
    rng = np.random.default_rng(1)
    v = np.exp(4.0 + np.cumsum(rng.normal(0.0, 0.015, size=(250, 12)), axis=0))
    s = ps.screen(v, "engle_granger", 66)
    assert np.mean(s.p_value <= 0.05) <= 0.2
    # the weaker direction: neither direction's statistic is below the one kept
    a, b = v[:, s.pairs[:, 0]].T, v[:, s.pairs[:, 1]].T
    assert np.all(s.statistic >= ps.engle_granger_statistic(a, b) - 1e-12)
    assert np.all(s.statistic >= ps.engle_granger_statistic(b, a) - 1e-12)


@pytest.mark.parametrize("test", ps.TESTS)
def test_selection_uses_formation_rows_only(test):
    """Changing every row from the window start on leaves that window's selection as it was."""
    v = _planted_universe()
    t, formation = 200, 120
    shocked = v.copy()
    shocked[t:] *= np.random.default_rng(5).uniform(0.5, 1.5, size=shocked[t:].shape)
    a = UniverseBacktest(v, 30).screen(test, formation, t)
    b = UniverseBacktest(shocked, 30).screen(test, formation, t)
    np.testing.assert_array_equal(a.pairs, b.pairs)
    np.testing.assert_array_equal(a.statistic, b.statistic)
    assert not np.array_equal(
        UniverseBacktest(v, 30).screen(test, formation, t + 20).statistic,
        UniverseBacktest(shocked, 30).screen(test, formation, t + 20).statistic,
    )


def test_portfolio_is_the_chosen_pairs_over_k_slots():
    """Each window's portfolio return: the chosen pairs' own z-score trades (ratio, mean and std
    from an OLS fit on the formation rows, written here) summed and divided by k."""
    v = _planted_universe()
    s = SpreadSettings("ols", False, 100, 50, ZScoreRule(1.5, 0.3, 4.0), 5.0)
    sel = Selection("engle_granger", 0.10, 3)
    bt = UniverseBacktest(v, 20)
    walk = walk_forward_universe(bt, s, sel, 100, 300)
    assert any(len(c) for c in walk.selected)
    for (t, e), chosen in zip(walk.windows, walk.selected, strict=False):
        expected = np.zeros(e - t)
        for i, j in chosen:
            form = v[t - 100 : t]
            beta = np.linalg.lstsq(form[:, [j]], form[:, i], rcond=None)[0][0]
            spread = form[:, i] - beta * form[:, j]
            trades = trade_window(
                v[t - 1 : e][:, [i, j]],
                np.array([1.0, -beta]),
                spread.mean(),
                spread.std(ddof=1),
                s.rule,
                s.cost_bps,
            )
            expected += trades.returns / 3
        np.testing.assert_allclose(walk.returns[t - 100 : e - 100], expected, rtol=1e-9, atol=1e-15)
    assert walk.returns.any()


def test_in_sample_trials_share_days_and_ignore_held_out_rows(objective, tmp_path):
    n_in = objective.split - objective.warmup
    for params in (
        {},
        {
            "selection.test": "johansen",
            "selection.k": 3,
            "spread.method": "box_tiao",
            "spread.trading_window": 120,
            "spread.formation_window": 60,
        },
    ):
        reporter = NullReporter(tmp_path)
        ev = objective(params, reporter)
        _contract(ev, n_in)
        assert len(reporter.values) == ev.metrics["n_windows"]
        assert {name for name, _, _ in reporter.values} == {"sharpe"}
        assert all(math.isfinite(x) for x in ev.metrics.values())
    shocked = SpreadHedgeUniverseObjective(objective.config, objective.context)
    values = shocked.values.copy()
    drift = np.linspace(1.0, 1.5, len(values) - shocked.split)[:, None]
    values[shocked.split :] *= drift ** np.linspace(0.0, 1.0, values.shape[1])[None, :]
    shocked.values, shocked.backtest = values, UniverseBacktest(values, objective.backtest.candidates)
    np.testing.assert_array_equal(
        objective(FAST, NullReporter(tmp_path)).samples["sharpe"],
        shocked(FAST, NullReporter(tmp_path)).samples["sharpe"],
    )


def test_evaluate_and_baselines_are_paired_on_the_held_out_days(objective):
    ev = objective.evaluate(FAST)
    base = _paired_on_held_out_days(objective, ev)
    assert 0 < ev.metrics["surrogate_p_value"] <= 1 and ev.metrics["n_surrogates"] == 8
    assert set(base) == {"buy_and_hold_universe", "default_pipeline", "no_trade"}
    p = objective.values[objective.split - 1 :]
    held = np.mean([(p[1:, a] - p[:-1, a]) / p[0, a] for a in range(p.shape[1])], axis=0)
    held[0] -= 5e-4
    np.testing.assert_allclose(
        base["buy_and_hold_universe"]["out_of_sample"].samples["sharpe"], held, rtol=1e-12
    )
    np.testing.assert_array_equal(
        base["default_pipeline"]["out_of_sample"].samples["sharpe"], objective.evaluate({}).samples["sharpe"]
    )
    assert not base["no_trade"]["out_of_sample"].samples["sharpe"].any()
    diff = paired_difference(ev.samples["sharpe"], held, ev.statistic("sharpe"), block=8, n_boot=200)
    assert diff.low <= diff.value <= diff.high


def test_surrogate_p_value_is_the_share_at_least_as_good(objective):
    s, sel = objective._settings(FAST), objective._selection(FAST)
    sharpes = objective.surrogate_universe_sharpes(s, sel, 8, objective.seed + 7919)
    real = objective.evaluate(FAST).metrics
    assert real["surrogate_p_value"] == pytest.approx((1 + np.sum(sharpes >= real["sharpe"])) / 9)


def test_bad_config_errors(objective):
    with pytest.raises(ValueError, match="selection.test"):
        objective({"selection.test": "hurst"}, NullReporter())
    with pytest.raises(ValueError, match="selection.k"):
        objective({"selection.k": 0}, NullReporter())
    with pytest.raises(ValueError, match="selection.p_value"):
        objective({"selection.p_value": 0.0}, NullReporter())
    with pytest.raises(ValueError, match="three or more"):
        build_objective(compose(["+study=spread_hedge_universe", "data.columns=[EWG,EWQ]"]))
    with pytest.raises(ValueError, match="selection.candidates"):
        build_objective(compose(["+study=spread_hedge_universe", "selection.candidates=0"]))


def test_sp100_universe_runs(tmp_path):
    obj = build_objective(
        compose(["+study=spread_hedge_universe", "spread_hedge_universe_set=sp100", "surrogates.n=0"])
    )
    assert len(obj.columns) == 100 and obj.backtest.candidates == 150
    ev = obj({"spread.formation_window": 120, "spread.trading_window": 60}, NullReporter(tmp_path))
    _contract(ev, obj.split - obj.warmup)
    assert obj.split - obj.warmup >= 450 and (len(obj.values) - obj.split) // 60 >= 3
    assert ev.metrics["pairs_per_window"] > 0


def test_universe_without_cointegration_is_not_significant(tmp_path):
    """A small random search on a surrogate universe (every asset's returns block-bootstrapped
    independently): the in-sample winner's held-out Sharpe does not beat the surrogates at 5%."""
    obj = build_objective(
        compose(["+study=spread_hedge_universe", "data.surrogate_seed=1", "surrogates.n=40"])
    )
    rng = np.random.default_rng(0)
    trials = [
        {
            "selection.test": str(rng.choice(ps.TESTS)),
            "selection.k": int(rng.integers(1, 11)),
            "selection.p_value": float(rng.choice([0.01, 0.05, 0.1])),
            "spread.method": str(rng.choice(["ols", "tls", "box_tiao"])),
            "spread.formation_window": int(rng.choice([60, 120, 250])),
            "spread.trading_window": int(rng.choice([60, 120])),
            "trade.entry_z": float(rng.uniform(1.0, 3.0)),
        }
        for _ in range(8)
    ]
    best = max(trials, key=lambda p: obj(p, NullReporter(tmp_path)).metrics["sharpe"])
    p_value = obj.evaluate(best).metrics["surrogate_p_value"]
    assert 0.05 < p_value < 1.0, p_value


def test_the_prescreen_size_cannot_be_tuned():
    """selection.candidates is read once per worker: the validator refuses it in the search space."""
    from hedgeopt.config.settings import validate
    from hedgeopt.errors import ConfigError

    cfg = compose(["+study=spread_hedge_universe"])
    validate(cfg)
    cfg["search_space"]["selection.candidates"] = {"type": "int", "low": 10, "high": 60}
    with pytest.raises(ConfigError, match="selection.candidates"):
        validate(cfg)
