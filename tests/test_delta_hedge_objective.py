"""DeltaHedgeObjective built from the composed study config (small path counts)."""

import math

import numpy as np
import pytest

from hedgeopt.config import compose
from hedgeopt.protocol import NullReporter
from objectives.delta_hedge import DeltaHedgeObjective

SMALL = ["paths.n_paths=8", "paths.n_paths_oos=8", "paths.report_every=4",
         "simulator.horizon_hours=24"]
PARAMS = {"hedge.cadence_seconds": 300, "hedge.delta_threshold": 0.1, "hedge.hedge_ratio": 0.9,
          "hedge.gamma_scalp_threshold": 0.03, "hedge.max_hedge_per_interval": 0.3}


@pytest.fixture(scope="module")
def obj() -> DeltaHedgeObjective:
    return DeltaHedgeObjective(compose(["+study=delta_hedge", *SMALL]))


def test_trial_returns_finite_metrics_and_the_seed_score(obj, tmp_path):
    rep = NullReporter(tmp_path)
    m = obj(PARAMS, rep)
    for key in ("score", "net_pnl", "gross_pnl", "costs", "funding", "hedge_count",
                "mean_abs_net_delta", "pnl_vol", "sharpe", "max_drawdown", "cvar95", "cvar95_loss"):
        assert math.isfinite(m[key]), key
    assert m["gross_pnl"] == pytest.approx(m["net_pnl"] + m["costs"])
    assert m["score"] == pytest.approx(m["sharpe"] - 0.1 * abs(m["max_drawdown"]) / 1e4
                                       - 0.05 * m["costs"] / 1e3)
    assert [s for s, _ in rep.values] == [0, 1]  # after 4 and 8 of 8 paths
    assert rep.values[-1][1] == m["score"]
    assert m["costs"] > 0 and m["hedge_count"] > 0


def test_same_config_same_metrics_and_params_matter(obj, tmp_path):
    a = obj(PARAMS, NullReporter(tmp_path))
    again = DeltaHedgeObjective(compose(["+study=delta_hedge", *SMALL]))
    assert again(PARAMS, NullReporter(tmp_path)) == a
    b = obj({**PARAMS, "hedge.cadence_seconds": 30}, NullReporter(tmp_path))
    assert b["costs"] > a["costs"] and b["hedge_count"] > a["hedge_count"]
    other_seed = DeltaHedgeObjective(compose(["+study=delta_hedge", *SMALL, "seed=43"]))
    assert other_seed(PARAMS, NullReporter(tmp_path))["net_pnl"] != a["net_pnl"]


def test_evaluate_uses_fresh_paths(obj, tmp_path):
    ins = obj(PARAMS, NullReporter(tmp_path))
    oos = obj.evaluate(PARAMS)
    assert set(oos) == set(ins)
    assert oos["net_pnl"] != ins["net_pnl"]
    assert not np.array_equal(obj.oos_inputs.spot[0], obj.inputs.spot[0])
    assert obj.oos_seed != obj.seed


def test_baselines_present_and_ordered(obj):
    b = obj.baselines()
    assert {"unhedged", "every_tick", "cadence_60s", "cadence_300s", "cadence_900s",
            "cadence_3600s"} <= set(b)
    for res in b.values():
        assert set(res) == {"in_sample", "out_of_sample"}
        assert all(math.isfinite(v) for v in res["in_sample"].values())
    assert b["unhedged"]["in_sample"]["costs"] == 0.0
    # more frequent hedging: more costs and less exposure
    assert b["every_tick"]["in_sample"]["costs"] > b["cadence_300s"]["in_sample"]["costs"] \
        > b["cadence_3600s"]["in_sample"]["costs"]
    assert b["every_tick"]["in_sample"]["mean_abs_net_delta"] < b["cadence_3600s"]["in_sample"]["mean_abs_net_delta"] \
        < b["unhedged"]["in_sample"]["mean_abs_net_delta"]
    # tracking error against the frictionless every-tick hedge: zero for it, growing with cadence
    assert b["every_tick"]["in_sample"]["tracking_error"] == pytest.approx(0.0, abs=1e-6)
    assert b["cadence_60s"]["in_sample"]["tracking_error"] < b["cadence_3600s"]["in_sample"]["tracking_error"] \
        < b["unhedged"]["in_sample"]["tracking_error"]


def test_plots_written(obj, tmp_path):
    trials = [{"number": i, "state": "COMPLETE", "params": {}, "metrics": obj(
        {**PARAMS, "hedge.cadence_seconds": c}, NullReporter(tmp_path))} for i, c in enumerate([30, 60, 900])]
    trials.append({"number": 3, "state": "FAIL", "params": {}, "metrics": {}})
    paths = obj.plots(PARAMS, trials, tmp_path / "plots")
    names = {p.name for p in paths}
    assert {"pnl_distribution.png", "hedge_trace.png", "pnl_vs_costs.png"} <= names
    assert all(p.exists() and p.stat().st_size > 1000 for p in paths)


def test_pareto_study_plots_the_front(tmp_path):
    obj = DeltaHedgeObjective(compose(["+study=delta_hedge_pareto", *SMALL]))
    assert obj.config["metrics"] == ["tracking_error", "costs"]
    trials = [{"number": i, "state": "COMPLETE", "params": {},
               "metrics": obj({**PARAMS, "hedge.cadence_seconds": c}, NullReporter(tmp_path))}
              for i, c in enumerate([30, 300, 900])]
    names = {p.name for p in obj.plots(PARAMS, trials, tmp_path)}
    assert "risk_cost_pareto.png" in names


def test_bad_config_is_a_clear_error():
    with pytest.raises(ValueError, match="n_paths"):
        DeltaHedgeObjective(compose(["+study=delta_hedge", "paths.n_paths=1"]))
    with pytest.raises(ValueError, match="cadence_seconds"):
        DeltaHedgeObjective(compose(["+study=delta_hedge", *SMALL, "hedge.cadence_seconds=0"]))
