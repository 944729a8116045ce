"""DeltaHedgeObjective built from the composed study configs (small path counts)."""

import math

import numpy as np
import pytest
from conftest import DELTA_HEDGE_SMALL

from hedgeopt.config.compose import compose
from hedgeopt.config.search_space import SearchSpace
from hedgeopt.execution.objective_builder import build_objective
from hedgeopt.protocol import CVaR, Evaluation, NullReporter
from hedgeopt.stats import bootstrap_interval, paired_difference
from objectives.delta_hedge.objective import KNEE_NOTE, DeltaHedgeObjective, EntropicRisk, RiskCost, StdDev
from simulators.hedging.delta_hedging import run_hedge
from simulators.hedging.hedge_policy import CostModel, HedgePolicy

SMALL = list(DELTA_HEDGE_SMALL)
PARAMS = {
    "hedge.band_mode": "fixed",
    "hedge.delta_threshold": 0.05,
    "hedge.cadence_seconds": 3600.0,
    "hedge.hedge_ratio": 0.9,
}
WW = {
    "hedge.band_mode": "whalley_wilmott",
    "hedge.band_scale": 1.0,
    "hedge.cadence_seconds": None,
    "hedge.hedge_ratio": 1.0,
}


@pytest.fixture(scope="module")
def obj() -> DeltaHedgeObjective:
    return build_objective(compose(["+study=delta_hedge", *SMALL]))


def check_contract(ev: Evaluation, n: int) -> None:
    """statistics[m](samples[m]) == metrics[m] for every metric with samples."""
    assert isinstance(ev, Evaluation)
    assert ev.samples["risk_cost"].shape == (n, 2)
    assert isinstance(ev.statistics["risk_cost"], RiskCost)
    for m, x in ev.samples.items():
        assert np.asarray(x).shape[0] == n, m
        assert float(ev.statistic(m)(np.asarray(x, dtype=float).reshape(n, -1))) == pytest.approx(
            ev.metrics[m], rel=1e-12, abs=1e-9
        ), m
    assert all(math.isfinite(v) for v in ev.metrics.values())


def test_trial_risk_cost_against_an_independent_computation(obj, tmp_path):
    rep = NullReporter(tmp_path)
    ev = obj(PARAMS, rep)
    check_contract(ev, 8)
    m = ev.metrics
    # hedging error = P&L before costs minus the frictionless every-tick hedge's, path by path
    costs = CostModel(0.0005, 0.0001)
    res = run_hedge(
        obj.inputs, HedgePolicy(3600.0, 0.05, 0.9, band_mode="fixed", rehedge_to="band_edge"), costs
    )
    ideal = run_hedge(obj.inputs, HedgePolicy(10.0), CostModel(0.0, 0.0)).pnl[:, -1]
    error = res.pnl[:, -1] + res.costs - ideal
    ra = 1e-4
    assert m["costs"] == pytest.approx(res.costs.mean(), rel=1e-12)
    assert m["hedging_risk"] == pytest.approx(error.std(ddof=1), rel=1e-12)
    assert m["risk_cost"] == pytest.approx(res.costs.mean() + ra / 2 * error.var(ddof=1), rel=1e-12)
    net = res.pnl[:, -1]
    worst = np.sort(-net)[-1:]  # the worst ceil(5% of 8) = 1 path
    assert m["cvar_loss"] == pytest.approx(worst.mean(), rel=1e-12)
    assert m["entropic_risk"] == pytest.approx(np.log(np.mean(np.exp(-ra * net))) / ra, rel=1e-9)
    assert m["gross_pnl"] == pytest.approx(m["net_pnl"] + m["costs"])
    assert [(name, s) for name, s, _ in rep.values] == [("risk_cost", 0), ("risk_cost", 1)]  # 4, 8 of 8 paths
    assert rep.values[-1][2] == m["risk_cost"]


