"""The spread_hedge objective: a walk-forward pairs trade, held out and tested against surrogates."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hedgeopt.config.compose import compose
from hedgeopt.execution.objective_builder import build_objective
from hedgeopt.protocol import Evaluation, NullReporter
from hedgeopt.stats import bootstrap_interval, paired_difference
from objectives.spread_hedge.objective import SpreadHedgeObjective
from simulators.estimators.hedge_ratios import METHODS
from simulators.trading.pairs_backtest import RatioEstimator

FAST = {"spread.formation_window": 120, "spread.trading_window": 60}


@pytest.fixture(scope="module")
def config() -> dict:
    return compose(["+study=spread_hedge", "surrogates.n=30", "surrogates.n_numerical=10"])


@pytest.fixture(scope="module")
def objective(config) -> SpreadHedgeObjective:
    return build_objective(config)


def _finite(metrics) -> bool:
    return all(isinstance(v, float) and math.isfinite(v) for v in metrics.values())


def _contract(ev: Evaluation, n: int) -> None:
    """Per-day returns of length n, whose Sharpe statistic is the reported Sharpe."""
    r = ev.samples["sharpe"]
    assert isinstance(ev, Evaluation) and ev.serial and r.shape == (n,)
    assert float(ev.statistic("sharpe")(r[:, None])) == ev.metrics["sharpe"]
    sd = r.std(ddof=1)
    assert ev.metrics["sharpe"] == pytest.approx(r.mean() / sd * math.sqrt(252) if sd > 0 else 0.0, rel=1e-12)


def _paired_on_held_out_days(objective, ev: Evaluation) -> dict:
    """``objective``'s baselines, asserted with ``ev`` to hold per-day returns of every held-out
    day (and the baselines of every in-sample day after the warm-up)."""
    n_out, n_in = len(objective.values) - objective.split, objective.split - objective.warmup
    _contract(ev, n_out)
    base = objective.baselines()
    for entry in base.values():
        _contract(entry["in_sample"], n_in)
        _contract(entry["out_of_sample"], n_out)
    return base


def test_config_shape(config):
    assert config["metrics"] == ["sharpe"] and config["directions"] == ["maximize"]
    assert config["search_space"]["spread.method"]["choices"] == list(METHODS)
    assert config["data"]["columns"] == ["EWG", "EWQ"]
    for path in config["search_space"]:
        section, key = path.split(".")
        assert key in config[section]


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trades_on_the_same_days(objective, tmp_path, method):
    for trading in (20, 120):
        params = {"spread.method": method, "spread.formation_window": 60, "spread.trading_window": trading}
        reporter = NullReporter(tmp_path)
        ev = objective(params, reporter)
        assert _finite(ev.metrics)
        _contract(ev, objective.split - objective.warmup)
        assert {name for name, _, _ in reporter.values} == {"sharpe"}
        assert (
            len(reporter.values)
            == ev.metrics["n_windows"]
            == math.ceil((objective.split - objective.warmup) / trading)
        )
        assert 0 <= ev.metrics["hit_rate"] <= 1 and 0 <= ev.metrics["exposure"] <= 1


def test_ols_windows_use_formation_rows_only(objective):
    """Each window's ratio, mean and std are those of an OLS fit on its formation rows."""
    from simulators.trading.pairs_backtest import walk_forward

    s = objective._settings({"spread.method": "ols", **FAST})
    walk = walk_forward(objective.estimator, s, objective.warmup, objective.split)
    v = objective.values
    for (t, _e), est in zip(walk.windows, walk.estimates, strict=False):
        form = v[t - 120 : t]
        beta = np.linalg.lstsq(form[:, 1:], form[:, 0], rcond=None)[0]
        spread = form[:, 0] - form[:, 1:] @ beta
        assert est.beta == pytest.approx(beta, rel=1e-10)
        assert (est.mean, est.std) == pytest.approx((spread.mean(), spread.std(ddof=1)), rel=1e-10)


