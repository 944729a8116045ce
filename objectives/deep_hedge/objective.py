"""deep_hedge: tune a GRU (or per-step MLP) deep hedger of a short European call.

Optuna tunes the loss (CVaR level ``loss.alpha``, MSE weight ``loss.beta``) and the network
(``model.hidden_size``, ``model.num_layers``, ``train.learning_rate``); every trial is scored
on the same yardstick regardless of those settings: ``select_cvar95``, the CVaR95 of the
hedging loss -P&L on fixed selection paths (minimise). Pruning and early stopping compare
the validation CVaR95 after each epoch (same scale); the best epoch's weights are kept.

Data splits (all simulated once per worker from ``seed``): train (fit), val (per-epoch
report, pruning, early stopping, best epoch), select (the search's score: ``select_*``) and
test (held out: only :meth:`evaluate` and the baselines' out-of-sample split, ``test_*``).
Per-path losses on select (in-sample) and test (out-of-sample) are returned as samples with
the CVaR(0.95) statistic, and every baseline uses the same paths, premium and costs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from hedgeopt.protocol import (
    CVaR,
    Evaluation,
    NullReporter,
    Objective,
    Reporter,
    StudyContext,
)
from objectives.deep_hedge.baselines import (
    band_baseline_names,
    baseline_hedges,
    choose_band_risk_aversions,
)
from objectives.deep_hedge.callbacks import ReportAndPrune
from simulators.deep.deep_hedge_training import DeepHedgeModule, fit_best_epoch, make_loader
from simulators.deep.hedger_net import (
    HedgerNet,
    hedge_features,
    hedger_from_config,
    load_hedger,
    predict_hedges,
    save_hedger,
)
from simulators.deep.hedging_pnl import terminal_pnl, trading_costs, value_at_risk
from simulators.deep.sv_hedges import heston_hedge_greeks
from simulators.markets.sv_paths import (
    Paths,
    bs_initial_price,
    call_payoff,
    derive_seed,
    make_datasets,
)
from simulators.pricing.heston import HestonParams, heston_call_price

YARDSTICK = CVaR(0.95)
PREMIUMS = ("model", "heston", "bs", "learned")


def _params_key(params: Mapping[str, Any]) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in params.items()))


class DeepHedgeObjective(Objective):
    """Trains a deep hedger per trial with Lightning and scores it on the fixed selection paths."""

    #: read from the study config only (paths, costs and the premium are set up once per worker)
    fixed_keys = ("market", "option", "data", "hedge.cost_rate", "hedge.initial_capital")
    #: their band's risk aversion is chosen on the selection paths; the other baselines are fixed rules
    tuned_baselines = ("bs_delta_ww_band", "heston_mv_delta_ww_band")

    @staticmethod
    def held_out_name(metric: str) -> str:
        """Trials are chosen on the selection paths (``select_x``); the export reports ``test_x``."""
        return "test_" + metric[len("select_") :] if metric.startswith("select_") else metric

    def __init__(self, config: Mapping[str, Any], context: StudyContext | None = None) -> None:
        super().__init__(config, context)
        cfg = self.config
        for section in ("market", "option", "hedge", "data", "model", "loss", "train"):
            if not isinstance(cfg.get(section), Mapping):
                raise ValueError(f"deep_hedge config needs a '{section}' section")  # noqa: TRY004 (a config error)
        self.seed = self.context.seed
        market = cfg["market"]
        self.strike = float(cfg["option"]["strike"])
        if not self.strike > 0:
            raise ValueError(f"option.strike must be > 0, got {self.strike}")
        for old, new in (("n_oos", "n_test"),):
            if old in cfg["data"]:
                raise ValueError(
                    f"data.{old} was renamed: use data.n_select (search) and data.{new} (held out)"
                )
        sizes = {}
        for s in ("train", "val", "select", "test"):
            if f"n_{s}" not in cfg["data"]:
                raise ValueError(f"deep_hedge config needs data.n_{s}")
            sizes[s] = int(cfg["data"][f"n_{s}"])
            if sizes[s] < 20:
                raise ValueError(f"data.n_{s} must be >= 20 paths, got {sizes[s]}")
        self.heston = (
            HestonParams.from_config(market.get("heston") or {}) if market["model"] == "heston" else None
        )
        self.paths: dict[str, Paths] = make_datasets(market, sizes, self.seed)
        self.features = {s: hedge_features(p) for s, p in self.paths.items()}
        self.payoff = {s: call_payoff(p.spot[:, -1], self.strike) for s, p in self.paths.items()}
        self.cost_rate = self._cost_rate(cfg)
        self.premium_mode, self.premium = self._premium(cfg)
        self._cache: dict[tuple, tuple[HedgerNet, dict[str, float]]] = {}
        self._baselines: dict[str, dict[str, Evaluation]] | None = None
        self._greeks: dict[str, dict[str, torch.Tensor]] = {}
        self._lam: dict[str, float] | None = None

    # ------------------------------------------------------------ config helpers

    def _bs_vol(self, cfg: Mapping[str, Any]) -> tuple[str, float]:
        """(vol_mode, fixed sigma) of the Black-Scholes hedge; the fixed sigma defaults to the model's
        long-run vol."""
        hedge, market = cfg["hedge"], cfg["market"]
        mode = str(hedge["bs_vol"])
        sigma = hedge.get("bs_sigma")
        if sigma is None:
            sigma = math.sqrt(self.heston.theta) if self.heston is not None else float(market["sigma"])
        return mode, float(sigma)

    def _premium(self, cfg: Mapping[str, Any]) -> tuple[str, float]:
        """``hedge.initial_capital``: (mode, p0). p0 is the premium every P&L starts from.

        ``model`` (default): the Heston price on Heston paths, Black-Scholes on GBM;
        ``heston``; ``bs`` (Black-Scholes at the vol the BS hedge starts with); a number; or
        ``learned`` (trained with the hedge from the model price, which stays the yardstick's p0).
        """
        raw = cfg["hedge"]["initial_capital"]
        market = cfg["market"]
        s0, T = float(market["s0"]), float(market["maturity"])
        if not isinstance(raw, str):
            try:
                return "number", float(raw)
            except (TypeError, ValueError):
                raise ValueError(
                    f"hedge.initial_capital must be one of {PREMIUMS} or a number, got {raw!r}"
                ) from None
        if raw not in PREMIUMS:
            raise ValueError(f"hedge.initial_capital must be one of {PREMIUMS} or a number, got {raw!r}")
        if raw == "heston" and self.heston is None:
            raise ValueError("hedge.initial_capital=heston needs market.model=heston")
        if raw in ("model", "heston", "learned") and self.heston is not None:
            return raw, heston_call_price(s0, self.strike, T, self.heston)
        mode, sigma = self._bs_vol(cfg)
        if mode == "instantaneous":
            sigma = math.sqrt(self.heston.v0) if self.heston is not None else float(market["sigma"])
        return raw, bs_initial_price(s0, self.strike, T, sigma)

    @staticmethod
    def _cost_rate(cfg: Mapping[str, Any]) -> float:
        rate = float(cfg["hedge"]["cost_rate"])
        if rate < 0:
            raise ValueError(f"hedge.cost_rate must be >= 0, got {rate}")
        return rate

    # ------------------------------------------------------------ training and scoring

    def _fit(
        self, cfg: Mapping[str, Any], reporter: Reporter, write_artifacts: bool = True
    ) -> tuple[HedgerNet, dict[str, float]]:
        """Train, keep the best validation epoch; returns the net and training facts (metrics)."""
        loss, train, model_cfg = cfg["loss"], cfg["train"], cfg["model"]
        torch.manual_seed(derive_seed(self.seed, "train") % (2**31))
        net = hedger_from_config(model_cfg)
        net.fit_scaling(self.features["train"])
        module = DeepHedgeModule(
            net,
            strike=self.strike,
            initial_capital=self.premium,
            cost_rate=self.cost_rate,
            alpha=float(loss["alpha"]),
            beta=float(loss["beta"]),
            learning_rate=float(train["learning_rate"]),
            itm_only=bool(loss["itm_only"]),
            learn_premium=self.premium_mode == "learned",
        )
        out_dir = Path(reporter.artifact_dir)
        train_loader = make_loader(
            self.features["train"],
            self.paths["train"].spot,
            int(train["batch_size"]),
            shuffle=True,
            seed=self.seed,
        )
        val_loader = make_loader(
            self.features["val"], self.paths["val"].spot, self.paths["val"].n_paths, shuffle=False
        )
        patience = train.get("early_stopping_patience")
        try:
            facts = fit_best_epoch(
                module,
                train_loader,
                val_loader,
                max_epochs=int(train["epochs"]),
                patience=None if patience is None else int(patience),
                callbacks=[ReportAndPrune(reporter)],
                accelerator=str(train["accelerator"]),
                gradient_clip_val=train["gradient_clip_val"],
                min_delta=float(train["early_stopping_min_delta"]),
            )
        finally:
            if write_artifacts:
                from objectives.deep_hedge.plots import write_training_curve

                write_training_curve(module.history, out_dir)
        net = net.cpu().eval()
        facts = {
            "val_cvar95": facts["best_val_cvar95"],
            "best_epoch": facts["best_epoch"],
            "epochs_trained": facts["epochs_trained"],
        }
        if module.learn_premium:
            facts["premium_learned"] = float(module.premium.detach())
        if write_artifacts:
            save_hedger(net, out_dir, "hedger")
        return net, facts

    def _trained(
        self, params: Mapping[str, Any], reporter: Reporter | None
    ) -> tuple[HedgerNet, dict[str, float]]:
        """The net for ``params``: from this worker's cache, else trained (deterministic given seed)."""
        key = _params_key(params)
        if key in self._cache:
            net, facts = self._cache[key]
            if reporter is not None:
                save_hedger(net, reporter.artifact_dir, "hedger")
            return net, facts
        rep = reporter if reporter is not None else NullReporter(None)
        net, facts = self._fit(self.configure(params), rep, write_artifacts=reporter is not None)
        self._cache = {key: (net, facts)}  # keep only the latest: enough for evaluate -> plots
        return net, facts

    def _evaluation(self, split: str, hedges: torch.Tensor, **extra: float) -> Evaluation:
        """Metrics of ``hedges`` on a split; per-path losses -P&L are the samples of ``<prefix>cvar95``."""
        prefix = "select_" if split == "select" else "test_" if split == "test" else f"{split}_"
        p = self.paths[split]
        pnl = terminal_pnl(p.spot, hedges, self.payoff[split], self.premium, self.cost_rate).double().cpu()
        losses = (-pnl).numpy()
        key = f"{prefix}cvar95"
        metrics = {
            key: float(YARDSTICK(losses[:, None])),
            f"{prefix}var95": float(value_at_risk(-pnl, 0.95)),
            f"{prefix}pnl_mean": float(pnl.mean()),
            f"{prefix}pnl_std": float(pnl.std()),
            f"{prefix}cost_mean": float(trading_costs(p.spot, hedges, self.cost_rate).double().mean()),
            "premium": float(self.premium),
            **{k: float(v) for k, v in extra.items()},
        }
        return Evaluation(metrics=metrics, samples={key: losses}, statistics={key: YARDSTICK})

    def __call__(self, params: Mapping[str, Any], reporter: Reporter) -> Evaluation:
        net, facts = self._fit(self.configure(params), reporter)
        self._cache = {_params_key(params): (net, facts)}
        return self._evaluation("select", predict_hedges(net, self.features["select"]), **facts)

    def evaluate(self, params: Mapping[str, Any], reporter: Reporter | None = None) -> Evaluation:
        """``test_*`` metrics on the held-out test paths; the best epoch's weights go to the reporter's
        folder."""
        net, facts = self._trained(params, reporter)
        return self._evaluation("test", predict_hedges(net, self.features["test"]), **facts)

    # ------------------------------------------------------------ baselines

    def baseline_hedges(self, split: str) -> dict[str, torch.Tensor]:
        """Positions of every baseline on one split (band risk aversions as :meth:`band_risk_aversions`)."""
        lam = self.band_risk_aversions()
        return self._baseline_hedges(split, lam)

    def _baseline_hedges(self, split: str, lam: Mapping[str, float]) -> dict[str, torch.Tensor]:
        greeks = self._heston_greeks(split) if self.heston is not None else None
        return baseline_hedges(
            self.paths[split], self.strike, self._bs_vol(self.config), self.cost_rate, greeks, lam
        )

    def _heston_greeks(self, split: str) -> dict[str, torch.Tensor]:
        if split not in self._greeks:
            self._greeks[split] = heston_hedge_greeks(self.paths[split], self.strike, self.heston)
        return self._greeks[split]

    def band_risk_aversions(self) -> dict[str, float]:
        """Risk aversion of each Whalley-Wilmott baseline: ``hedge.band_risk_aversion`` if a number,
        else the value of :data:`objectives.deep_hedge.baselines.BAND_RISK_AVERSIONS` with the
        lowest CVaR95 on the selection paths (the baseline is tuned on the same paths as the deep
        hedger, never on the test paths)."""
        if self._lam is not None:
            return self._lam
        fixed = self.config["hedge"].get("band_risk_aversion")
        names = band_baseline_names(self.heston is not None)
        if fixed is not None:
            if not float(fixed) > 0:
                raise ValueError(f"hedge.band_risk_aversion must be > 0 or null, got {fixed!r}")
            self._lam = {n: float(fixed) for n in names}
            return self._lam
        self._lam = choose_band_risk_aversions(
            names,
            self.cost_rate,
            lambda lam: self._baseline_hedges("select", lam),
            lambda hedges: self._evaluation("select", hedges).metrics["select_cvar95"],
        )
        return self._lam

    def baselines(self) -> dict[str, dict[str, Evaluation]]:
        """No hedge, BS delta (every step, WW band), Heston min-variance delta (every step, WW band):
        in-sample = selection paths, out-of-sample = the held-out test paths, same premium and costs."""
        if self._baselines is None:
            lam = self.band_risk_aversions()
            out: dict[str, dict[str, Evaluation]] = {}
            for label, split in (("in_sample", "select"), ("out_of_sample", "test")):
                for name, hedges in self._baseline_hedges(split, lam).items():
                    extra = {"band_risk_aversion": lam[name]} if name in lam else {}
                    out.setdefault(name, {})[label] = self._evaluation(split, hedges, **extra)
            self._baselines = out
        return self._baselines

    # ------------------------------------------------------------ artifacts and plots

    def plots(
        self, best_params: Mapping[str, Any], trials: Sequence[Mapping[str, Any]], out_dir: Path
    ) -> list[Path]:
        """P&L histograms (best model vs the every-step baselines, test paths) and hedge ratio vs
        moneyness."""
        from objectives.deep_hedge import plots as figures

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        cfg = self.configure(best_params)
        net, _ = self._trained(best_params, None)
        split = "test"
        p = self.paths[split]
        h_model = predict_hedges(net, self.features[split])
        base = self.baseline_hedges(split)
        ref_name = "heston_mv_delta" if "heston_mv_delta" in base else "bs_delta"
        curves = {f"deep hedger ({cfg['model']['arch']})": h_model, "Black-Scholes delta": base["bs_delta"]}
        if ref_name != "bs_delta":
            curves["Heston min-variance delta"] = base[ref_name]
        pnls = {
            k: terminal_pnl(p.spot, h, self.payoff[split], self.premium, self.cost_rate)
            for k, h in curves.items()
        }
        cvar95 = {k: float(YARDSTICK((-pnl).double().numpy()[:, None])) for k, pnl in pnls.items()}
        return [
            figures.plot_pnl_histogram(pnls, cvar95, out_dir / "pnl_histogram.png"),
            figures.plot_hedge_ratio_vs_moneyness(
                p.spot, p.n_steps, p.maturity, self.strike, curves, out_dir / "hedge_ratio_vs_moneyness.png"
            ),
        ]

    def dataset(self) -> dict[str, Any]:
        """The simulated stochastic-volatility paths: market, option, split sizes and seed."""
        from hedgeopt.protocol import describe_settings

        c = self.config
        return describe_settings(
            "sv_paths",
            {"market": c["market"], "option": c["option"], "data": c["data"], "seed": self.seed},
            rows=len(self.paths["train"].spot),
        )

    def model(self, artifact_dir: Path) -> HedgerNet | None:
        """The best config's hedger, reloaded from the ``hedger.pt`` that evaluate wrote."""
        pt = Path(artifact_dir) / "hedger.pt"
        return load_hedger(pt) if pt.is_file() else None