def test_statistics_are_vectorised_and_match_closed_forms():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 40, 2))
    rc = RiskCost(0.3)(x)
    assert rc.shape == (5,)
    np.testing.assert_allclose(rc, [x[i, :, 0].mean() + 0.15 * np.var(x[i, :, 1], ddof=1) for i in range(5)])
    np.testing.assert_allclose(StdDev(1)(x), x[..., 1].std(axis=-1, ddof=1))
    # entropic risk of normal losses N(mu, s^2) is mu + a s^2 / 2
    loss = rng.normal(100.0, 20.0, size=(400_000, 1))
    assert float(EntropicRisk(0.01)(loss)) == pytest.approx(100.0 + 0.01 * 400 / 2, rel=2e-3)
    # stable where exp(a x) overflows
    assert float(EntropicRisk(1.0)(np.array([[1000.0], [1000.0]]))) == pytest.approx(1000.0)


def test_same_config_same_metrics_and_params_matter(obj, tmp_path):
    a = obj(PARAMS, NullReporter(tmp_path)).metrics
    again = build_objective(compose(["+study=delta_hedge", *SMALL]))
    assert again(PARAMS, NullReporter(tmp_path)).metrics == a
    b = obj({**PARAMS, "hedge.delta_threshold": 0.01}, NullReporter(tmp_path)).metrics
    assert b["costs"] > a["costs"] and b["hedge_count"] > a["hedge_count"]
    assert b["hedging_risk"] < a["hedging_risk"]
    other_seed = build_objective(compose(["+study=delta_hedge", *SMALL, "seed=43"]))
    assert other_seed(PARAMS, NullReporter(tmp_path)).metrics["net_pnl"] != a["net_pnl"]


def test_evaluate_and_baselines_are_paired_on_the_same_fresh_paths(obj, tmp_path):
    ins = obj(PARAMS, NullReporter(tmp_path))
    oos = obj.evaluate(PARAMS)
    check_contract(oos, 8)
    assert set(oos.metrics) == set(ins.metrics)
    assert oos.metrics["net_pnl"] != ins.metrics["net_pnl"]
    assert not np.array_equal(obj.oos_inputs.spot[0], obj.inputs.spot[0])
    assert obj.oos_seed != obj.seed
    # the tuned config set to Whalley-Wilmott is, path by path, the Whalley-Wilmott baseline
    ww = obj.evaluate(WW)
    base = obj.baselines()["whalley_wilmott"]["out_of_sample"]
    np.testing.assert_array_equal(ww.samples["risk_cost"], base.samples["risk_cost"])
    d = paired_difference(ww.samples["risk_cost"], base.samples["risk_cost"], ww.statistics["risk_cost"])
    assert d.value == d.low == d.high == 0.0


def test_baselines_present_ordered_and_paired(obj):
    b = obj.baselines()
    assert {
        "unhedged",
        "every_tick",
        "cadence_60s",
        "cadence_300s",
        "cadence_900s",
        "cadence_3600s",
        "cadence_14400s",
        "whalley_wilmott",
    } == set(b)
    for res in b.values():
        assert set(res) == {"in_sample", "out_of_sample"}
        check_contract(res["in_sample"], 8)
        check_contract(res["out_of_sample"], 8)
    ins = {k: v["in_sample"].metrics for k, v in b.items()}
    assert ins["unhedged"]["costs"] == 0.0
    # more frequent hedging: more costs and less exposure
    assert ins["every_tick"]["costs"] > ins["cadence_300s"]["costs"] > ins["cadence_3600s"]["costs"]
    assert (
        ins["every_tick"]["mean_abs_net_delta"]
        < ins["cadence_3600s"]["mean_abs_net_delta"]
        < ins["unhedged"]["mean_abs_net_delta"]
    )
    # hedging risk against the frictionless every-tick hedge: zero for it, growing with cadence
    assert ins["every_tick"]["hedging_risk"] == pytest.approx(0.0, abs=1e-6)
    assert ins["every_tick"]["risk_cost"] == pytest.approx(ins["every_tick"]["costs"])
    assert (
        ins["cadence_60s"]["hedging_risk"]
        < ins["cadence_3600s"]["hedging_risk"]
        < ins["unhedged"]["hedging_risk"]
    )


