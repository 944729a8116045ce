"""The spread_hedge objective on the composed study config."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hedgeopt.config import compose
from hedgeopt.protocol import NullReporter
from objectives.spread_hedge import SpreadHedgeObjective
from simulators.hedge_ratios import METHODS

FAST = {"spread.formation_window": 60, "spread.trading_window": 60}


@pytest.fixture(scope="module")
def config() -> dict:
    return compose(["+study=spread_hedge"])


@pytest.fixture(scope="module")
def objective(config) -> SpreadHedgeObjective:
    return SpreadHedgeObjective(config)


def _finite(metrics) -> bool:
    return all(isinstance(v, float) and math.isfinite(v) for v in metrics.values())


def test_config_shape(config):
    assert config["metrics"] == ["score"] and config["directions"] == ["minimize"]
    assert config["search_space"]["spread.method"]["choices"] == list(METHODS)
    assert config["search_space"]["spread.add_constant"]["when"] == {"spread.method": ["ols", "tls"]}
    for path in config["search_space"]:
        section, key = path.split(".")
        assert key in config[section]


@pytest.mark.parametrize("method", METHODS)
def test_each_method_gives_finite_metrics_in_and_out_of_sample(objective, tmp_path, method):
    params = {"spread.method": method, **FAST}
    reporter = NullReporter(tmp_path)
    metrics = objective(params, reporter)
    held_out = objective.evaluate(params)
    for m in (metrics, held_out):
        assert _finite(m)
        assert m["score"] == m["half_life"]
        assert 0.0 < m["half_life"] <= 500.0
        assert 0.0 <= m["mean_reverting_share"] <= 1.0
    assert len(reporter.values) == metrics["n_windows"]
    # the search scores rows [warmup, split), evaluate the held-out tail
    rows = objective.split - objective.warmup
    assert metrics["n_windows"] == rows // 60 + (rows % 60 >= 5)  # a last partial window needs 5 rows


def test_ols_window_half_life_matches_hand_computation(objective, tmp_path):
    metrics = objective({"spread.method": "ols", **FAST}, NullReporter(tmp_path))
    v = objective.values
    half_lives, weights = [], []
    for t in range(objective.warmup, objective.split, 60):
        e = min(t + 60, objective.split)
        if e - t < 5:
            continue
        form = v[t - 60 : t]
        beta = np.linalg.lstsq(form[:, 1:], form[:, 0], rcond=None)[0]
        mu = (form[:, 0] - form[:, 1:] @ beta).mean()
        s = v[t - 1 : e, 0] - v[t - 1 : e, 1:] @ beta - mu
        lam = (s[:-1] @ np.diff(s)) / (s[:-1] @ s[:-1])
        hl = -math.log(2) / math.log(abs(1 + lam)) if abs(1 + lam) < 1 else math.inf
        half_lives.append(min(hl, 500.0))
        weights.append(e - t)
    assert metrics["half_life"] == pytest.approx(np.average(half_lives, weights=weights), rel=1e-8)


def test_no_look_ahead_in_search(config, tmp_path):
    base = SpreadHedgeObjective(config)
    shocked = SpreadHedgeObjective(config)
    shocked.values = shocked.values.copy()
    shocked.values[shocked.split :] *= 1.5  # the held-out tail changes...
    shocked.prices.iloc[shocked.split :] *= 1.5
    params = {"spread.method": "tls", **FAST}
    assert base(params, NullReporter(tmp_path)) == shocked(params, NullReporter(tmp_path))
    assert base.evaluate(params) != shocked.evaluate(params)  # ...and only evaluate sees it


def test_adf_score_selectable(tmp_path):
    obj = SpreadHedgeObjective(compose(["+study=spread_hedge", "spread.score=adf"]))
    m = obj({"spread.method": "johansen", **FAST}, NullReporter(tmp_path))
    assert m["score"] == m["adf_stat"] and m["adf_stat"] < 0


def test_baselines_and_plots(objective, tmp_path):
    base = objective.baselines()
    assert set(base) == set(METHODS)
    for entry in base.values():
        assert _finite(entry["in_sample"]) and _finite(entry["out_of_sample"])
    paths = objective.plots({"spread.method": "ols", **FAST}, [], tmp_path)
    assert len(paths) == 2 and all(p.is_file() and p.stat().st_size > 10_000 for p in paths)


@pytest.mark.parametrize(
    "overrides",
    [
        ["spread_hedge_pair=cl_ng"],
        ["spread_hedge_pair=gld_gdx"],
        ["data.source=stock_prices.csv", "data.columns=[XLF,XLK,SPY]", "data.start=2015-01-01"],
    ],
)
def test_other_pairs_run(overrides, tmp_path):
    obj = SpreadHedgeObjective(compose(["+study=spread_hedge", *overrides]))
    for method in ("ols", "min_half_life"):
        assert _finite(obj({"spread.method": method}, NullReporter(tmp_path)))
        assert _finite(obj.evaluate({"spread.method": method}))


def test_bad_config_errors():
    with pytest.raises(ValueError, match="warmup"):
        SpreadHedgeObjective(compose(["+study=spread_hedge", "data.source=gld_gdx_data.csv"]))
    with pytest.raises(ValueError, match="spread.score"):
        SpreadHedgeObjective(compose(["+study=spread_hedge", "spread.score=sharpe"]))
    obj = SpreadHedgeObjective(compose(["+study=spread_hedge"]))
    with pytest.raises(ValueError, match="spread.method"):
        obj({"spread.method": "kalman"}, NullReporter())
