"""deep_hedge: tune a GRU (or per-step MLP) deep hedger of a short European call.

Optuna tunes the loss (CVaR level ``loss.alpha``, MSE weight ``loss.beta``) and the network
(``model.hidden_size``, ``model.num_layers``, ``train.learning_rate``); every trial is scored
on the same yardstick regardless of those settings: ``test_cvar95``, the CVaR95 of the hedging
loss -P&L on fixed test paths (minimise), beside the Black-Scholes delta hedge on the same
paths and costs. Pruning compares the validation CVaR95 after each epoch (same scale).

Data splits (all simulated once per worker from ``seed``): train (fit), val (per-epoch
report / pruning), test (the yardstick), oos (``evaluate`` and out-of-sample baselines only;
never seen by the search). In :meth:`evaluate` the ``test_*`` metric names are kept but are
computed on the oos paths, so in-sample and out-of-sample tables line up.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from hedgeopt.protocol import NullReporter, Objective, Reporter, TrialPruned
from simulators.deep_hedger import (
    DeepHedgeModule, HedgerNet, hedge_features, hedger_from_config, load_hedger, make_loader,
    make_trainer, pnl_metrics, predict_hedges, save_hedger, terminal_pnl, trading_costs,
)
from simulators.sv_paths import Paths, bs_delta_hedge, bs_initial_price, call_payoff, derive_seed, make_datasets

import lightning as L


class _ReportAndPrune(L.Callback):
    """After each validation epoch: report val CVaR95 to the trial, stop it if the pruner says so."""

    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not pl_module.last_val:
            return
        epoch = int(trainer.current_epoch)
        self.reporter.report(float(pl_module.last_val["val_cvar95"]), epoch)
        if self.reporter.should_prune():
            raise TrialPruned(f"pruned at epoch {epoch}")


def _params_key(params: Mapping[str, Any]) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in params.items()))


class DeepHedgeObjective(Objective):
    """Trains a deep hedger per trial with Lightning and scores it on the fixed test paths."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        cfg = self.config
        for section in ("market", "option", "hedge", "data", "model", "loss", "train"):
            if not isinstance(cfg.get(section), Mapping):
                raise ValueError(f"deep_hedge config needs a '{section}' section")
        self.seed = int(cfg.get("seed", 0))
        market = cfg["market"]
        self.strike = float(cfg["option"]["strike"])
        if not self.strike > 0:
            raise ValueError(f"option.strike must be > 0, got {self.strike}")
        sizes = {s: int(cfg["data"][f"n_{s}"]) for s in ("train", "val", "test", "oos")}
        self.paths: dict[str, Paths] = make_datasets(market, sizes, self.seed)
        self.features = {s: hedge_features(p) for s, p in self.paths.items()}
        self.payoff = {s: call_payoff(p.spot[:, -1], self.strike) for s, p in self.paths.items()}
        self._cache: dict[tuple, HedgerNet] = {}
        self._baselines: dict[str, dict[str, dict[str, float]]] | None = None

    # ------------------------------------------------------------ config helpers

    def _bs_vol(self, cfg: Mapping[str, Any]) -> tuple[str, float]:
        """(vol_mode, fixed sigma) of the Black-Scholes hedge; the fixed sigma defaults to the model's long-run vol."""
        hedge, market = cfg["hedge"], cfg["market"]
        mode = str(hedge.get("bs_vol", "instantaneous"))
        sigma = hedge.get("bs_sigma")
        if sigma is None:
            sigma = math.sqrt(float(market["heston"]["theta"])) if market.get("model") == "heston" else float(market["sigma"])
        return mode, float(sigma)

    def _initial_capital(self, cfg: Mapping[str, Any]) -> float:
        """``hedge.initial_capital``: a number, or ``bs`` = Black-Scholes price at t=0 (vol as the BS hedge uses)."""
        raw = cfg["hedge"].get("initial_capital", "bs")
        if raw != "bs":
            return float(raw)
        mode, sigma = self._bs_vol(cfg)
        market = cfg["market"]
        if mode == "instantaneous":
            sigma = math.sqrt(float(market["heston"]["v0"])) if market.get("model") == "heston" else float(market["sigma"])
        return bs_initial_price(float(market.get("s0", 100.0)), self.strike, float(market["maturity"]), sigma)

    def _cost_rate(self, cfg: Mapping[str, Any]) -> float:
        rate = float(cfg["hedge"].get("cost_rate", 0.0))
        if rate < 0:
            raise ValueError(f"hedge.cost_rate must be >= 0, got {rate}")
        return rate

    # ------------------------------------------------------------ training and scoring

    def _fit(self, cfg: Mapping[str, Any], reporter: Reporter, write_artifacts: bool = True) -> HedgerNet:
        loss, train, model_cfg = cfg["loss"], cfg["train"], cfg["model"]
        torch.manual_seed(derive_seed(self.seed, "train") % (2**31))
        net = hedger_from_config(model_cfg)
        net.fit_scaling(self.features["train"])
        module = DeepHedgeModule(
            net, strike=self.strike, initial_capital=self._initial_capital(cfg), cost_rate=self._cost_rate(cfg),
            alpha=float(loss["alpha"]), beta=float(loss["beta"]), learning_rate=float(train["learning_rate"]),
            itm_only=bool(loss.get("itm_only", False)),
        )
        out_dir = Path(reporter.artifact_dir)
        trainer = make_trainer(int(train["epochs"]), callbacks=[_ReportAndPrune(reporter)], root_dir=out_dir,
                               accelerator=str(train.get("accelerator", "auto")),
                               gradient_clip_val=train.get("gradient_clip_val", 1.0))
        train_loader = make_loader(self.features["train"], self.paths["train"].spot, int(train["batch_size"]),
                                   shuffle=True, seed=self.seed)
        val_loader = make_loader(self.features["val"], self.paths["val"].spot, self.paths["val"].n_paths, shuffle=False)
        try:
            trainer.fit(module, train_loader, val_loader)
        finally:
            if write_artifacts:
                self._write_curve(module.history, out_dir)
        net = net.cpu().eval()
        if write_artifacts:
            save_hedger(net, out_dir, "hedger")
        return net

    def _trained(self, params: Mapping[str, Any], reporter: Reporter | None) -> HedgerNet:
        """The net for ``params``: from this worker's cache, else trained (deterministic given seed)."""
        key = _params_key(params)
        if key in self._cache:
            net = self._cache[key]
            if reporter is not None:
                save_hedger(net, reporter.artifact_dir, "hedger")
            return net
        rep = reporter if reporter is not None else NullReporter(None)
        net = self._fit(self.configure(params), rep, write_artifacts=reporter is not None)
        self._cache = {key: net}  # keep only the latest: enough for evaluate -> plots
        return net

    def _score(self, cfg: Mapping[str, Any], split: str, hedges: torch.Tensor) -> dict[str, float]:
        p = self.paths[split]
        rate = self._cost_rate(cfg)
        pnl = terminal_pnl(p.spot, hedges, self.payoff[split], self._initial_capital(cfg), rate)
        out = pnl_metrics(pnl, "test_")
        out["test_cost_mean"] = float(trading_costs(p.spot, hedges, rate).mean())
        return out

    def _bs_hedges(self, cfg: Mapping[str, Any], split: str) -> torch.Tensor:
        mode, sigma = self._bs_vol(cfg)
        return bs_delta_hedge(self.paths[split], self.strike, mode, sigma)

    def _model_metrics(self, cfg: Mapping[str, Any], net: HedgerNet, split: str) -> dict[str, float]:
        metrics = self._score(cfg, split, predict_hedges(net, self.features[split]))
        bs = self._score(cfg, split, self._bs_hedges(cfg, split))
        metrics["bs_cvar95"] = bs["test_cvar95"]
        metrics["bs_pnl_std"] = bs["test_pnl_std"]
        metrics["cvar95_minus_bs"] = metrics["test_cvar95"] - bs["test_cvar95"]
        metrics["pnl_std_ratio_bs"] = metrics["test_pnl_std"] / bs["test_pnl_std"]
        return metrics

    def __call__(self, params: Mapping[str, Any], reporter: Reporter) -> dict[str, float]:
        cfg = self.configure(params)
        net = self._fit(cfg, reporter)
        self._cache = {_params_key(params): net}
        metrics = self._model_metrics(cfg, net, "test")
        metrics["val_cvar95"] = float(pnl_metrics(terminal_pnl(
            self.paths["val"].spot, predict_hedges(net, self.features["val"]), self.payoff["val"],
            self._initial_capital(cfg), self._cost_rate(cfg)))["cvar95"])
        return metrics

    def evaluate(self, params: Mapping[str, Any], reporter: Reporter | None = None) -> dict[str, float]:
        """Metrics on the out-of-sample paths (never used by the search); weights go to the reporter's folder."""
        cfg = self.configure(params)
        return self._model_metrics(cfg, self._trained(params, reporter), "oos")

    def baselines(self) -> dict[str, dict[str, dict[str, float]]]:
        """No hedge and Black-Scholes delta: in-sample = test paths, out-of-sample = oos paths."""
        if self._baselines is None:
            cfg = self.config
            out: dict[str, dict[str, dict[str, float]]] = {"no_hedge": {}, "bs_delta": {}}
            for label, split in (("in_sample", "test"), ("out_of_sample", "oos")):
                zero = torch.zeros_like(self.paths[split].spot[:, :-1])
                out["no_hedge"][label] = self._score(cfg, split, zero)
                out["bs_delta"][label] = self._score(cfg, split, self._bs_hedges(cfg, split))
            self._baselines = out
        return self._baselines

    # ------------------------------------------------------------ artifacts and plots

    @staticmethod
    def _write_curve(history: Sequence[Mapping[str, float]], out_dir: Path) -> None:
        """training_curve.csv and training_curve.png (train loss and validation CVaR95 per epoch)."""
        if not history:
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        fields = list(history[0].keys())
        with open(out_dir / "training_curve.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(history)
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(6, 3.5))
        epochs = [h["epoch"] for h in history]
        ax.plot(epochs, [h["train_loss"] for h in history], label="train loss (CVaR_alpha + beta MSE)")
        ax.plot(epochs, [h["val_cvar95"] for h in history], label="validation CVaR95 of -P&L")
        ax.set_xlabel("epoch")
        ax.legend()
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out_dir / "training_curve.png", dpi=90)
        plt.close(fig)

    def plots(self, best_params: Mapping[str, Any], trials: Sequence[Mapping[str, Any]], out_dir: Path) -> list[Path]:
        """P&L histograms (best model vs BS delta, oos paths) and hedge ratio vs moneyness at three maturities."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        cfg = self.configure(best_params)
        net = self._trained(best_params, None)
        split = "oos"
        p = self.paths[split]
        h_model = predict_hedges(net, self.features[split])
        h_bs = self._bs_hedges(cfg, split)
        cap, rate = self._initial_capital(cfg), self._cost_rate(cfg)
        pnl_m = terminal_pnl(p.spot, h_model, self.payoff[split], cap, rate)
        pnl_b = terminal_pnl(p.spot, h_bs, self.payoff[split], cap, rate)
        plt = _pyplot()
        paths: list[Path] = []

        fig, ax = plt.subplots(figsize=(7, 4))
        lo = float(torch.quantile(torch.cat([pnl_m, pnl_b]), 0.002))
        hi = float(torch.quantile(torch.cat([pnl_m, pnl_b]), 0.998))
        bins = torch.linspace(lo, hi, 60).numpy()
        for pnl, name in ((pnl_m, f"deep hedger ({cfg['model']['arch']})"), (pnl_b, "Black-Scholes delta")):
            m = pnl_metrics(pnl)
            ax.hist(pnl.numpy(), bins=bins, alpha=0.5, label=f"{name}: std {m['pnl_std']:.3f}, CVaR95 {m['cvar95']:.3f}")
        ax.set_xlabel("terminal P&L (out-of-sample paths)")
        ax.set_ylabel("paths")
        ax.legend(fontsize=8)
        fig.tight_layout()
        paths.append(out_dir / "pnl_histogram.png")
        fig.savefig(paths[-1], dpi=100)
        plt.close(fig)

        n = p.n_steps
        steps = sorted({n // 4, n // 2, max(n - 2, 0)}) if n > 3 else list(range(n))
        fig, axes = plt.subplots(1, len(steps), figsize=(4 * len(steps), 3.6), sharey=True, squeeze=False)
        for ax, k in zip(axes[0], steps):
            x = (p.spot[:, k] / self.strike).numpy()
            ax.scatter(x, h_model[:, k].numpy(), s=3, alpha=0.4, label="deep hedger")
            ax.scatter(x, h_bs[:, k].numpy(), s=3, alpha=0.4, label="BS delta")
            tau = p.maturity * (1 - k / n)
            ax.set_title(f"time to maturity {tau:.3f}y (step {k})", fontsize=9)
            ax.set_xlabel("moneyness S/K")
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel("hedge ratio")
        axes[0][0].legend(fontsize=8, markerscale=4)
        fig.tight_layout()
        paths.append(out_dir / "hedge_ratio_vs_moneyness.png")
        fig.savefig(paths[-1], dpi=100)
        plt.close(fig)
        return paths

    @staticmethod
    def load_weights(pt_path: Path | str) -> HedgerNet:
        """Reload a trial's ``hedger.pt`` (with its ``hedger.json``) as a ready network."""
        return load_hedger(pt_path)

    def dataset(self) -> dict[str, Any]:
        """The simulated stochastic-volatility paths: market, option, split sizes and seed."""
        from hedgeopt.protocol import describe_settings

        c = self.config
        return describe_settings("sv_paths", {"market": c["market"], "option": c["option"],
                                              "data": c["data"], "seed": self.seed},
                                 rows=len(self.paths["train"].spot))

    def model(self, artifact_dir: Path) -> HedgerNet | None:
        """The best config's hedger, reloaded from the ``hedger.pt`` that evaluate wrote."""
        pt = Path(artifact_dir) / "hedger.pt"
        return load_hedger(pt) if pt.is_file() else None


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