def test_default_risk_aversion_prefers_neither_extreme():
    # One week, the default model and risk aversion: the Whalley-Wilmott band costs a fraction
    # of what either never hedging (risk) or hedging every tick (costs) does.
    obj = build_objective(compose(["+study=delta_hedge", "paths.n_paths=64", "paths.n_paths_oos=2"]))
    assert obj.risk_aversion == 1e-4
    costs = obj._costs(obj.config)
    rc = {
        k: obj._run(obj.inputs, p, costs).metrics["risk_cost"]
        for k, p in obj.baseline_policies().items()
        if k in ("unhedged", "every_tick", "whalley_wilmott")
    }
    assert rc["whalley_wilmott"] < 0.2 * min(rc["unhedged"], rc["every_tick"])


def test_search_space_contains_every_baseline():
    cfg = compose(["+study=delta_hedge"])
    space = SearchSpace.from_config(cfg["search_space"], cfg)
    cadence = space.by_name["hedge.cadence_seconds"]
    assert all(cadence.contains(c) for c in [10, *cfg["baselines"]["cadences_seconds"], 7 * 24 * 3600])
    assert space.by_name["hedge.band_mode"].contains("whalley_wilmott")
    assert space.by_name["hedge.band_scale"].contains(1.0)
    assert space.by_name["hedge.hedge_ratio"].contains(1.0)
    assert cfg["hedge"]["rehedge_to"] == "band_edge"
    assert cfg["metrics"] == ["risk_cost"] and cfg["directions"] == ["minimize"]


def test_seed_study_keeps_the_seed_score_and_space(tmp_path):
    cfg = compose(["+study=delta_hedge_seed", *SMALL])
    assert cfg["metrics"] == ["score"] and cfg["directions"] == ["maximize"]
    assert cfg["search_space"]["hedge.cadence_seconds"]["choices"] == [30, 60, 300, 900]
    assert set(cfg["search_space"]) == {
        "hedge.cadence_seconds",
        "hedge.delta_threshold",
        "hedge.hedge_ratio",
        "hedge.gamma_scalp_threshold",
        "hedge.max_hedge_per_interval",
    }
    obj = build_objective(cfg)
    params = {
        "hedge.cadence_seconds": 300,
        "hedge.delta_threshold": 0.1,
        "hedge.hedge_ratio": 0.9,
        "hedge.gamma_scalp_threshold": 0.03,
        "hedge.max_hedge_per_interval": 0.3,
    }
    ev = obj(params, NullReporter(tmp_path))
    check_contract(ev, 8)
    m = ev.metrics
    assert m["score"] == pytest.approx(
        m["sharpe"] - 0.1 * abs(m["max_drawdown"]) / 1e4 - 0.05 * m["costs"] / 1e3
    )
    assert obj.policy_for(params).rehedge_to == "target"


def test_cvar_level_and_interval(tmp_path):
    obj = build_objective(compose(["+study=delta_hedge", *SMALL, "risk.cvar_level=0.75"]))
    ev = obj(PARAMS, NullReporter(tmp_path))
    assert ev.statistics["cvar_loss"] == CVaR(0.75)
    loss = np.sort(ev.samples["cvar_loss"])[-2:]  # worst ceil(25% of 8) = 2
    assert ev.metrics["cvar_loss"] == pytest.approx(loss.mean())
    ci = bootstrap_interval(ev.samples["risk_cost"], ev.statistics["risk_cost"])
    assert ci.low <= ev.metrics["risk_cost"] <= ci.high


def _three_thresholds(obj, tmp_path) -> list[dict]:
    """Trial records of PARAMS at delta thresholds 0.02, 0.05 and 0.2, as the plots read them."""
    return [
        {
            "number": i,
            "state": "COMPLETE",
            "params": {},
            "metrics": obj({**PARAMS, "hedge.delta_threshold": d}, NullReporter(tmp_path)).metrics,
        }
        for i, d in enumerate([0.02, 0.05, 0.2])
    ]


def test_plots_written(obj, tmp_path):
    trials = _three_thresholds(obj, tmp_path)
    trials.append({"number": 3, "state": "FAIL", "params": {}, "metrics": {}})
    paths = obj.plots(WW, trials, tmp_path / "plots")
    names = {p.name for p in paths}
    assert {"pnl_distribution.png", "hedge_trace.png", "pnl_vs_costs.png"} <= names
    assert all(p.exists() and p.stat().st_size > 1000 for p in paths)


