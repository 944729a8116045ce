"""Benchmarks of the deep hedger: Lightning's overhead, and (``--quality``) risk against the baselines.

1. ``lightning_overhead``: wall time of the study's Lightning training (DeepHedgeModule,
   per-epoch validation, best-epoch ModelCheckpoint, gradient clipping, the study's loaders)
   divided by a bare PyTorch loop doing the same work on the same model, data and epochs
   (forward, loss, backward, clipping, Adam, full validation each epoch, best weights kept
   in memory). Runs alternate and the median ratio is printed (target <= 1.15).
2. ``--quality``: a trained GRU's CVaR95 on the held-out test paths beside the five
   baselines (no hedge, BS delta, BS delta in a Whalley-Wilmott band, Heston min-variance
   delta, banded), the data the study's export reports.

    python benchmarks/bench_deep_hedge.py [--epochs 5] [--repeats 3] [--quality]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import tempfile
import time

import torch

from hedgeopt.config.compose import compose
from hedgeopt.execution.objective_builder import build_objective
from hedgeopt.protocol import NullReporter
from hedgeopt.stats import SampleSet, assess
from objectives.deep_hedge.objective import DeepHedgeObjective
from simulators.deep.deep_hedge_training import DeepHedgeModule, fit_best_epoch, make_loader
from simulators.deep.hedger_net import hedger_from_config
from simulators.deep.hedging_pnl import hedging_loss, pnl_metrics, terminal_pnl
from simulators.markets.sv_paths import derive_seed


def _setup(obj: DeepHedgeObjective):
    cfg = obj.config
    torch.manual_seed(derive_seed(obj.seed, "train") % (2**31))
    net = hedger_from_config(cfg["model"])
    net.fit_scaling(obj.features["train"])
    return cfg, net


def lightning_run(obj: DeepHedgeObjective, epochs: int) -> float:
    cfg, net = _setup(obj)
    module = DeepHedgeModule(
        net,
        strike=obj.strike,
        initial_capital=obj.premium,
        cost_rate=obj.cost_rate,
        alpha=float(cfg["loss"]["alpha"]),
        beta=float(cfg["loss"]["beta"]),
        learning_rate=float(cfg["train"]["learning_rate"]),
    )
    train = make_loader(
        obj.features["train"],
        obj.paths["train"].spot,
        int(cfg["train"]["batch_size"]),
        shuffle=True,
        seed=obj.seed,
    )
    val = make_loader(obj.features["val"], obj.paths["val"].spot, obj.paths["val"].n_paths, shuffle=False)
    t0 = time.perf_counter()
    fit_best_epoch(
        module,
        train,
        val,
        max_epochs=epochs,
        patience=None,
        accelerator="cpu",
        gradient_clip_val=float(cfg["train"]["gradient_clip_val"]),
    )
    return time.perf_counter() - t0


def bare_run(obj: DeepHedgeObjective, epochs: int) -> float:
    cfg, net = _setup(obj)
    alpha, beta = float(cfg["loss"]["alpha"]), float(cfg["loss"]["beta"])
    clip = float(cfg["train"]["gradient_clip_val"])
    opt = torch.optim.Adam(net.parameters(), lr=float(cfg["train"]["learning_rate"]))
    feats, spot = obj.features["train"], obj.paths["train"].spot
    vfeats, vspot = obj.features["val"], obj.paths["val"].spot
    payoff = obj.payoff["val"]
    bs = int(cfg["train"]["batch_size"])
    best, best_state = float("inf"), None
    t0 = time.perf_counter()
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(feats.shape[0], generator=torch.Generator().manual_seed(obj.seed + epoch))
        for i in range(0, feats.shape[0], bs):
            idx = order[i : i + bs]
            s = spot[idx]
            pnl = terminal_pnl(
                s, net(feats[idx]), (s[:, -1] - obj.strike).clamp(min=0.0), obj.premium, obj.cost_rate
            )
            loss = hedging_loss(pnl, alpha, beta)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
            opt.step()
        net.eval()
        with torch.no_grad():
            val = pnl_metrics(terminal_pnl(vspot, net(vfeats), payoff, obj.premium, obj.cost_rate))["cvar95"]
        if val < best:
            best, best_state = val, copy.deepcopy(net.state_dict())
    net.load_state_dict(best_state)
    return time.perf_counter() - t0


def quality(overrides: list[str], params: dict) -> None:
    obj = build_objective(compose(["+study=deep_hedge", *overrides]))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        sel = obj(params, NullReporter(tmp))
        test = obj.evaluate(params)
    print(
        f"# GRU trained in {time.perf_counter() - t0:.1f}s (best epoch {sel.metrics['best_epoch']:.0f} "
        f"of {sel.metrics['epochs_trained']:.0f})"
    )
    print(
        f"gru_test_cvar95={test.metrics['test_cvar95']:.4f}  pnl mean {test.metrics['test_pnl_mean']:.4f} "
        f"std {test.metrics['test_pnl_std']:.4f}"
    )
    base = obj.baselines()
    for name, res in base.items():
        m = res["out_of_sample"].metrics
        print(
            f"{name}_test_cvar95={m['test_cvar95']:.4f}  pnl mean {m['test_pnl_mean']:.4f} std "
            f"{m['test_pnl_std']:.4f}"
        )
    key = "test_cvar95"
    stat = test.statistic(key)
    out = assess(
        key,
        "minimize",
        SampleSet(test.samples[key], stat),
        {n: SampleSet(b["out_of_sample"].samples[key], stat) for n, b in base.items()},
    )
    print(f"# verdict (paired bootstrap on the held-out paths): {out['verdict']['text']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--quality", action="store_true", help="also train the default GRU and print test CVaR95s"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    obj = build_objective(compose(["+study=deep_hedge", "train.accelerator=cpu"]))
    c = obj.config
    print(
        f"# model {c['model']['arch']} hidden {c['model']['hidden_size']}, {c['data']['n_train']} "
        f"training paths "
        f"x {c['market']['n_steps']} steps, batch {c['train']['batch_size']}, {c['data']['n_val']} "
        f"validation "
        f"paths, {args.epochs} epochs, {args.threads} thread(s); load average {os.getloadavg()[0]:.2f}"
    )
    lightning_run(obj, 1)  # warm-up: imports, first-call allocations
    bare_run(obj, 1)
    ratios = []
    for r in range(args.repeats):
        first, second = (lightning_run, bare_run) if r % 2 == 0 else (bare_run, lightning_run)
        t = {f.__name__: f(obj, args.epochs) for f in (first, second)}
        ratios.append(t["lightning_run"] / t["bare_run"])
        print(
            f"# run {r}: lightning {t['lightning_run']:.2f}s, bare PyTorch {t['bare_run']:.2f}s (reference)"
        )
    print(
        f"lightning_overhead={statistics.median(ratios):.3f}  (target <= 1.15; load average "
        f"{os.getloadavg()[0]:.2f})"
    )
    if args.quality:
        # the best config of a default study run (seed 4, 20 trials)
        quality(
            ["train.accelerator=cpu"],
            {
                "loss.alpha": 0.8767,
                "loss.beta": 0.0596,
                "model.hidden_size": 128,
                "model.num_layers": 2,
                "train.learning_rate": 0.0012,
            },
        )


if __name__ == "__main__":
    main()
