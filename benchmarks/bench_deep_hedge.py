"""Quality benchmark of the deep hedger against Black-Scholes delta on fixed Heston test paths.

1. Zero costs: hedging-error std of a GRU trained mostly on mean(P&L^2), divided by BS delta's
   (instantaneous vol) on the same paths: ``zero_cost_std_ratio`` (target <= 1.15).
2. Proportional costs (``--cost-rate``, default 0.005, where BS delta, re-hedging every step,
   pays about its own P&L std in costs): CVaR95 of -P&L of a GRU trained on CVaR95, beside BS
   delta's: ``gru_cvar95`` and ``bs_cvar95`` (target gru < bs).

Both use the deep_hedge study config (seed 4 paths) with the overrides below; not a test.
    python benchmarks/bench_deep_hedge.py [--epochs 40] [--n-train 4000]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from hedgeopt.config import compose
from hedgeopt.protocol import NullReporter
from objectives.deep_hedge import DeepHedgeObjective


def run_case(overrides: list[str], params: dict, label: str) -> dict[str, float]:
    obj = DeepHedgeObjective(compose(["+study=deep_hedge", *overrides]))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        m = obj(params, NullReporter(tmp))
    print(f"# {label}: trained in {time.perf_counter() - t0:.1f}s; "
          f"gru std {m['test_pnl_std']:.4f} cvar95 {m['test_cvar95']:.4f} cost {m['test_cost_mean']:.4f} | "
          f"bs std {m['bs_pnl_std']:.4f} cvar95 {m['bs_cvar95']:.4f}")
    return m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--n-train", type=int, default=4000)
    ap.add_argument("--cost-rate", type=float, default=0.005)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    common = [f"data.n_train={args.n_train}", "data.n_test=4000", f"train.epochs={args.epochs}",
              "train.batch_size=200", "model.hidden_size=64", "model.num_layers=1"]
    zero = run_case([*common, "hedge.cost_rate=0.0"],
                    {"loss.alpha": 0.5, "loss.beta": 1.0, "train.learning_rate": 0.003}, "zero costs")
    print(f"zero_cost_std_ratio={zero['test_pnl_std'] / zero['bs_pnl_std']:.4f}  (reference: BS delta = 1.0)")
    costs = run_case([*common, f"hedge.cost_rate={args.cost_rate}"],
                     {"loss.alpha": 0.95, "loss.beta": 0.01, "train.learning_rate": 0.003},
                     f"cost_rate {args.cost_rate}")
    print(f"gru_cvar95={costs['test_cvar95']:.4f}")
    print(f"bs_cvar95={costs['bs_cvar95']:.4f}")


if __name__ == "__main__":
    main()
