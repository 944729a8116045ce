"""delta_hedge: tune the five re-hedging parameters of seed 002 on Monte Carlo paths.

Config (composed by ``+study=delta_hedge``): ``simulator`` (crypto-perp market model, incl.
tick_seconds and horizon_hours), ``book`` (option legs, notional), ``hedge`` (the tuned
policy), ``costs`` (taker_fee, slippage), ``paths`` (n_paths, n_paths_oos, oos_seed,
sample_seconds, report_every), ``score`` (weights and scales), ``baselines``
(cadences_seconds).

Set-up per worker: the in-sample paths (seed = ``config["seed"]``) and the book's delta at
every tick and value at every sample tick are computed once; every trial sees the same
paths (common random numbers) and only runs the compiled hedging kernel. The out-of-sample
paths (seed ``paths.oos_seed``, or one derived from ``seed``) are simulated on first use
(``evaluate``/``baselines``/``plots``), so search workers, which never evaluate, do not pay
for them.

Score (the seed's shape, on correct metrics; every term is a cross-path average)::

    score = mean Sharpe - w_drawdown * |mean max drawdown| / drawdown_scale
                        - w_costs * mean costs / cost_scale

where Sharpe is each path's hourly net-P&L increments annualised (sqrt(8760)), max drawdown
each path's deepest fall of cumulative P&L from its running peak, and costs each path's fees
plus slippage in USD.

Metrics (cross-path means unless said): net_pnl, gross_pnl (before costs), costs, funding,
hedge_pnl, book_pnl, traded_notional, hedge_count, mean_abs_net_delta (fraction of notional),
hourly_pnl_vol, sharpe, max_drawdown; across paths: pnl_vol (std of net P&L), cvar95 /
cvar95_loss, worst_drawdown, tracking_error (std of gross P&L minus the frictionless
every-tick hedge's, the risk the policy adds; used by ``delta_hedge_pareto``), and score.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from hedgeopt.protocol import Objective, Reporter, TrialPruned
from simulators.crypto_perp import CryptoPerpParams, simulate_paths
from simulators.delta_hedging import (
    CostModel,
    HedgeInputs,
    HedgePolicy,
    HedgeResult,
    aggregate_metrics,
    build_hedge_inputs,
    path_metrics,
    run_hedge,
)
from simulators.options_book import OptionsBook

__all__ = ["DeltaHedgeObjective", "derive_oos_seed"]


def derive_oos_seed(seed: int) -> int:
    """A seed for out-of-sample paths, independent of ``seed``'s stream but fixed by it."""
    return int(np.random.SeedSequence([int(seed), 0x00D5]).generate_state(1, np.uint32)[0])