def test_no_look_ahead_in_search(config, tmp_path):
    base = build_objective(config)
    shocked = build_objective(config)
    values = shocked.values.copy()
    values[shocked.split :] *= np.linspace(1.0, 1.5, len(values) - shocked.split)[:, None]
    shocked.values, shocked.estimator = values, RatioEstimator(values, shocked.columns)
    params = {"spread.method": "tls", **FAST}
    a, b = base(params, NullReporter(tmp_path)), shocked(params, NullReporter(tmp_path))
    np.testing.assert_array_equal(a.samples["sharpe"], b.samples["sharpe"])
    assert base.evaluate(params).metrics["sharpe"] != shocked.evaluate(params).metrics["sharpe"]


def test_evaluate_and_baselines_share_held_out_days(objective):
    params = {"spread.method": "johansen", **FAST}
    ev = objective.evaluate(params)
    base = _paired_on_held_out_days(objective, ev)
    assert 0 < ev.metrics["surrogate_p_value"] <= 1 and ev.metrics["n_surrogates"] == 30
    assert set(base) == {"buy_and_hold", "ols_default_rule", "no_trade"}
    assert base["no_trade"]["out_of_sample"].metrics["sharpe"] == 0.0
    p = objective.values[objective.split - 1 :, 0]
    held = np.diff(p) / p[0]
    held[0] -= 5e-4
    np.testing.assert_allclose(base["buy_and_hold"]["out_of_sample"].samples["sharpe"], held, rtol=1e-12)
    # the OLS baseline is the default config with the OLS ratio
    default = objective.evaluate({}).samples["sharpe"]
    np.testing.assert_array_equal(base["ols_default_rule"]["out_of_sample"].samples["sharpe"], default)
    # the framework can pair them: a finite block-bootstrap interval of the difference
    diff = paired_difference(ev.samples["sharpe"], held, ev.statistic("sharpe"), block=8, n_boot=300)
    assert diff.low <= diff.value <= diff.high
    ci = bootstrap_interval(ev.samples["sharpe"], ev.statistic("sharpe"), block=8, n_boot=300)
    assert ci.low < ci.value < ci.high


def test_surrogate_p_value_is_the_share_at_least_as_good(objective):
    s = objective._settings({"spread.method": "ols", **FAST})
    sharpes = objective.surrogate_sharpes(s, 30, objective.seed + 7919)
    ev = objective.evaluate({"spread.method": "ols", **FAST})
    real = ev.metrics["sharpe"]
    assert ev.metrics["surrogate_p_value"] == pytest.approx((1 + np.sum(sharpes >= real)) / 31)
    assert ev.metrics["surrogate_sharpe_mean"] == pytest.approx(sharpes.mean())


@pytest.mark.slow
def test_random_walk_pairs_best_held_out_sharpe_is_not_significant(tmp_path):
    """A small random search on pairs without cointegration: the in-sample winner's held-out
    Sharpe beats the surrogates at the 5% level no more often than chance allows (p-values
    under the null are uniform: here at most 1 of 6 pairs, and the first pair not at all)."""
    p_values = []
    for seed in range(1, 7):
        obj = build_objective(
            compose(["+study=spread_hedge", f"data.surrogate_seed={seed}", "surrogates.n=100"])
        )
        rng = np.random.default_rng(0)
        trials = [
            {
                "spread.method": str(rng.choice(["ols", "tls", "johansen", "box_tiao"])),
                "spread.formation_window": int(rng.choice([60, 120, 250])),
                "spread.trading_window": int(rng.choice([20, 60, 120])),
                "trade.entry_z": float(rng.uniform(1.0, 3.0)),
                "trade.exit_z": float(rng.uniform(0, 0.9)),
                "trade.stop_z": float(rng.uniform(3.5, 6.0)),
            }
            for _ in range(12)
        ]
        best = max(trials, key=lambda p: obj(p, NullReporter(tmp_path)).metrics["sharpe"])
        p_values.append(obj.evaluate(best).metrics["surrogate_p_value"])
    assert p_values[0] > 0.05
    assert sum(p <= 0.05 for p in p_values) <= 1, p_values


