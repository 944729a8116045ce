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
    for name, is_loss in (("bad", 3.1), ("good", 1.4)):
        base[name]["in_sample"] = {"loss": is_loss}
    a = assess_metric("loss", "minimize", best, base, seed=0)
    v = a["verdict"]
    assert v["best_baseline"] == "good" and v["outcome"] == "wins"
    assert v["beats"] == ["bad", "good"] and v["loses_to"] == []
    assert v["difference"]["value"] == pytest.approx(-0.5)
    assert v["difference"]["high"] < 0
    # the per-comparison interval is the paired bootstrap of that baseline alone
    alone = paired_difference(common + 1.0, common + 1.5, Mean(), seed=0)
    assert a["baselines"]["good"]["difference"]["low"] == pytest.approx(alone.low)
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


# ------------------------------------------------------------------ the verdict against every baseline
def test_the_named_baseline_is_the_best_in_sample_not_the_best_on_the_test_data():
    rng = np.random.default_rng(3)
    common = rng.normal(0, 1, 200)
    best = Evaluation({"score": 0}, samples={"score": common + rng.normal(0, 1.0, 200)})
    base = {  # out of sample "lucky" is best; in sample "steady" was
        "lucky": {
            "in_sample": {"score": 0.1},
            "out_of_sample": Evaluation({}, samples={"score": common + 0.01}),
        },
        "steady": {
            "in_sample": {"score": 0.5},
            "out_of_sample": Evaluation({}, samples={"score": common - 0.005}),
        },
    }
    v = assess_metric("score", "maximize", best, base, seed=1)["verdict"]
    assert v["outcome"] == "ties" and v["best_baseline"] == "steady"
    assert "ties 'steady' (the best in sample of the baselines it does not beat)" in v["text"]
    # without in-sample figures no baseline is called the best
    for b in base.values():
        b["in_sample"] = {}
    v = assess_metric("score", "maximize", best, base, seed=1)["verdict"]
    assert "best in sample" not in v["text"] and v["reference_rule"].startswith("no in-sample")


def test_simultaneous_intervals_are_the_max_t_bootstrap_computed_by_hand():
    from hedgeopt.stats import compare_all

    rng = np.random.default_rng(5)
    n, n_boot = 80, 500
    common = rng.normal(0, 1, n)
    x = common + rng.normal(0, 1, n)
    bases = {f"b{k}": common + rng.normal(0, 1, n) + 0.1 * k for k in range(3)}
    out = compare_all(x, bases, Mean(), "maximize", seed=11, n_boot=n_boot)
    idx = bootstrap_indices(n, n_boot, np.random.default_rng(11))
    d = np.array([x.mean() - b.mean() for b in bases.values()])
    reps = np.stack([x[idx].mean(axis=1) - b[idx].mean(axis=1) for b in bases.values()], axis=1)
    se = reps.std(axis=0, ddof=1)
    max_t = (np.abs(reps - d) / se).max(axis=1)
    c = np.quantile(max_t, 0.95)
    assert c > 1.96  # wider than one comparison alone
    for j, k in enumerate(bases):
        assert out[k]["simultaneous"]["low"] == pytest.approx(d[j] - c * se[j])
        assert out[k]["simultaneous"]["high"] == pytest.approx(d[j] + c * se[j])
        assert out[k]["p_adjusted"] == pytest.approx((1 + np.sum(max_t >= abs(d[j]) / se[j])) / (n_boot + 1))


def _outcomes(k: int, shift: float, sims: int, n: int = 150, n_boot: int = 400) -> tuple[dict, float]:
    """Shares of verdicts over seeded studies whose tuned config is ``shift`` better than ``k``
    baselines equal in distribution to one another (common noise, as common random numbers
    give); and the share that one-at-a-time 95% intervals would call "loses"."""
    from hedgeopt.stats import compare_all, verdict

    rng = np.random.default_rng(1000 * k + int(shift * 100))
    seen, naive = [], 0
    for s in range(sims):
        common = rng.normal(0, 1, n)
        best = common + rng.normal(0, 1, n) + shift
        bases = {f"b{j}": common + rng.normal(0, 1, n) for j in range(k)}
        comps = compare_all(best, bases, Mean(), "maximize", seed=s, n_boot=n_boot)
        seen.append(verdict("x", "maximize", comps)["outcome"])
        naive += any(c["difference"]["high"] < 0 for c in comps.values())
    return {o: seen.count(o) / sims for o in ("wins", "ties", "loses")}, naive / sims