def test_pareto_study_plots_the_front(tmp_path):
    obj = build_objective(compose(["+study=delta_hedge_pareto", *SMALL]))
    assert obj.context.metrics == ("hedging_risk", "costs")
    assert obj.context.directions == ("minimize", "minimize")
    trials = _three_thresholds(obj, tmp_path)
    names = {p.name for p in obj.plots(PARAMS, trials, tmp_path)}
    assert "risk_cost_pareto.png" in names


def test_bad_config_is_a_clear_error():
    with pytest.raises(ValueError, match="n_paths"):
        build_objective(compose(["+study=delta_hedge", "paths.n_paths=1"]))
    with pytest.raises(ValueError, match="cadence_seconds"):
        build_objective(compose(["+study=delta_hedge", *SMALL, "hedge.cadence_seconds=0"]))
    with pytest.raises(ValueError, match="risk_aversion"):
        build_objective(compose(["+study=delta_hedge", *SMALL, "risk.risk_aversion=0"]))
    with pytest.raises(ValueError, match="rehedge_to"):
        build_objective(compose(["+study=delta_hedge", *SMALL, "hedge.rehedge_to=edge"]))


def test_seed_study_summary_says_its_score_rewards_carrying_risk():
    from hedgeopt.results.assessment import assess_study
    from hedgeopt.results.assessment_text import summary_lines
    from objectives.delta_hedge.objective import SEED_SCORE_CAVEAT

    seed_obj = build_objective(compose(["+study=delta_hedge_seed", *SMALL]))
    ev = seed_obj.evaluate({})
    assert ev.caveat == SEED_SCORE_CAVEAT and "rewards carrying risk" in ev.caveat
    res = assess_study(("score",), ("maximize",), {}, ev, seed_obj.baselines(), None, 0)
    lines = summary_lines(res)
    verdict_at = next(i for i, line in enumerate(lines) if line.startswith("Verdict: "))
    assert lines[verdict_at + 1] == "  " + SEED_SCORE_CAVEAT  # on its own line, under the verdict
    # the default study (risk_cost) carries no such note
    assert build_objective(compose(["+study=delta_hedge", *SMALL])).evaluate({}).caveat is None


def test_pareto_study_verdict_sets_the_knee_beside_whalley_wilmott_at_its_risk_aversion():
    from hedgeopt.results.assessment import assess_study
    from hedgeopt.results.assessment_text import summary_lines
    from hedgeopt.results.pareto import KNEE_RULE

    obj = build_objective(compose(["+study=delta_hedge_pareto", *SMALL]))
    ev = obj.evaluate(PARAMS)
    ww = obj.baselines()["whalley_wilmott"]["out_of_sample"].metrics["risk_cost"]
    # the knee's risk_cost and the baseline's, at the study's own risk aversion, in the note
    assert ev.caveat == KNEE_NOTE.format(risk_aversion=1e-4, chosen=ev.metrics["risk_cost"], ww=ww)
    assert "not the study's risk aversion" in ev.caveat and f"{ww:,.0f} for whalley_wilmott" in ev.caveat
    res = assess_study(
        obj.context.metrics, obj.context.directions, {}, ev, obj.baselines(), None, 0, front_size=3
    )
    table = res["chosen_point"]["out_of_sample"]
    assert set(table) == {"chosen point", *obj.baseline_policies()}
    assert (
        table["whalley_wilmott"]["costs"]
        == obj.baselines()["whalley_wilmott"]["out_of_sample"].metrics["costs"]
    )
    assert res["verdict"]["chosen_by"] == KNEE_RULE
    lines = summary_lines(res)
    verdict_at = next(i for i, line in enumerate(lines) if line.startswith("Verdict: "))
    assert lines[verdict_at + 1] == "  " + ev.caveat  # on its own line, under the verdict
    assert any(line.startswith("Chosen point of the 3 on the front, picked by the knee") for line in lines)