@pytest.mark.parametrize("pair", ["xlf_xlk", "cl_ng", "gld_gdx"])
def test_other_pairs_run(pair, tmp_path):
    obj = build_objective(compose(["+study=spread_hedge", f"spread_hedge_pair={pair}", "surrogates.n=5"]))
    assert _finite(obj({"spread.method": "box_tiao"}, NullReporter(tmp_path)).metrics)
    assert _finite(obj.evaluate({"spread.method": "box_tiao"}).metrics)


def test_bad_config_errors():
    with pytest.raises(ValueError, match="gld_gdx_data.csv: 75 rows leave 19 held-out days.*at least 3"):
        build_objective(
            compose(["+study=spread_hedge", "spread_hedge_pair=gld_gdx", "spread.trading_window=10"])
        )
    with pytest.raises(ValueError, match="warmup"):
        build_objective(compose(["+study=spread_hedge", "data.start=2016-01-01"]))
    obj = build_objective(compose(["+study=spread_hedge"]))
    with pytest.raises(ValueError, match="spread.method"):
        obj({"spread.method": "kalman"}, NullReporter())
    with pytest.raises(ValueError, match="exit_z"):
        obj({"trade.exit_z": 2.5}, NullReporter())
    with pytest.raises(ValueError, match="trading_window"):
        obj({"spread.trading_window": 400}, NullReporter())


def _pair_file(path, seed: int, cointegrated: bool, n: int = 1500):
    """Two synthetic price legs: B a random walk, A = B + a fast AR(1) (cointegrated) or an
    independent random walk."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    b = np.cumsum(rng.normal(0, 0.01, n))
    if cointegrated:
        u = np.zeros(n)
        for t in range(1, n):
            u[t] = 0.7 * u[t - 1] + rng.normal(0, 0.01)
        a = b + u
    else:
        a = np.cumsum(rng.normal(0, 0.01, n))
    dates = pd.bdate_range("2010-01-04", periods=n)
    pd.DataFrame({"date": dates, "A": 100 * np.exp(a), "B": 100 * np.exp(b)}).to_csv(path, index=False)
    return path


def _default_verdict(path):
    """The default spread_hedge config's verdict and console lines, as the end of a study makes them."""
    from hedgeopt.results.assessment import assess_study
    from hedgeopt.results.assessment_text import summary_lines

    cfg = compose(
        [
            "+study=spread_hedge",
            f"data.source={path}",
            "data.columns=[A,B]",
            "data.dependent=A",
            "surrogates.n=39",
        ]
    )
    obj = build_objective(cfg)
    oos, base = obj.evaluate({}), obj.baselines()
    ins = obj({}, NullReporter()).metrics
    res = assess_study(("sharpe",), ("maximize",), ins, oos, base, None, 0)
    return oos, res, summary_lines(res)


def test_edge_over_chance_on_a_cointegrated_pair_and_not_on_random_walks(tmp_path):
    oos, res, lines = _default_verdict(_pair_file(tmp_path / "coint.csv", 0, True))
    edge = res["verdict"]["edge"]
    assert edge["p_value"] == oos.metrics["surrogate_p_value"] <= 0.05 and edge["significant"]
    assert edge["text"].startswith(f"edge over chance: p = {edge['p_value']:.3f} (39 surrogate pairs without")
    assert "  " + edge["text"] in lines  # on its own line of the console summary
    # the default config is the default rule: it beats chance, not the rule, and that is what it says
    assert res["verdict"]["outcome"] == "ties" and res["verdict"]["best_baseline"] == "ols_default_rule"
    assert edge["text"].endswith("it beats chance but not the default rule 'ols_default_rule'")
    assert "Prefer the baseline 'ols_default_rule': it has no tuned parameters." in res["verdict"]["text"]
    # independent random walks: "edge over chance" at the 5% level in at most 1 of 10
    shown = []
    for seed in range(10):
        _, res, _ = _default_verdict(_pair_file(tmp_path / f"rw{seed}.csv", seed, False))
        shown.append(res["verdict"]["edge"]["significant"])
        assert res["verdict"]["edge"]["text"].startswith(
            "edge over chance" if shown[-1] else "no edge over chance"
        )
    assert sum(shown) <= 1, shown