@pytest.mark.parametrize("k", [1, 3])
def test_verdict_size_and_power_with_k_baselines(k):
    null, naive = _outcomes(k, 0.0, 500)
    # equal in distribution: "loses" at most 2.5% + noise (500 studies: sd 0.7 points)
    assert null["loses"] <= 0.045, null
    assert null["wins"] <= 0.045, null
    if k == 3:  # one-at-a-time intervals would say "loses" more often: the rule matters
        assert naive > null["loses"] + 0.01, (naive, null)
    power, _ = _outcomes(k, 0.45, 100)  # a real win of 0.45 sd per sample
    assert power["wins"] >= 0.7 and power["loses"] == 0.0, power


def _tie_comparisons() -> dict:
    from hedgeopt.stats import compare_all

    rng = np.random.default_rng(2)
    common = rng.normal(0, 1, 300)
    return compare_all(
        common + rng.normal(0, 0.1, 300),
        {"whalley_wilmott": common + rng.normal(0, 0.1, 300), "never": common - 1.0},
        Mean(),
        "maximize",
    )


def test_a_tie_with_a_baseline_without_tuned_parameters_says_prefer_it():
    from hedgeopt.stats import verdict

    comps = _tie_comparisons()
    ins = {"whalley_wilmott": 0.2, "never": -1.0}
    v = verdict("score", "maximize", comps, ins, simple={"whalley_wilmott", "never"})
    assert v["outcome"] == "ties" and v["best_baseline"] == "whalley_wilmott"
    assert "ties 'whalley_wilmott'" in v["text"]
    assert "Prefer the baseline 'whalley_wilmott': it has no tuned parameters." in v["text"]
    assert v["prefer"] == "whalley_wilmott" and "It beats 'never'." in v["text"]
    tuned = verdict("score", "maximize", comps, ins, simple={"never"})  # a calibrated baseline
    assert "Prefer" not in tuned["text"] and "prefer" not in tuned


def test_a_tie_whose_best_baseline_is_tuned_names_the_plain_one_it_prefers_and_why():
    from hedgeopt.stats import compare_all, verdict

    rng = np.random.default_rng(2)
    common = rng.normal(0, 1, 300)
    comps = compare_all(
        common + rng.normal(0, 0.1, 300),
        {"mv_delta_band": common + rng.normal(0, 0.1, 300), "mv_delta": common + rng.normal(0, 0.1, 300)},
        Mean(),
        "maximize",
    )
    assert {c["outcome"] for c in comps.values()} == {"ties"}
    v = verdict("score", "maximize", comps, {"mv_delta_band": 0.3, "mv_delta": 0.2}, simple={"mv_delta"})
    assert v["best_baseline"] == "mv_delta_band" and v["prefer"] == "mv_delta"
    assert "ties 'mv_delta_band'" in v["text"]
    assert (
        "Prefer the baseline 'mv_delta', which it also ties: 'mv_delta' has no tuned parameters, "
        "'mv_delta_band' has." in v["text"]
    )


def test_loses_to_one_names_it_and_says_prefer_the_baseline():
    from hedgeopt.stats import compare_all, verdict

    rng = np.random.default_rng(4)
    common = rng.normal(0, 1, 300)
    comps = compare_all(
        common, {"a": common + 0.5 + rng.normal(0, 0.1, 300), "b": common - 0.5}, Mean(), "maximize"
    )
    v = verdict("score", "maximize", comps, {"a": 0.0, "b": 1.0}, simple={"a"})
    assert v["outcome"] == "loses" and v["loses_to"] == ["a"] and v["best_baseline"] == "a"
    assert v["text"].startswith("The tuned config loses to 'a' out of sample")
    assert v["text"].endswith("prefer the baseline: it has no tuned parameters.")


# ------------------------------------------------------------------ PBO: in-sample statistic, context
class _Trial:
    def __init__(self, attrs):
        self.user_attrs = attrs
        self.state = type("S", (), {"name": "COMPLETE"})()


