"""deep_hedge: path generators, P&L accounting, CVaR, training, pruning, weights round trip."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import deep_hedge_small

from hedgeopt.config.compose import compose
from hedgeopt.execution.objective_builder import build_objective
from hedgeopt.protocol import CVaR, Evaluation, NullReporter, TrialPruned
from hedgeopt.protocol import cvar as product_cvar
from hedgeopt.stats import SampleSet, assess
from objectives.deep_hedge.objective import DeepHedgeObjective
from simulators.deep.hedger_net import HedgerNet, hedge_features, load_hedger, predict_hedges
from simulators.deep.hedging_pnl import cvar, hedging_loss, terminal_pnl, trading_costs
from simulators.markets.sv_paths import (
    PathSpec,
    bs_call_price,
    bs_delta_hedge,
    call_payoff,
    derive_seed,
    make_datasets,
    simulate_gbm,
    simulate_heston,
)
from simulators.pricing.heston import HestonParams, heston_call_price

# one intra-op thread: tiny GRU steps are overhead-bound, and two threads on a shared machine
# are many times slower than one (the framework pins workers the same way)
torch.set_num_threads(1)

SMALL = ["+study=deep_hedge", *deep_hedge_small(epochs=6)]


@pytest.fixture(scope="module")
def small_objective() -> DeepHedgeObjective:
    return build_objective(compose(SMALL))


# ---------------------------------------------------------------- accounting


def test_pnl_accounting_by_hand() -> None:
    spot = torch.tensor([[100.0, 110.0, 105.0]], dtype=torch.float64)
    hedges = torch.tensor([[0.5, 1.0]], dtype=torch.float64)
    payoff = call_payoff(spot[:, -1], 100.0)
    # gains 0.5*10 + 1*(-5) = 0; trades 0.5@100, 0.5@110, 1.0@105 (closing) -> cost 0.01*210
    assert float(trading_costs(spot, hedges, 0.01)) == pytest.approx(2.1)
    assert float(terminal_pnl(spot, hedges, payoff, 3.0, 0.01)) == pytest.approx(3.0 + 0.0 - 2.1 - 5.0)
    with pytest.raises(ValueError, match="cost_rate"):
        trading_costs(spot, hedges, -0.1)


def test_bs_delta_on_fine_steps_replicates_the_call() -> None:
    s0, k, T, sigma, n_paths = 100.0, 100.0, 0.25, 0.2, 4000
    p0 = float(bs_call_price(s0, k, T, sigma))
    stds = {}
    for n_steps in (25, 400):
        gen = torch.Generator().manual_seed(7)
        paths = simulate_gbm(PathSpec(n_paths, n_steps, T, s0=s0), sigma, gen)
        payoff = call_payoff(paths.spot[:, -1], k)
        pnl = terminal_pnl(paths.spot, bs_delta_hedge(paths, k), payoff, p0, 0.0)
        stds[n_steps] = float(pnl.std())
        # self-financing replication: the mean error is zero up to sampling noise
        assert abs(float(pnl.mean())) < 4 * stds[n_steps] / math.sqrt(n_paths)
    unhedged_std = float(payoff.std())
    assert stds[400] < 0.05 * unhedged_std  # small error against the payoff
    assert stds[400] < 0.2
    # discrete-hedging error shrinks like 1/sqrt(n_steps): 16x the steps, about 1/4 the std
    assert 3.3 < stds[25] / stds[400] < 4.7


def test_heston_moments_and_seeds() -> None:
    gen = torch.Generator().manual_seed(3)
    params = HestonParams(v0=0.09, kappa=2.0, theta=0.04, xi=0.3, rho=-0.7)
    p = simulate_heston(PathSpec(20000, 20, 0.5), params, substeps=5, generator=gen)
    assert float(p.spot[:, -1].mean()) == pytest.approx(100.0, abs=0.35)  # martingale (mu = 0)
    expected_v = 0.04 + (0.09 - 0.04) * math.exp(-2.0 * 0.5)
    assert float(p.variance[:, -1].mean()) == pytest.approx(expected_v, rel=0.03)
    assert (p.variance >= 0).all()
    market = {"model": "heston", "n_steps": 5, "maturity": 0.1, "heston": {}}
    a = make_datasets(market, {"train": 50, "test": 50}, seed=1)
    b = make_datasets(market, {"train": 50, "test": 50}, seed=1)
    assert torch.equal(a["train"].spot, b["train"].spot)
    assert not torch.equal(a["train"].spot, a["test"].spot)
    assert len({derive_seed(1, s) for s in ("train", "val", "select", "test")}) == 4
    with pytest.raises(ValueError, match="market.model"):
        make_datasets({**market, "model": "sabr"}, {"train": 5}, seed=1)


def test_features_are_causal() -> None:
    gen = torch.Generator().manual_seed(0)
    p = simulate_gbm(PathSpec(3, 4, 1.0), generator=gen)
    f = hedge_features(p)
    assert f.shape == (3, 4, 4)
    assert torch.allclose(f[:, :, 0], p.spot[:, :-1] / p.spot[:, :1])
    assert torch.allclose(f[:, 1:, 2], torch.log(p.spot[:, 1:-1] / p.spot[:, :-2]))
    assert torch.allclose(f[0, :, 1], torch.tensor([1.0, 0.75, 0.5, 0.25], dtype=torch.float64))


# ---------------------------------------------------------------- CVaR


def test_cvar_matches_sorted_sample_definition() -> None:
    gen = torch.Generator().manual_seed(11)
    for n, level in ((1000, 0.95), (999, 0.95), (37, 0.9), (10, 0.5)):
        x = torch.randn(n, generator=gen, dtype=torch.float64)
        k = math.ceil((1 - level) * n - 1e-9)
        worst = torch.sort(x, descending=True).values[:k]
        assert float(cvar(x, level)) == pytest.approx(float(worst.mean()), rel=1e-12)
    # Rockafellar-Uryasev: min_t t + E[(L - t)+]/(1 - a) equals it when (1 - a) n is an integer
    x = torch.randn(1000, generator=gen, dtype=torch.float64)
    ru = min(float(t + (x - t).clamp(min=0).mean() / 0.05) for t in x)
    assert float(cvar(x, 0.95)) == pytest.approx(ru, rel=1e-9)
    with pytest.raises(ValueError, match="CVaR level"):
        cvar(x, 1.0)


def test_hedging_loss_itm_only_uses_in_the_money_paths() -> None:
    pnl = torch.tensor([-4.0, -1.0, 2.0, 3.0])
    itm = torch.tensor([False, True, True, False])
    sub = torch.tensor([-1.0, 2.0])
    assert float(hedging_loss(pnl, 0.5, 0.1, itm)) == pytest.approx(
        float(cvar(-sub, 0.5) + 0.1 * (sub**2).mean())
    )
    assert float(hedging_loss(pnl, 0.75, 0.0)) == pytest.approx(4.0)


# ---------------------------------------------------------------- training, pruning, weights


def test_short_training_lowers_the_risk_and_writes_artifacts(small_objective, tmp_path) -> None:
    reporter = NullReporter(tmp_path)
    ev = small_objective({"train.learning_rate": 0.01}, reporter)
    metrics = ev.metrics
    assert all(math.isfinite(v) for v in metrics.values())
    assert {name for name, _, _ in reporter.values} == {"val_cvar95"}  # the metric reported, by name
    steps = [s for _, s, _ in reporter.values]
    vals = [v for _, _, v in reporter.values]
    assert steps == list(range(6))
    assert min(vals[-2:]) < 0.85 * vals[0]  # validation CVaR95 falls during training
    # the trained hedger is far better than no hedge on the test paths
    no_hedge = small_objective.baselines()["no_hedge"]["in_sample"].metrics["select_cvar95"]
    assert metrics["select_cvar95"] < 0.6 * no_hedge
    # the evaluated weights are the best validation epoch's, not the last epoch's
    assert metrics["val_cvar95"] == pytest.approx(min(vals), rel=1e-6)
    assert vals[int(metrics["best_epoch"])] == pytest.approx(min(vals), rel=1e-6)
    rows = (tmp_path / "training_curve.csv").read_text().strip().splitlines()
    assert len(rows) == 7 and rows[0].startswith("epoch")
    assert (tmp_path / "training_curve.png").stat().st_size > 0


def test_saved_weights_reload_to_the_same_outputs(small_objective, tmp_path) -> None:
    params = {"train.learning_rate": 0.01}
    small_objective(params, NullReporter(tmp_path))
    net, _ = small_objective._cache[next(iter(small_objective._cache))]
    loaded = load_hedger(tmp_path / "hedger.pt")
    feats = small_objective.features["select"]
    assert torch.equal(predict_hedges(net, feats), predict_hedges(loaded, feats))
    mlp = HedgerNet("mlp", 8, 2)
    mlp.fit_scaling(feats)
    from simulators.deep.hedger_net import save_hedger

    reloaded = load_hedger(save_hedger(mlp, tmp_path / "mlp"))
    assert torch.equal(predict_hedges(mlp, feats), predict_hedges(reloaded, feats))


def test_early_stopping_on_validation_cvar(tmp_path) -> None:
    obj = build_objective(
        compose(
            [
                *SMALL,
                "train.epochs=8",
                "train.early_stopping_patience=2",
                "train.early_stopping_min_delta=0.05",
            ]
        )
    )
    reporter = NullReporter(tmp_path)
    ev = obj({"train.learning_rate": 1e-9}, reporter)  # nothing learns: no epoch improves by 0.05
    assert ev.metrics["epochs_trained"] == 3 and [s for _, s, _ in reporter.values] == [0, 1, 2]
    assert ev.metrics["best_epoch"] == 0.0


class _PruneAfter(NullReporter):
    def __init__(self, artifact_dir, k: int) -> None:
        super().__init__(artifact_dir)
        self.k = k

    def should_prune(self) -> bool:
        return bool(self.values) and self.values[-1][1] >= self.k


def test_pruning_raises_trial_pruned(small_objective, tmp_path) -> None:
    reporter = _PruneAfter(tmp_path, k=2)
    with pytest.raises(TrialPruned):
        small_objective({"model.hidden_size": 8}, reporter)
    assert [s for _, s, _ in reporter.values] == [0, 1, 2]
    assert len((tmp_path / "training_curve.csv").read_text().strip().splitlines()) == 4


def test_evaluate_baselines_and_plots(small_objective, tmp_path) -> None:
    params = {"train.learning_rate": 0.01}
    test = small_objective.evaluate(params, NullReporter(tmp_path))
    assert isinstance(test, Evaluation)
    assert all(math.isfinite(v) for v in test.metrics.values()) and "test_cvar95" in test.metrics
    assert not any(k.startswith("select_") for k in test.metrics)
    assert (tmp_path / "hedger.pt").exists()
    base = small_objective.baselines()
    assert set(base) == {
        "no_hedge",
        "bs_delta",
        "bs_delta_ww_band",
        "heston_mv_delta",
        "heston_mv_delta_ww_band",
    }
    for res in base.values():
        assert set(res["in_sample"].samples) == {"select_cvar95"}
        assert set(res["out_of_sample"].samples) == {"test_cvar95"}
        for key in ("pnl_mean", "pnl_std", "cvar95", "cost_mean"):
            assert math.isfinite(res["out_of_sample"].metrics[f"test_{key}"])
    assert (
        base["bs_delta"]["in_sample"].metrics["select_cvar95"]
        < base["no_hedge"]["in_sample"].metrics["select_cvar95"]
    )
    assert base["no_hedge"]["out_of_sample"].metrics["test_cost_mean"] == 0.0
    pngs = small_objective.plots(params, [], tmp_path / "plots")
    assert len(pngs) == 2 and all(p.exists() and p.suffix == ".png" for p in pngs)


def test_evaluations_keep_the_contract_and_pair_on_the_same_paths(small_objective, tmp_path) -> None:
    """statistic(samples) == metric; test samples of the model and every baseline are the same paths."""
    obj = small_objective
    test = obj.evaluate({"train.learning_rate": 0.01}, NullReporter(tmp_path))
    base = obj.baselines()
    evs = [test] + [b["out_of_sample"] for b in base.values()] + [b["in_sample"] for b in base.values()]
    for ev in evs:
        (key,) = ev.samples
        assert isinstance(ev.statistic(key), CVaR) and ev.statistic(key).level == 0.95
        assert float(ev.statistic(key)(ev.samples[key][:, None])) == pytest.approx(ev.metrics[key], rel=1e-12)
        assert ev.samples[key].shape == (256,)
    # an independent computation of one baseline's per-path losses: BS delta on the test paths
    p = obj.paths["test"]
    pnl = terminal_pnl(
        p.spot, bs_delta_hedge(p, 100.0), call_payoff(p.spot[:, -1], 100.0), obj.premium, 0.002
    )
    assert base["bs_delta"]["out_of_sample"].samples["test_cvar95"] == pytest.approx(
        (-pnl).double().numpy(), abs=1e-5
    )
    # the premium is the Heston price of the study's market, and every P&L starts from it
    assert obj.premium == pytest.approx(heston_call_price(100.0, 100.0, 0.25, HestonParams()), rel=1e-10)
    nh = base["no_hedge"]["out_of_sample"]
    assert nh.metrics["test_pnl_mean"] == pytest.approx(
        obj.premium - float(obj.payoff["test"].double().mean()), rel=1e-5
    )
    # what the framework does with them: paired differences against each baseline and a verdict
    stat = test.statistic("test_cvar95")
    out = assess(
        "test_cvar95",
        "minimize",
        SampleSet(test.samples["test_cvar95"], stat),
        {n: SampleSet(b["out_of_sample"].samples["test_cvar95"], stat) for n, b in base.items()},
        in_sample={n: b["in_sample"].metrics["select_cvar95"] for n, b in base.items()},
    )
    assert set(out["baselines"]) == set(base) and all("difference" in e for e in out["baselines"].values())
    v = out["verdict"]  # the baseline it names is the best in sample (selection paths) of its group
    group = {"loses": v["loses_to"], "wins": v["beats"], "ties": v["ties_with"]}[v["outcome"]]
    best = min(group, key=lambda n: base[n]["in_sample"].metrics["select_cvar95"])
    assert v["best_baseline"] == best
    assert out["baselines"]["no_hedge"]["outcome"] == "wins"


def test_band_risk_aversion_is_chosen_on_selection_paths_only(small_objective) -> None:
    lam = small_objective.band_risk_aversions()
    assert set(lam) == {"bs_delta_ww_band", "heston_mv_delta_ww_band"}
    # with a wide band (low risk aversion) the banded hedge trades less than every-step delta
    p = small_objective.paths["select"]
    from simulators.deep.sv_hedges import band_hedges, bs_gamma_on_paths

    bs = bs_delta_hedge(p, 100.0)
    wide = band_hedges(p, bs, bs_gamma_on_paths(p, 100.0), 0.002, 0.1)
    assert float(trading_costs(p.spot, wide, 0.002).mean()) < float(trading_costs(p.spot, bs, 0.002).mean())
    # the choice does not change when the test paths change (it never looks at them)
    other = build_objective(compose([*SMALL, "data.n_test=64"]))
    assert other.band_risk_aversions() == lam


def test_premium_options_and_learned_premium(tmp_path) -> None:
    bs = build_objective(compose([*SMALL, "hedge.initial_capital=bs"]))
    assert bs.premium == pytest.approx(float(bs_call_price(100.0, 100.0, 0.25, 0.2)))
    assert build_objective(compose([*SMALL, "hedge.initial_capital=3.5"])).premium == 3.5
    gbm = build_objective(compose([*SMALL, "market.model=gbm", "market.sigma=0.3"]))
    assert gbm.premium == pytest.approx(float(bs_call_price(100.0, 100.0, 0.25, 0.3)))
    assert set(gbm.baselines()) == {"no_hedge", "bs_delta", "bs_delta_ww_band"}
    with pytest.raises(ValueError, match="hedge.initial_capital"):
        build_objective(compose([*SMALL, "hedge.initial_capital=black"]))
    with pytest.raises(ValueError, match="needs market.model=heston"):
        build_objective(compose([*SMALL, "market.model=gbm", "hedge.initial_capital=heston"]))
    learned = build_objective(compose([*SMALL, "hedge.initial_capital=learned", "train.epochs=4"]))
    ev = learned({"train.learning_rate": 0.01, "loss.beta": 0.0}, NullReporter(tmp_path))
    # the learned premium moved from the Heston price towards the mean hedging cost; the
    # yardstick keeps the Heston price so every trial and baseline is on the same scale
    assert ev.metrics["premium_learned"] != pytest.approx(learned.premium, abs=1e-3)
    assert ev.metrics["premium"] == pytest.approx(learned.premium)
    assert abs(ev.metrics["premium_learned"] - learned.premium) < 1.0


def test_torch_cvar_is_the_products_cvar() -> None:
    """The differentiable training CVaR and hedgeopt's numpy CVaR are one estimator, one sign."""
    rng = np.random.default_rng(3)
    for n, level in ((20, 0.95), (1000, 0.95), (37, 0.5), (10, 0.0)):
        losses = rng.standard_t(4, size=n)
        assert float(cvar(torch.from_numpy(losses), level)) == pytest.approx(
            product_cvar(losses, level), rel=1e-12
        )
