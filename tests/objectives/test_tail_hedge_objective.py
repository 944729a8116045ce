"""The tail_hedge objective on the embedded SPY/TLT history and a small stress set."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import StoredTrial

from hedgeopt.config.compose import compose
from hedgeopt.execution.objective_builder import build_objective
from hedgeopt.protocol import Evaluation
from hedgeopt.stats import bootstrap_interval, cvar, paired_difference
from objectives.tail_hedge.objective import BlockTailUtility, DailyTailUtility, TailHedgeObjective

PARAMS = {
    "puts.moneyness": 0.85,
    "puts.tenor_days": 63,
    "puts.roll_days_before": 10,
    "puts.budget": 0.02,
    "trend.window": 100,
    "trend.weight": 0.5,
}


@pytest.fixture(scope="module")
def cfg() -> dict:
    return compose(["+study=tail_hedge", "stress.n_paths=60"])


@pytest.fixture(scope="module")
def obj(cfg: dict) -> TailHedgeObjective:
    return build_objective(cfg)


def _utility(r: np.ndarray, weight: float) -> float:
    """Independent: log growth per year minus weight x CVaR95 of overlapping 21-day returns."""
    wealth = np.r_[1.0, np.cumprod(1.0 + r)]
    growth = math.log(wealth[-1]) * 252 / r.size
    r21 = np.array([wealth[i + 21] / wealth[i] - 1.0 for i in range(r.size - 20)])
    tail = np.sort(-r21)[::-1][: math.ceil(0.05 * r21.size)]
    return growth - weight * tail.mean()


def test_config_searches_the_overlay(cfg: dict) -> None:
    assert set(cfg["search_space"]) == {
        "puts.moneyness",
        "puts.tenor_days",
        "puts.roll_days_before",
        "puts.budget",
        "trend.window",
        "trend.weight",
    }
    assert cfg["metrics"] == ["utility"] and cfg["directions"] == ["maximize"]
    space = cfg["search_space"]
    assert space["puts.roll_days_before"]["high"] < space["puts.tenor_days"]["low"]  # every trial valid


def test_judged_evaluation_is_the_stated_utility(obj: TailHedgeObjective) -> None:
    ev = obj.evaluate(PARAMS)
    assert isinstance(ev, Evaluation) and ev.serial
    x = ev.samples["utility"]
    assert x.shape == (len(obj.days), 1) and obj.days[0].year == 2008 and obj.days[-1].year == 2016
    assert ev.statistic("utility")(x) == pytest.approx(ev.metrics["utility"], abs=1e-12)
    r = x[:, 0]
    assert ev.metrics["utility"] == pytest.approx(
        _utility(r, obj.config["utility"]["cvar_weight"]), abs=1e-10
    )
    wealth = np.cumprod(1 + r)
    assert ev.metrics["cagr"] == pytest.approx(wealth[-1] ** (252 / r.size) - 1)
    assert ev.metrics["cvar95_21d"] == pytest.approx(
        cvar(-(wealth[21:] / wealth[:-21] - 1), 0.95), rel=0.02
    )  # 21-day returns that start on day 1+
    assert 0.0 < ev.metrics["drawdown_2008"] < ev.metrics["drawdown_2008_unhedged"]
    assert all(math.isfinite(v) for v in ev.metrics.values())


def test_trial_metric_is_the_block_statistic_on_common_paths(obj: TailHedgeObjective) -> None:
    a, b = obj(PARAMS, None), obj({**PARAMS, "puts.budget": 0.0}, None)
    for ev in (a, b):
        x = ev.samples["utility"]
        assert x.shape == (60, obj.n_blocks)
        assert ev.statistic("utility")(x) == pytest.approx(ev.metrics["utility"], abs=1e-12)
    stat = BlockTailUtility(1.0, 21, 0.95)
    x = a.samples["utility"]
    blocks = np.expm1(x).ravel()
    expected = x.mean() * 12 - np.sort(-blocks)[::-1][: math.ceil(0.05 * blocks.size)].mean()
    assert stat(x) == pytest.approx(expected)
    days, interval = obj.n_blocks * 21, 63 - 10  # each roll prepays its whole interval
    assert a.metrics["premium_per_year"] == pytest.approx(
        0.02 * math.ceil(days / interval) * interval / days, rel=1e-9
    )
    assert b.metrics["premium_per_year"] == 0.0


def test_baselines_pair_with_the_evaluation(obj: TailHedgeObjective) -> None:
    ev = obj.evaluate(PARAMS)
    base = obj.baselines()
    assert set(base) == {"unhedged", "put_roll_10otm_3m", "trend_alone", "sixty_forty"}
    for name, b in base.items():
        oos = b["out_of_sample"]
        assert oos.samples["utility"].shape == ev.samples["utility"].shape, name
        assert oos.statistic("utility")(oos.samples["utility"]) == pytest.approx(
            oos.metrics["utility"], abs=1e-12
        )
        for k in ("max_drawdown", "cvar95_21d", "cagr", "cost_per_year", "premium_per_year"):
            assert math.isfinite(oos.metrics[k]), (name, k)
    unhedged = base["unhedged"]["out_of_sample"]
    spy = obj.spy[obj.hist_start :]
    np.testing.assert_allclose(
        unhedged.samples["utility"][:, 0], spy[1:] / spy[:-1] - 1 + 0.02 / 252, atol=1e-13
    )
    assert unhedged.metrics["cost_per_year"] == 0.0
    assert 0.45 < unhedged.metrics["max_drawdown"] < 0.6  # SPY closes, Oct 2007-Mar 2009 style fall
    assert base["put_roll_10otm_3m"]["out_of_sample"].metrics["premium_per_year"] == pytest.approx(
        0.01, rel=0.02
    )
    trend = base["trend_alone"]["out_of_sample"].metrics
    assert trend["drawdown_2008"] < unhedged.metrics["drawdown_2008"]
    assert base["sixty_forty"]["in_sample"] == {}
    # the framework's paired difference runs on these samples
    d = paired_difference(
        ev.samples["utility"], unhedged.samples["utility"], DailyTailUtility(1.0), block=13, n_boot=200
    )
    assert d.value == pytest.approx(ev.metrics["utility"] - unhedged.metrics["utility"])
    assert d.low <= d.value <= d.high
    i = bootstrap_interval(ev.samples["utility"], DailyTailUtility(1.0), block=13, n_boot=200)
    assert i.low < i.value < i.high


def test_bad_config_names_the_key(cfg: dict) -> None:
    with pytest.raises(ValueError, match="roll_days_before"):
        build_objective(cfg)({**PARAMS, "puts.roll_days_before": 63}, None)
    bad = {**cfg, "judge": {"crash_window": ["1990-01-01", "1990-12-31"]}}
    with pytest.raises(ValueError, match="crash_window"):
        build_objective(bad)


def test_plots_write_pngs(obj: TailHedgeObjective, tmp_path) -> None:
    paths = obj.plots(PARAMS, [], tmp_path)
    assert [p.name for p in paths] == ["equity_curves.png", "drawdowns.png", "protection_cost.png"]
    assert all(p.stat().st_size > 10_000 for p in paths)


def test_pbo_is_computed_with_the_in_sample_statistic(obj: TailHedgeObjective) -> None:
    from hedgeopt.results.assessment import assess_study
    from hedgeopt.stats import probability_of_overfitting

    rng = np.random.default_rng(3)
    params = [
        {**PARAMS, "puts.budget": float(b), "trend.weight": float(w)}
        for b, w in zip(rng.uniform(0, 0.05, 8), rng.uniform(0, 1.5, 8), strict=True)
    ]
    trials = [StoredTrial(obj(p, None), ("utility",)) for p in params]
    from hedgeopt.storages.trial_record import RecordFiles, in_sample

    stored = in_sample(trials, "utility", RecordFiles(".", "study"))
    res = assess_study(("utility",), ("maximize",), {}, obj.evaluate(params[0]), {}, stored, 5)
    matrix = np.stack([obj(p, None).samples["utility"] for p in params])
    assert matrix.shape == (8, 60, 24)  # paths x 21-day blocks: BlockTailUtility's rows
    in_sample = probability_of_overfitting(matrix, BlockTailUtility(1.0, 21, 0.95), "maximize", seed=5)
    daily = probability_of_overfitting(matrix, DailyTailUtility(1.0, 21, 0.95), "maximize", seed=5)
    over = res["overfitting"]
    assert over["statistic"] == "BlockTailUtility"
    assert over["pbo"] == in_sample.pbo
    assert over["rank_correlation"] == pytest.approx(float(np.median(in_sample.rank_correlations)))
    assert not np.allclose(in_sample.logits, daily.logits)  # the out-of-sample statistic would differ


def test_history_is_resampled_in_blocks_of_at_least_the_cvar_horizon(obj: TailHedgeObjective) -> None:
    ev = obj.evaluate(PARAMS)
    assert ev.serial and ev.block_length == 21 > round(len(ev.samples["utility"]) ** (1 / 3))


@pytest.mark.parametrize("equity_yield", [0.0, 0.03])
def test_carry_is_a_stated_assumption_the_result_depends_on(equity_yield: float) -> None:
    """The study's figures at two assumed dividend yields: the unhedged portfolio's judged daily
    returns move by exactly the yield's daily accrual, and its utility with them."""
    cfg = compose(["+study=tail_hedge", "stress.n_paths=20", f"market.equity_yield={equity_yield}"])
    o = build_objective(cfg)
    base = o.baselines()["unhedged"]["out_of_sample"]
    spy = o.spy[o.hist_start :]
    np.testing.assert_allclose(
        base.samples["utility"][:, 0], spy[1:] / spy[:-1] - 1 + equity_yield / 252, atol=1e-13
    )
    assert base.metrics["utility"] == pytest.approx(
        _utility(spy[1:] / spy[:-1] - 1 + equity_yield / 252, 1.0)
    )