def test_pbo_uses_the_statistic_stored_with_the_in_sample_samples():
    from hedgeopt.results.assessment import assess_study
    from hedgeopt.stats import describe_statistic, statistic_from

    rng = np.random.default_rng(8)
    m = rng.standard_t(3, size=(12, 64, 1)) + np.linspace(0, 0.3, 12)[:, None, None]
    stat = CVaR(0.8)
    assert statistic_from(describe_statistic(stat)) == stat
    trials = [
        _Trial({"samples.loss": m[i].tolist(), "statistic.loss": describe_statistic(stat)}) for i in range(12)
    ]
    oos = Evaluation({"loss": 0.0}, samples={"loss": rng.normal(size=100)}, statistics={"loss": Mean()})
    from hedgeopt.storages.trial_record import RecordFiles, in_sample

    got = in_sample(trials, "loss", RecordFiles(".", "study"))  # a journal's old-style attrs: no samples file
    res = assess_study(("loss",), ("minimize",), {"loss": 0.0}, oos, {}, got, 0)
    want = probability_of_overfitting(m, stat, "minimize", seed=0)
    other = probability_of_overfitting(m, Mean(), "minimize", seed=0)
    assert res["overfitting"]["pbo"] == want.pbo and want.pbo != other.pbo
    assert res["overfitting"]["statistic"] == "CVaR"


def test_pbo_context_equals_a_brute_force_computation():
    from itertools import combinations

    from scipy.stats import spearmanr

    m = np.random.default_rng(9).normal(size=(20, 12, 1)) + np.linspace(0, 0.5, 20)[:, None, None]
    res = probability_of_overfitting(m, Mean(), "maximize", n_partitions=4)
    groups = np.arange(12).reshape(4, 3)
    rhos, costs, spreads = [], [], []
    for c in combinations(range(4), 2):
        is_rows = groups[list(c)].ravel()
        oos_rows = groups[[g for g in range(4) if g not in c]].ravel()
        p_is, p_oos = m[:, is_rows, 0].mean(axis=1), m[:, oos_rows, 0].mean(axis=1)
        rhos.append(spearmanr(p_is, p_oos).statistic)
        top = np.argsort(-p_is)[:2]  # the top decile of 20 trials
        costs.append(p_oos[top].max() - p_oos[int(np.argmax(p_is))])
        spreads.append(p_oos.max() - np.median(p_oos))
    assert sorted(res.rank_correlations) == pytest.approx(sorted(rhos))
    assert sorted(res.costs) == pytest.approx(sorted(costs))
    d = res.as_dict()
    assert d["rank_correlation"] == pytest.approx(np.median(rhos))
    assert d["selection_cost_share"] == pytest.approx(np.mean(costs) / np.mean(spreads))


def test_pbo_reading_tells_near_ties_from_a_ranking_that_does_not_carry_over():
    from hedgeopt.results.assessment import overfitting

    rng = np.random.default_rng(0)
    # a real ranking whose best 28 of 40 trials are exact ties: PBO high, rank correlation positive
    level = np.r_[np.full(12, -0.9), np.zeros(28)][:, None, None]
    ties = overfitting("x", "maximize", level + rng.normal(0, 1, (40, 256, 1)), Mean(), 0)
    assert ties["pbo"] > 0.3 and ties["rank_correlation"] > 2 / math.sqrt(39)
    assert ties["reading"] == "near-ties" and ties["text"].startswith("near-ties, the choice costs nothing")
    noise = overfitting("x", "maximize", rng.normal(0, 1, (40, 256, 1)), Mean(), 0)
    assert noise["pbo"] > 0.3 and noise["rank_correlation"] < 2 / math.sqrt(39)
    assert noise["reading"] == "does not carry over" and "does not carry over" in noise["text"]
    steps = np.linspace(-2, 0, 40)[:, None, None]
    clear = overfitting("x", "maximize", steps + rng.normal(0, 1, (40, 256, 1)), Mean(), 0)
    assert clear["reading"] == "carries over" and clear["rank_correlation"] > 0.5
    assert clear["in_sample_scores"]["best"] == pytest.approx((steps + 0)[-1, 0, 0], abs=0.3)
