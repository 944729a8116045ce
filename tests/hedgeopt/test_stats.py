"""hedgeopt.stats and hedgeopt.results.assessment: intervals, paired differences, verdicts, PBO."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from hedgeopt.protocol import Evaluation
from hedgeopt.results.assessment import assess_metric
from hedgeopt.stats import (
    CVaR,
    Interval,
    Mean,
    Sharpe,
    bootstrap_indices,
    bootstrap_interval,
    cvar,
    outcome,
    paired_difference,
    probability_of_overfitting,
    verdict_text,
)


def test_mean_interval_covers_the_true_mean_at_about_the_nominal_rate():
    # 300 seeded data sets of 60 draws from a skewed law (exponential, mean 1)
    rng = np.random.default_rng(0)
    hits = 0
    for i in range(300):
        x = rng.exponential(1.0, 60)
        iv = bootstrap_interval(x, Mean(), seed=i, n_boot=1000)
        hits += iv.covers(1.0)
    rate = hits / 300
    # percentile intervals under-cover slightly on skewed data at n=60; 95% nominal
    assert 0.89 <= rate <= 0.98, rate


def test_block_bootstrap_covers_a_serially_dependent_mean_where_iid_does_not():
    # AR(1) with phi = 0.6: the iid bootstrap ignores the autocorrelation and under-covers
    rng = np.random.default_rng(1)
    phi, n, reps = 0.6, 400, 150
    hit_iid = hit_block = 0
    for i in range(reps):
        e = rng.normal(size=n + 50)
        x = np.empty_like(e)
        x[0] = e[0]
        for t in range(1, e.size):
            x[t] = phi * x[t - 1] + e[t]
        x = x[50:]
        hit_iid += bootstrap_interval(x, Mean(), seed=i, n_boot=600).covers(0.0)
        hit_block += bootstrap_interval(x, Mean(), seed=i, n_boot=600, block=20).covers(0.0)
    assert hit_iid / reps < 0.85
    assert hit_block / reps >= 0.85
    assert hit_block > hit_iid


def test_moving_block_indices_are_runs_of_consecutive_rows():
    idx = bootstrap_indices(10, 5, np.random.default_rng(3), block=4)
    assert idx.shape == (5, 10)
    for row in idx:
        for start in (0, 4):
            run = row[start : start + 4]
            assert np.all(np.diff(run) % 10 == 1)


def test_paired_difference_of_a_config_against_itself_is_exactly_zero():
    x = np.random.default_rng(2).normal(size=(100, 2))
    d = paired_difference(x, x.copy(), Mean(), seed=5)
    assert (d.value, d.low, d.high) == (0.0, 0.0, 0.0)


def test_pairing_narrows_the_interval_of_a_difference_on_common_samples():
    rng = np.random.default_rng(4)
    common = rng.normal(0, 5, 200)
    a, b = common + 0.3 + rng.normal(0, 0.2, 200), common + rng.normal(0, 0.2, 200)
    d = paired_difference(a, b, Mean(), seed=1)
    ia, ib = bootstrap_interval(a, Mean(), seed=1), bootstrap_interval(b, Mean(), seed=2)
    assert d.low > 0  # the 0.3 edge is detected ...
    assert ia.low < ib.high  # ... though the two separate intervals overlap
    assert d.value == pytest.approx(a.mean() - b.mean())


def test_bootstrap_is_seeded():
    x = np.random.default_rng(0).normal(size=50)
    assert bootstrap_interval(x, Mean(), seed=3) == bootstrap_interval(x, Mean(), seed=3)


def test_cvar_known_values():
    assert cvar(np.arange(1, 101, dtype=float), 0.95) == pytest.approx(98.0)  # mean of 96..100
    z = sps.norm.ppf(0.95)
    closed = sps.norm.pdf(z) / 0.05  # CVaR95 of a standard normal loss
    big = np.random.default_rng(0).normal(size=400_000)
    assert cvar(big, 0.95) == pytest.approx(closed, rel=0.01)
    # vectorised over leading axes
    x = np.random.default_rng(1).normal(size=(3, 4, 40, 1))
    out = CVaR(0.9)(x)
    assert out.shape == (3, 4)
    assert out[1, 2] == pytest.approx(np.sort(x[1, 2, :, 0])[-4:].mean())


def test_sharpe_matches_a_direct_computation():
    r = np.random.default_rng(0).normal(0.001, 0.01, 500)
    assert float(Sharpe(252)(r[:, None])) == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252))
    assert float(Sharpe(252)(np.zeros((10, 1)))) == 0.0


@pytest.mark.parametrize(
    "lo,hi,direction,expected",
    [
        (0.1, 0.3, "maximize", "wins"),
        (0.1, 0.3, "minimize", "loses"),
        (-0.3, -0.1, "minimize", "wins"),
        (-0.3, -0.1, "maximize", "loses"),
        (-0.1, 0.2, "maximize", "ties"),
        (-0.1, 0.2, "minimize", "ties"),
    ],
)
def test_outcome(lo, hi, direction, expected):
    assert outcome(Interval((lo + hi) / 2, lo, hi), direction) == expected


def test_verdict_wording():
    iv = Interval(0.2, 0.1, 0.3)
    wins = verdict_text("wins", "score", "b", iv, "maximize")
    assert "The tuned config beats the best baseline 'b'" in wins
    loss = verdict_text("loses", "score", "b", Interval(-0.2, -0.3, -0.1), "maximize")
    assert loss.startswith("The baseline 'b' beats the tuned config") and "prefer the baseline" in loss
    tie = verdict_text("ties", "score", "b", Interval(0.05, -0.1, 0.2), "maximize")
    assert "ties the best baseline 'b'" in tie and "covers 0" in tie
    assert "own figure is the better one" not in tie
    behind = verdict_text("ties", "score", "b", Interval(-0.05, -0.2, 0.1), "maximize")
    assert "the baseline's own figure is the better one" in behind  # said, though not significant


def _noise_matrix(seed: int, n_trials: int = 40, n_samples: int = 256) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n_trials, n_samples, 1))


def test_pbo_is_near_zero_when_the_in_sample_ranking_carries_over():
    m = _noise_matrix(0)
    m += np.linspace(0.0, 2.0, m.shape[0])[:, None, None]  # trial i is truly better than i-1
    res = probability_of_overfitting(m, Mean(), "maximize")
    assert res.pbo < 0.05
    assert res.n_partitions == 16 and res.n_splits == 2000  # a random subset of C(16, 8)


def test_pbo_is_near_one_half_for_pure_noise_trials():
    pbos = [
        probability_of_overfitting(_noise_matrix(s), Mean(), "maximize", n_partitions=10).pbo
        for s in range(6)
    ]
    assert 0.3 <= float(np.mean(pbos)) <= 0.7, pbos


def test_pbo_direction_matters():
    m = _noise_matrix(1) + np.linspace(0.0, 2.0, 40)[:, None, None]
    assert probability_of_overfitting(m, Mean(), "minimize", n_partitions=8).pbo < 0.05
    assert probability_of_overfitting(-m, Mean(), "maximize", n_partitions=8).pbo < 0.05


def test_assessment_picks_the_best_baseline_and_pairs_on_the_same_samples():
    rng = np.random.default_rng(7)
    common = rng.normal(0, 3, 300)
    best = Evaluation({"loss": 0.0}, samples={"loss": common + 1.0})
    base = {
        "bad": {"out_of_sample": Evaluation({"loss": 0}, samples={"loss": common + 3.0})},
        "good": {"out_of_sample": Evaluation({"loss": 0}, samples={"loss": common + 1.5})},
        "points_only": {"out_of_sample": {"loss": 9.0}},
    }
    a = assess_metric("loss", "minimize", best, base, seed=0)
    v = a["verdict"]
    assert v["best_baseline"] == "good" and v["outcome"] == "wins"
    assert v["difference"]["value"] == pytest.approx(-0.5)
    assert v["difference"]["high"] < 0
    assert a["baselines"]["points_only"]["interval"] == {"value": 9.0}
    assert a["best"]["low"] < 1.0 + common.mean() < a["best"]["high"]


def test_assessment_with_point_figures_only_says_so_and_claims_nothing():
    a = assess_metric("score", "maximize", {"score": 1.0}, {"u": {"out_of_sample": {"score": 2.0}}}, seed=0)
    assert a["samples"] is False
    assert a["verdict"]["outcome"] == "not assessed" and a["verdict"]["best_baseline"] == "u"
    assert "Point figures only" in a["verdict"]["text"]


def test_pbo_equals_a_brute_force_cscv_on_a_small_case():
    from itertools import combinations

    m = np.random.default_rng(9).normal(size=(5, 12, 1))
    res = probability_of_overfitting(m, Mean(), "maximize", n_partitions=4)
    groups = np.arange(12).reshape(4, 3)
    logits = []
    for c in combinations(range(4), 2):
        is_rows = groups[list(c)].ravel()
        oos_rows = groups[[g for g in range(4) if g not in c]].ravel()
        perf_is = m[:, is_rows, 0].mean(axis=1)
        perf_oos = m[:, oos_rows, 0].mean(axis=1)
        n_star = int(np.argmax(perf_is))
        rank = 1 + int((perf_oos < perf_oos[n_star]).sum())  # 1 = worst, no ties here
        w = rank / 6.0
        logits.append(math.log(w / (1 - w)))
    assert res.n_splits == 6
    assert sorted(res.logits) == pytest.approx(sorted(logits))
    assert res.pbo == pytest.approx(np.mean(np.array(logits) <= 0))


def _two_metric(outcomes: dict[str, tuple[str, str]]) -> dict:
    per = {}
    for j, m in enumerate(("risk", "cost")):
        per[m] = {"baselines": {b: {"outcome": o[j], "difference": {}} for b, o in outcomes.items()}}
    return per


def test_pareto_verdict_loses_only_to_a_dominating_baseline():
    from hedgeopt.results.assessment import pareto_verdict

    trade_off = pareto_verdict(_two_metric({"never": ("wins", "loses"), "always": ("loses", "wins")}))
    assert trade_off["outcome"] == "ties" and "No baseline dominates" in trade_off["text"]
    dominated = pareto_verdict(_two_metric({"never": ("wins", "loses"), "band": ("loses", "ties")}))
    assert dominated["outcome"] == "loses" and dominated["best_baseline"] == "band"
    assert "prefer the baseline" in dominated["text"]
    best = pareto_verdict(_two_metric({"a": ("wins", "ties"), "b": ("ties", "wins")}))
    assert best["outcome"] == "wins"
