"""The kalman_hedge objective built from the composed study config, on the embedded data."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import StoredTrial

from hedgeopt.config.compose import compose
from hedgeopt.execution.objective_builder import build_objective
from hedgeopt.protocol import Evaluation, NullReporter
from hedgeopt.stats import bootstrap_interval, default_block_length, paired_difference
from objectives.kalman_hedge.objective import HedgeEffectiveness, KalmanHedgeObjective
from objectives.kalman_hedge.windows import build_walk_forward

PARAMS = {"kalman.signal_to_noise": 1e-2, "kalman.observation_noise": 1e-4, "engine.rebalance": "weekly"}
PROBLEMS = ("eem_asia", "xle_energy", "xlf_financials", "ewg_europe")


@pytest.fixture(scope="module")
def cfg() -> dict:
    return compose(["+study=kalman_hedge"])


@pytest.fixture(scope="module")
def obj(cfg: dict) -> KalmanHedgeObjective:
    return build_objective(cfg)


def _check_evaluation(ev: Evaluation) -> np.ndarray:
    x = ev.samples["effectiveness"]
    assert ev.serial and x.shape[1] == 2
    assert float(ev.statistics["effectiveness"](x)) == pytest.approx(ev.metrics["effectiveness"], abs=1e-12)
    assert all(math.isfinite(v) for v in ev.metrics.values())
    return x


def test_config_spaces(cfg: dict) -> None:
    assert cfg["metrics"] == ["effectiveness"] and cfg["directions"] == ["maximize"]
    assert set(cfg["search_space"]) == {
        "kalman.signal_to_noise",
        "kalman.observation_noise",
        "engine.rebalance",
    }
    seed = compose(["+study=kalman_hedge", "kalman_hedge_space=seed_grid", "sampler=grid"])
    assert seed["search_space"]["kalman.process_noise"]["grid"] == [1e-6, 1e-5, 1e-4]
    assert seed["search_space"]["kalman.observation_noise"]["grid"] == [1e-4, 1e-3, 1e-2]
    assert "kalman.signal_to_noise" not in seed["search_space"] and seed["kalman"]["signal_to_noise"] is None
    mle = compose(["+study=kalman_hedge", "kalman_hedge_space=snr_mle"])
    assert set(mle["search_space"]) == {"kalman.signal_to_noise", "engine.rebalance"}
    assert mle["kalman"]["observation_noise"] == "mle"


# ---------------------------------------------------------------------------- walk-forward windows
FOLDS = [
    {"name": "v2010", "train": ["2008-01-01", "2009-12-31"], "val": ["2010-01-01", "2010-12-31"]},
    {"name": "v2011", "train": ["2008-01-01", "2010-12-31"], "val": ["2011-01-01", "2011-12-31"]},
]
TEST = {"name": "t2012", "train": ["2008-01-01", "2011-12-31"], "test": ["2012-01-01", "2012-12-31"]}


def _spec(folds: list | None = None, test: dict | None = None) -> dict:
    return {
        "folds": FOLDS if folds is None else folds,
        "test": TEST if test is None else test,
        "min_window_days": 20,
    }


def _fold(name: str, train: tuple[str, str], val: tuple[str, str]) -> dict:
    return {"name": name, "train": list(train), "val": list(val)}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            _spec(
                folds=[FOLDS[0], _fold("v2011", ("2008-01-01", "2010-12-31"), ("2011-12-31", "2011-01-01"))]
            ),
            r"fold v2011: val window ends \(2011-01-01\) before it starts",
        ),
        (
            _spec(
                folds=[FOLDS[0], _fold("v2011", ("2008-01-01", "2011-06-30"), ("2011-01-01", "2011-12-31"))]
            ),
            r"fold v2011: train window \(to 2011-06-30\) must end before the val window starts",
        ),
        (
            _spec(
                folds=[FOLDS[0], _fold("v2011", ("2012-01-01", "2012-12-31"), ("2011-01-01", "2011-12-31"))]
            ),
            r"fold v2011: train window \(to 2012-12-31\) must end before the val window starts",
        ),
        (
            _spec(
                test={
                    "name": "t2012",
                    "train": ["2008-01-01", "2012-03-31"],
                    "test": ["2012-01-01", "2012-12-31"],
                }
            ),
            r"test t2012: train window \(to 2012-03-31\) must end before the test window starts",
        ),
        (
            _spec(
                folds=[FOLDS[0], _fold("v2010b", ("2008-01-01", "2009-06-30"), ("2010-06-01", "2011-06-30"))]
            ),
            r"folds v2010 and v2010b: validation windows overlap",
        ),
        (
            _spec(folds=[*FOLDS, _fold("v2013", ("2008-01-01", "2012-12-31"), ("2013-01-01", "2013-12-31"))]),
            r"fold v2013: validation window \(to 2013-12-31\) must end before the test window t2012 starts",
        ),
        (
            _spec(
                folds=[FOLDS[0], _fold("v2012h1", ("2008-01-01", "2011-12-31"), ("2012-01-01", "2012-06-30"))]
            ),
            r"fold v2012h1: validation window \(to 2012-06-30\) must end before the test window t2012 starts",
        ),
        (
            _spec(
                folds=[FOLDS[0], _fold("v2011", ("2008-01-01", "2010-12-31"), ("2011-01-01", "2012-01-03"))],
                test={
                    "name": "t2012",
                    "train": ["2008-01-01", "2011-12-30"],
                    "test": ["2012-01-03", "2012-12-31"],
                },
            ),
            r"fold v2011: validation window \(to 2012-01-03\) must end before the test window t2012 starts",
        ),
        (
            _spec(
                folds=[FOLDS[0], _fold("v2011", ("2008-01-01", "2010-12-31"), ("2011-01-01", "2011-01-10"))]
            ),
            r"fold v2011: val window has 6 days of data, need >= 20",
        ),
        (
            _spec(
                folds=[
                    FOLDS[0],
                    {"name": "v2011", "train": ["2008-01-01"], "val": ["2011-01-01", "2011-12-31"]},
                ]
            ),
            r"fold v2011: train must be \[start, end\]",
        ),
        (_spec(folds=[FOLDS[0], dict(FOLDS[1], name="v2010")]), r"window name 'v2010' is used twice"),
        (_spec(folds=[]), r"walk_forward.folds must list at least one validation fold"),
        ({"folds": FOLDS}, r"walk_forward.test must give the test window"),
    ],
    ids=[
        "reversed",
        "train-overlaps-val",
        "train-after-val",
        "test-train-overlaps-test",
        "folds-overlap",
        "val-after-test",
        "val-overlaps-test",
        "val-touches-test-day",
        "too-short",
        "malformed",
        "duplicate",
        "no-folds",
        "no-test",
    ],
)
def test_walk_forward_rejects_each_ordering_or_overlap_error(
    obj: KalmanHedgeObjective, spec: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_walk_forward(spec, obj.index)


def test_walk_forward_accepts_adjacent_windows_and_orders_folds(obj: KalmanHedgeObjective) -> None:
    wf = build_walk_forward(_spec(folds=[FOLDS[1], FOLDS[0]]), obj.index)
    assert [f.name for f in wf.folds] == ["v2010", "v2011"]
    assert wf.folds[0].scored[1] == wf.folds[1].scored[0]  # consecutive years, no gap, no overlap
    assert wf.folds[-1].scored[1] == wf.test.scored[0]
    assert obj.index[wf.test.scored[0]] == pd.Timestamp("2012-01-03")


@pytest.mark.parametrize("problem", PROBLEMS)
def test_no_scored_window_after_a_test_window(problem: str) -> None:
    cfg = compose(["+study=kalman_hedge", f"kalman_hedge_problem={problem}"])
    index = pd.read_csv(Path("simulators/data/stock_prices.csv"), index_col=0, parse_dates=True).index[1:]
    wf = build_walk_forward(cfg["walk_forward"], index)
    assert len(wf.folds) >= 3
    test_start = wf.test.scored[0]
    for f in wf.folds:  # every day any trial is scored on or fitted on comes before the first test day
        assert f.train[1] <= f.scored[0] and f.scored[1] <= test_start
    assert wf.test.train[1] <= test_start and wf.test.scored[1] - test_start > 500


@pytest.mark.parametrize("extra", [{}, {"kalman.init": "diffuse", "kalman.observation_noise": "mle"}])
def test_trials_never_read_test_days(obj: KalmanHedgeObjective, extra: dict) -> None:
    params = {**PARAMS, **extra}
    before = obj(params, NullReporter())
    test_before = obj.evaluate({**PARAMS, "engine.rebalance": "daily"}).metrics["effectiveness"]
    names = ("y", "X", "y_pnl", "X_pnl")
    saved = {n: getattr(obj, n) for n in names}
    t0 = obj.walk.test.scored[0]
    rng = np.random.default_rng(0)
    try:
        for n in names:  # replace every return from the first test day on
            a = saved[n].copy()
            a[t0:] = rng.normal(0.0, 0.02, size=a[t0:].shape)
            setattr(obj, n, a)
        after = obj(params, NullReporter())
        test_after = obj.evaluate({**PARAMS, "engine.rebalance": "daily"}).metrics["effectiveness"]
    finally:
        for n in names:
            setattr(obj, n, saved[n])
    assert after.metrics == before.metrics
    np.testing.assert_array_equal(after.samples["effectiveness"], before.samples["effectiveness"])
    assert abs(test_after - test_before) > 0.1  # the perturbation does reach what is reported as test


# ---------------------------------------------------------------------------- evaluations
def test_trial_evaluation_and_statistic(obj: KalmanHedgeObjective, tmp_path: Path) -> None:
    rep = NullReporter(tmp_path)
    ev = obj(PARAMS, rep)
    x = _check_evaluation(ev)
    assert x.shape[0] == sum(f.days for f in obj.folds)
    np.testing.assert_array_equal(x[:, 1], np.concatenate([obj.y_pnl[slice(*f.scored)] for f in obj.folds]))
    assert 1 - np.var(x[:, 0], ddof=1) / np.var(x[:, 1], ddof=1) == pytest.approx(ev.metrics["effectiveness"])
    assert 0.8 < ev.metrics["effectiveness"] < 1.0  # EEM vs FXI/EPP/EFA: correlations ~0.9
    assert ev.metrics["effectiveness_cost_high"] <= ev.metrics["effectiveness_cost_low"]
    assert {f"effectiveness_{f.name}" for f in obj.folds} <= set(ev.metrics)
    assert [(name, s) for name, s, _ in rep.values] == [("effectiveness", k) for k in range(len(obj.folds))]
    assert rep.values[-1][2] == pytest.approx(ev.metrics["effectiveness"])
    # every trial is scored on the same days
    other = obj({**PARAMS, "kalman.signal_to_noise": 1.0, "engine.rebalance": "daily"}, NullReporter())
    np.testing.assert_array_equal(other.samples["effectiveness"][:, 1], x[:, 1])
    # the statistic is vectorised over leading axes
    stack = np.stack([x, x[::-1] * 1.5, np.roll(x, 7, axis=0)])[None]
    want = [1 - np.var(s[:, 0], ddof=1) / np.var(s[:, 1], ddof=1) for s in stack[0]]
    np.testing.assert_allclose(HedgeEffectiveness()(stack), [want])


def test_rebalance_frequency_changes_risk_and_cost(obj: KalmanHedgeObjective) -> None:
    out = {
        f: obj({**PARAMS, "engine.rebalance": f}, NullReporter()).metrics
        for f in ("daily", "weekly", "monthly")
    }
    assert out["daily"]["turnover"] > out["weekly"]["turnover"] > out["monthly"]["turnover"]
    assert out["daily"]["total_cost"] > out["weekly"]["total_cost"] > out["monthly"]["total_cost"]
    assert out["daily"]["effectiveness_gross"] != out["weekly"]["effectiveness_gross"]


def test_noise_parameterisations(obj: KalmanHedgeObjective) -> None:
    snr = obj({"kalman.signal_to_noise": 1e-2, "kalman.observation_noise": 1e-3}, NullReporter()).metrics
    seed = obj(
        {"kalman.signal_to_noise": None, "kalman.process_noise": 1e-5, "kalman.observation_noise": 1e-3},
        NullReporter(),
    ).metrics
    assert snr == seed  # q = delta R
    mle = obj({"kalman.observation_noise": "mle"}, NullReporter()).metrics
    assert 0.8 < mle["effectiveness"] < 1.0
    q, r = obj.noise(obj.walk.test, obj.configure({"kalman.observation_noise": "mle"}))
    assert 1e-7 < r < 1e-3 and q == pytest.approx(1e-2 * r)
    with pytest.raises(ValueError, match="exactly one of kalman.signal_to_noise"):
        obj({"kalman.process_noise": 1e-5}, NullReporter())
    with pytest.raises(ValueError, match="kalman.observation_noise"):
        obj({"kalman.observation_noise": "big"}, NullReporter())


def test_baselines_on_the_test_days(obj: KalmanHedgeObjective) -> None:
    b = obj.baselines()
    assert set(b) == {
        "no_hedge",
        "static_ols",
        "ridge",
        "min_variance_single",
        "rolling_ols",
        "kalman_grid_calibration",
    }
    tuned = _check_evaluation(obj.evaluate(PARAMS))
    assert tuned.shape[0] == obj.walk.test.days
    for splits in b.values():
        assert set(splits) == {"in_sample", "out_of_sample"}
        _check_evaluation(splits["in_sample"])
        x = _check_evaluation(splits["out_of_sample"])
        np.testing.assert_array_equal(x[:, 1], tuned[:, 1])  # the same test days, paired
    none = b["no_hedge"]["out_of_sample"]
    assert none.metrics["effectiveness"] == 0.0 and none.metrics["total_cost"] == 0.0
    grid = b["kalman_grid_calibration"]["in_sample"].metrics
    assert grid["process_noise"] in (1e-6, 1e-5, 1e-4) and grid["observation_noise"] in (1e-4, 1e-3, 1e-2)
    points = [
        obj(
            {"kalman.signal_to_noise": None, "kalman.process_noise": q, "kalman.observation_noise": r},
            NullReporter(),
        )
        for q in (1e-6, 1e-5, 1e-4)
        for r in (1e-4, 1e-3, 1e-2)
    ]
    assert grid["effectiveness"] == pytest.approx(max(p.metrics["effectiveness"] for p in points))
    assert 0.0 < b["static_ols"]["in_sample"].metrics["train_r2"] < 1.0
    # the framework's intervals and paired differences work on these samples
    block = default_block_length(len(tuned))
    ci = bootstrap_interval(tuned, HedgeEffectiveness(), block=block, n_boot=300)
    assert ci.low < ci.value < ci.high
    rolling = b["rolling_ols"]["out_of_sample"].samples["effectiveness"]
    d = paired_difference(tuned, rolling, HedgeEffectiveness(), block=block, n_boot=300)
    assert d.low < d.value < d.high and d.high - d.low < ci.high - ci.low  # pairing narrows it


@pytest.mark.parametrize("problem", PROBLEMS[1:])
def test_other_hedging_problems(problem: str) -> None:
    obj = build_objective(compose(["+study=kalman_hedge", f"kalman_hedge_problem={problem}"]))
    assert obj.target != "EEM" and len(obj.proxies) == 2
    val = obj(PARAMS, NullReporter()).metrics["effectiveness"]
    test = _check_evaluation(obj.evaluate(PARAMS))
    assert 0.4 < val < 1.0 and test.shape[0] == obj.walk.test.days


def test_plots_written(obj: KalmanHedgeObjective, tmp_path: Path) -> None:
    trials = [
        {"number": 0, "state": "COMPLETE", "params": PARAMS, "metrics": obj(PARAMS, NullReporter()).metrics}
    ]
    paths = obj.plots(PARAMS, trials, tmp_path)
    assert sorted(p.suffix for p in paths) == [".csv", ".html", ".png", ".png", ".png"]
    assert all(p.stat().st_size > 500 for p in paths)


def test_diffuse_init_and_intercept_variant() -> None:
    cfg = compose(["+study=kalman_hedge", "kalman.init=diffuse", "kalman.intercept=true", "data.returns=log"])
    m = build_objective(cfg)(PARAMS, NullReporter()).metrics
    assert all(math.isfinite(v) for v in m.values()) and 0.5 < m["effectiveness"] < 1.0
    bad = build_objective(compose(["+study=kalman_hedge", "kalman.init=oracle"]))
    with pytest.raises(ValueError, match="kalman.init"):
        bad(PARAMS, NullReporter())


def test_summary_shows_pbo_beside_the_rank_correlation_and_the_selections_cost(
    obj: KalmanHedgeObjective, cfg: dict
) -> None:
    from hedgeopt.results.assessment import assess_study
    from hedgeopt.results.assessment_text import summary_lines
    from hedgeopt.stats import probability_of_overfitting
    from hedgeopt.storages.trial_record import RecordFiles, in_sample

    space = cfg["search_space"]
    rng = np.random.default_rng(0)
    params = []
    for _ in range(12):
        p = {}
        for key, spec in space.items():
            if spec["type"] == "categorical":
                p[key] = spec["choices"][int(rng.integers(len(spec["choices"])))]
            elif spec.get("log"):
                p[key] = float(np.exp(rng.uniform(np.log(spec["low"]), np.log(spec["high"]))))
            else:
                p[key] = float(rng.uniform(spec["low"], spec["high"]))
        params.append(p)
    evs = [obj(p, NullReporter()) for p in params]
    best = max(range(12), key=lambda i: evs[i].metrics["effectiveness"])
    res = assess_study(
        ("effectiveness",),
        ("maximize",),
        evs[best].metrics,
        obj.evaluate(params[best]),
        obj.baselines(),
        in_sample(
            [StoredTrial(e, ("effectiveness",)) for e in evs], "effectiveness", RecordFiles(".", "study")
        ),
        0,
    )
    over = res["overfitting"]
    want = probability_of_overfitting(
        np.stack([e.samples["effectiveness"] for e in evs]), HedgeEffectiveness(), "maximize", seed=0
    )
    assert over["pbo"] == want.pbo
    assert over["rank_correlation"] == pytest.approx(float(np.median(want.rank_correlations)))
    assert over["selection_cost"] == pytest.approx(float(np.mean(want.costs))) and over["selection_cost"] >= 0
    [line] = [x for x in summary_lines(res) if x.startswith("Overfitting: PBO")]
    assert f"PBO {over['pbo']:.2f}" in line
    assert f"rank correlation {over['rank_correlation']:+.2f}" in line
    assert f"selection cost {over['selection_cost']:.3g}" in line
    assert over["reading"] in ("carries over", "near-ties", "does not carry over")
