"""The kalman_hedge objective built from the composed study config, on the embedded data."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from hedgeopt.config import compose
from hedgeopt.protocol import NullReporter
from objectives.kalman_hedge import KalmanHedgeObjective, build_splits

PARAMS = {"kalman.process_noise": 1e-5, "kalman.observation_noise": 1e-4, "engine.rebalance": "weekly"}


@pytest.fixture(scope="module")
def cfg() -> dict:
    return compose(["+study=kalman_hedge"])


@pytest.fixture(scope="module")
def obj(cfg: dict) -> KalmanHedgeObjective:
    return KalmanHedgeObjective(cfg)


def test_config_grid_is_the_seed_calibration(cfg: dict) -> None:
    space = cfg["search_space"]
    assert space["kalman.process_noise"]["grid"] == [1e-6, 1e-5, 1e-4]
    assert space["kalman.observation_noise"]["grid"] == [1e-4, 1e-3, 1e-2]
    assert space["engine.rebalance"]["grid"] == ["daily"]
    assert cfg["metrics"] == ["val_effectiveness"] and cfg["directions"] == ["maximize"]


def test_trial_metrics_finite_and_consistent(obj: KalmanHedgeObjective, tmp_path: Path) -> None:
    rep = NullReporter(tmp_path)
    m = obj(PARAMS, rep)
    assert all(math.isfinite(v) for v in m.values())
    n = len(obj.splits)
    assert n >= 3
    per_split = [m[f"val_effectiveness_split{i}"] for i in range(n)]
    assert m["val_effectiveness"] == pytest.approx(np.mean(per_split))
    assert 0.5 < m["val_effectiveness"] < 1.0  # EEM vs FXI/EPP/EFA: correlations ~0.9
    assert m["val_effectiveness"] <= m["val_effectiveness_gross"]  # costs only add variance here
    assert m["val_effectiveness_cost_high"] <= m["val_effectiveness_cost_low"]
    assert [s for s, _ in rep.values] == list(range(n))  # intermediate value per split


def test_evaluate_uses_test_windows(obj: KalmanHedgeObjective) -> None:
    m = obj.evaluate(PARAMS)
    assert all(math.isfinite(v) for v in m.values())
    assert "test_effectiveness" in m and "test_effectiveness_split0" in m
    assert not any(k.startswith("val_") for k in m)
    for s in obj.splits:  # held-out: after its own validation window, never inside any other's
        assert s.val[1] <= s.test[0]
        for o in obj.splits:
            assert s.test[1] <= o.val[0] or o.val[1] <= s.test[0]


def test_baselines_present(obj: KalmanHedgeObjective) -> None:
    b = obj.baselines()
    for name in ("static_ols", "ridge", "rolling_ols", "kalman_grid_calibration", "min_variance_single"):
        assert set(b[name]) == {"in_sample", "out_of_sample"}
        assert math.isfinite(b[name]["in_sample"]["val_effectiveness"])
        assert math.isfinite(b[name]["out_of_sample"]["test_effectiveness"])
    grid = b["kalman_grid_calibration"]["in_sample"]
    assert grid["process_noise"] in (1e-6, 1e-5, 1e-4) and grid["observation_noise"] in (1e-4, 1e-3, 1e-2)
    # the calibration is the best grid point on validation
    best = obj({"kalman.process_noise": grid["process_noise"], "kalman.observation_noise": grid["observation_noise"]}, NullReporter())
    assert best["val_effectiveness"] == pytest.approx(grid["val_effectiveness"])
    assert 0.0 < b["static_ols"]["in_sample"]["val_r2"] < 1.0


def test_plots_written(obj: KalmanHedgeObjective, tmp_path: Path) -> None:
    trials = [{"number": 0, "state": "COMPLETE", "params": PARAMS, "metrics": obj(PARAMS, NullReporter())}]
    paths = obj.plots(PARAMS, trials, tmp_path)
    assert len(paths) == 4
    assert all(p.suffix == ".png" and p.stat().st_size > 1000 for p in paths)


def test_generated_splits(obj: KalmanHedgeObjective) -> None:
    spec = {"splits": None, "scheme": "rolling", "n_splits": 4, "train_frac": 0.2, "val_share": 0.5}
    splits = build_splits(spec, obj.index)
    assert len(splits) == 4
    assert splits[-1].test[1] == len(obj.index)
    assert all(s.train[1] == s.val[0] and s.val[1] == s.test[0] for s in splits)
    assert len({s.train[1] - s.train[0] for s in splits}) == 1  # rolling: constant train length
    with pytest.raises(ValueError, match="overlaps"):
        build_splits({"splits": [
            {"train": ["2008-01-01", "2009-12-31"], "val": ["2010-01-01", "2010-12-31"], "test": ["2011-01-01", "2011-12-31"]},
            {"train": ["2008-01-01", "2010-12-31"], "val": ["2011-01-01", "2011-12-31"], "test": ["2012-01-01", "2012-12-31"]},
        ]}, obj.index)


def test_diffuse_init_and_intercept_variant() -> None:
    cfg = compose(["+study=kalman_hedge", "kalman.init=diffuse", "kalman.intercept=true", "data.returns=log"])
    m = KalmanHedgeObjective(cfg)(PARAMS, NullReporter())
    assert all(math.isfinite(v) for v in m.values()) and 0.5 < m["val_effectiveness"] < 1.0
    bad = KalmanHedgeObjective(compose(["+study=kalman_hedge", "kalman.init=oracle"]))
    with pytest.raises(ValueError, match="kalman.init"):
        bad(PARAMS, NullReporter())