class DeltaHedgeObjective(Objective):
    """Delta-hedging a crypto options book with a perpetual: in-sample search, OOS evaluation."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        cfg = self.config
        for key in ("simulator", "book", "hedge", "costs", "paths", "score"):
            if not isinstance(cfg.get(key), Mapping):
                raise ValueError(f"delta_hedge: config section '{key}' is missing")
        self.market = CryptoPerpParams.from_config(cfg["simulator"])
        self.book = OptionsBook.from_config(cfg["book"], self.market.s0)
        paths_cfg = cfg["paths"]
        self.n_paths = int(paths_cfg["n_paths"])
        self.n_paths_oos = int(paths_cfg["n_paths_oos"])
        if self.n_paths < 2 or self.n_paths_oos < 2:
            raise ValueError("delta_hedge: paths.n_paths and paths.n_paths_oos must be >= 2")
        self.sample_seconds = float(paths_cfg.get("sample_seconds", 3600.0))
        self.report_every = max(1, int(paths_cfg.get("report_every") or self.n_paths))
        self.seed = int(cfg.get("seed", 0))
        oos_seed = paths_cfg.get("oos_seed")
        self.oos_seed = derive_oos_seed(self.seed) if oos_seed is None else int(oos_seed)
        if self.oos_seed == self.seed:
            raise ValueError("delta_hedge: paths.oos_seed must differ from seed")
        self._policy(cfg)  # validate the policy and cost keys before any path is simulated
        self._costs(cfg)
        self.inputs = self._build(self.n_paths, self.seed)
        self.ideal_pnl = self._ideal(self.inputs)
        self._oos: HedgeInputs | None = None
        self._oos_ideal: np.ndarray | None = None
        self._baselines: dict[str, dict[str, dict[str, float]]] | None = None

    # -- set-up ---------------------------------------------------------------------------
    def _build(self, n_paths: int, seed: int) -> HedgeInputs:
        paths = simulate_paths(self.market, n_paths, seed)
        return build_hedge_inputs(paths, self.book, self.sample_seconds)

    def _ideal(self, inputs: HedgeInputs) -> np.ndarray:
        """Net P&L per path of the frictionless reference hedge (every tick, full ratio, no
        costs): what the book earns beyond what any delta hedge can remove (vega, jumps)."""
        policy = HedgePolicy(cadence_seconds=self.market.tick_seconds, hedge_ratio=1.0)
        return run_hedge(inputs, policy, CostModel(0.0, 0.0)).pnl[:, -1]

    @property
    def oos_inputs(self) -> HedgeInputs:
        """Out-of-sample paths and marks, built on first use."""
        if self._oos is None:
            self._oos = self._build(self.n_paths_oos, self.oos_seed)
            self._oos_ideal = self._ideal(self._oos)
        return self._oos

    @staticmethod
    def _policy(cfg: Mapping[str, Any]) -> HedgePolicy:
        return HedgePolicy.from_config(cfg["hedge"])

    @staticmethod
    def _costs(cfg: Mapping[str, Any]) -> CostModel:
        c = cfg["costs"]
        return CostModel(taker_fee=float(c["taker_fee"]), slippage=float(c["slippage"]))

    # -- metrics ---------------------------------------------------------------------------
    def score(self, metrics: Mapping[str, float]) -> float:
        """The seed's score shape on cross-path averages (see the module docstring)."""
        s = self.config["score"]
        return (metrics["sharpe"]
                - float(s["w_drawdown"]) * abs(metrics["max_drawdown"]) / float(s["drawdown_scale"])
                - float(s["w_costs"]) * metrics["costs"] / float(s["cost_scale"]))

    def _metrics(self, res: HedgeResult, ideal: np.ndarray) -> dict[str, float]:
        """Aggregated metrics plus ``tracking_error``: the cross-path std of the policy's gross
        P&L (before costs) minus the frictionless every-tick hedge's, i.e. the hedging error
        the policy adds, without the vega and jump P&L that no delta hedge removes; and
        ``score``."""
        out = aggregate_metrics(path_metrics(res))
        gap = res.pnl[:, -1] + res.costs - ideal[: res.pnl.shape[0]]
        out["tracking_error"] = float(gap.std(ddof=1)) if gap.size > 1 else 0.0
        out["score"] = self.score(out)
        return out

    def _run(self, inputs: HedgeInputs, policy: HedgePolicy, costs: CostModel,
             reporter: Reporter | None = None) -> dict[str, float]:
        ideal = self.ideal_pnl if inputs is self.inputs else self._oos_ideal
        if reporter is None:
            return self._metrics(run_hedge(inputs, policy, costs), ideal)
        # Paths in chunks of report_every; after each chunk the first optimised metric on the
        # paths so far is reported (step = chunk index) so that a pruner can stop the trial.
        first = (self.config.get("metrics") or ["score"])[0]
        parts: list[HedgeResult] = []
        metrics: dict[str, float] = {}
        for step, p0 in enumerate(range(0, inputs.n_paths, self.report_every)):
            p1 = min(inputs.n_paths, p0 + self.report_every)
            parts.append(run_hedge(inputs, policy, costs, slice(p0, p1)))
            if p1 < 2:
                continue
            metrics = self._metrics(_concat(parts), ideal)
            if first in metrics:
                reporter.report(metrics[first], step)
                if p1 < inputs.n_paths and reporter.should_prune():
                    raise TrialPruned()
        return metrics

    # -- protocol --------------------------------------------------------------------------
    def __call__(self, params: Mapping[str, Any], reporter: Reporter) -> dict[str, float]:
        cfg = self.configure(params)
        return self._run(self.inputs, self._policy(cfg), self._costs(cfg), reporter)

    def evaluate(self, params: Mapping[str, Any], reporter: Reporter | None = None) -> dict[str, float]:
        cfg = self.configure(params)
        oos = self.oos_inputs
        return self._run(oos, self._policy(cfg), self._costs(cfg))

    def baseline_policies(self) -> dict[str, HedgePolicy]:
        """Unhedged, delta-hedge every tick, and fixed cadences (full ratio, no bands, no clip)."""
        tick = self.market.tick_seconds
        out = {"unhedged": HedgePolicy(cadence_seconds=math.inf, hedge_ratio=0.0),
               "every_tick": HedgePolicy(cadence_seconds=tick, hedge_ratio=1.0)}
        cadences = (self.config.get("baselines") or {}).get("cadences_seconds", [60, 300, 900, 3600])
        for c in cadences:
            out[f"cadence_{int(c)}s"] = HedgePolicy(cadence_seconds=float(c), hedge_ratio=1.0)
        return out

    def baselines(self) -> dict[str, dict[str, dict[str, float]]]:
        if self._baselines is None:
            costs = self._costs(self.config)
            self._baselines = {
                name: {"in_sample": self._run(self.inputs, pol, costs),
                       "out_of_sample": self._run(self.oos_inputs, pol, costs)}
                for name, pol in self.baseline_policies().items()}
        return self._baselines

    def plots(self, best_params: Mapping[str, Any], trials: Sequence[Mapping[str, Any]],
              out_dir: Path) -> list[Path]:
        from objectives import delta_hedge_plots

        return delta_hedge_plots.make_plots(self, best_params, trials, Path(out_dir))

    # -- helpers for plots -------------------------------------------------------------
    def oos_pnl(self, policy: HedgePolicy) -> np.ndarray:
        """Net P&L of every out-of-sample path under ``policy``."""
        return run_hedge(self.oos_inputs, policy, self._costs(self.config)).pnl[:, -1]

    def policy_for(self, params: Mapping[str, Any]) -> HedgePolicy:
        return self._policy(self.configure(params))

    def dataset(self) -> dict[str, Any]:
        """The simulated paths trials run on: market model, book, path counts and seeds."""
        from hedgeopt.protocol import describe_settings

        c = self.config
        return describe_settings("crypto_perp_paths", {
            "simulator": c["simulator"], "book": c["book"], "paths": c["paths"],
            "seed": self.seed, "oos_seed": self.oos_seed}, rows=self.n_paths)


def _concat(parts: list[HedgeResult]) -> HedgeResult:
    if len(parts) == 1:
        return parts[0]
    cat = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
    return HedgeResult(pnl=cat("pnl"), costs=cat("costs"), funding=cat("funding"),
                       hedge_pnl=cat("hedge_pnl"), book_pnl=cat("book_pnl"),
                       traded_notional=cat("traded_notional"), hedge_count=cat("hedge_count"),
                       mean_abs_net_delta=cat("mean_abs_net_delta"),
                       sample_seconds=parts[0].sample_seconds)
