"""delta_hedge: the hedger's question on Monte Carlo paths of a crypto options book.

Config (composed by ``+study=delta_hedge``): ``simulator`` (crypto-perp market model, incl.
tick_seconds and horizon_hours), ``book`` (option legs, notional), ``hedge`` (the tuned
policy, :class:`simulators.hedging.delta_hedging.HedgePolicy`), ``costs`` (taker_fee, slippage),
``risk`` (risk_aversion per USD, cvar_level), ``paths`` (n_paths, n_paths_oos, oos_seed,
sample_seconds, report_every), optional ``score`` (the seed's weights) and ``baselines``
(cadences_seconds).

The default objective is Whalley and Wilmott's trade-off, minimised::

    risk_cost = mean(costs) + risk_aversion / 2 x Var(hedging error)

where a path's hedging error is the policy's P&L before costs minus the P&L of the
frictionless every-tick hedge on the same path: what the policy adds, without the vega and
jump P&L that no delta hedge removes. Other measures are metrics too and can be optimised
instead (``metrics=[cvar_loss]`` or ``[entropic_risk]``, ``directions=[minimize]``):
``cvar_loss`` is the CVaR of net losses at ``risk.cvar_level`` (the product's convention:
positive = money lost), ``entropic_risk`` is ``log E[exp(-a x net P&L)] / a`` at ``a =
risk.risk_aversion``. ``score`` is the seed notebook's: mean Sharpe - w_drawdown |mean max drawdown|
/ drawdown_scale - w_costs mean costs / cost_scale (the ``delta_hedge_seed`` study).

Every method returns a :class:`hedgeopt.protocol.Evaluation` whose per-path samples make
these metrics (``statistics[m](samples[m]) == metrics[m]``): in-sample trials all see the same
``n_paths`` paths (seed = ``seed``); ``evaluate`` and every baseline's out-of-sample split see
the same ``n_paths_oos`` fresh paths, so differences pair path by path.

Set-up per worker: the in-sample paths and the book's delta and gamma at every tick and value
at every sample tick are computed once; trials only run the compiled hedging kernel. The
out-of-sample paths are simulated on first use (``evaluate``/``baselines``/``plots``), so
search workers, which never evaluate, do not pay for them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hedgeopt.protocol import (
    CVaR,
    Evaluation,
    Mean,
    Objective,
    Reporter,
    Statistic,
    StudyContext,
    TrialPruned,
)
from simulators.hedging.delta_hedging import HedgeInputs, HedgeResult, build_hedge_inputs, run_hedge
from simulators.hedging.delta_hedging_metrics import aggregate_metrics, concat_results, path_metrics
from simulators.hedging.hedge_policy import CostModel, HedgePolicy
from simulators.markets.crypto_perp import CryptoPerpParams, simulate_paths
from simulators.pricing.options_book import OptionsBook

__all__ = ["DeltaHedgeObjective", "EntropicRisk", "RiskCost", "StdDev", "derive_oos_seed"]

#: Metrics listed first (the console summary shows the first few).
HEADLINE = (
    "risk_cost",
    "hedging_risk",
    "costs",
    "hedge_count",
    "cvar_loss",
    "entropic_risk",
    "net_pnl",
    "sharpe",
    "max_drawdown",
    "score",
    "hedging_error",
    "mean_abs_net_delta",
    "pnl_vol",
    "funding",
)

#: The seed notebook's score weights, used when the config has no ``score:`` section.
SEED_SCORE = {"w_drawdown": 0.1, "drawdown_scale": 10_000.0, "w_costs": 0.05, "cost_scale": 1_000.0}


#: What the verdict says, on its own line, of a study that optimises the seed's score.
SEED_SCORE_CAVEAT = (
    "note: the score (the seed's Sharpe minus drawdown and cost penalties) rewards carrying risk: "
    "with the book's expected P&L near zero it ranks never hedging first; judge the hedge on "
    "risk_cost, hedging_risk and cvar_loss beside it"
)


#: What the verdict says, on its own line, of a multi-objective study's chosen (knee) point.
KNEE_NOTE = (
    "note: the knee is a geometric choice on the front, not the study's risk aversion: at "
    "risk.risk_aversion={risk_aversion:g} its risk_cost out of sample is {chosen:,.0f} USD against "
    "{ww:,.0f} for whalley_wilmott (that trade-off's optimum); to pick by risk aversion, run "
    "delta_hedge (metrics=[risk_cost])"
)


@dataclass(frozen=True)
class RiskCost:
    """``mean(costs) + risk_aversion / 2 x Var(hedging error)`` over rows of ``[costs, error]``."""

    risk_aversion: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return x[..., 0].mean(axis=-1) + 0.5 * self.risk_aversion * x[..., 1].var(axis=-1, ddof=1)


@dataclass(frozen=True)
class StdDev:
    """Sample standard deviation of one column (the hedging risk in USD)."""

    column: int = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=float)[..., self.column].std(axis=-1, ddof=1)


@dataclass(frozen=True)
class EntropicRisk:
    """Entropic risk of a column of losses: ``log mean exp(a x loss) / a`` (log-sum-exp stable)."""

    risk_aversion: float
    column: int = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        a = self.risk_aversion * np.asarray(x, dtype=float)[..., self.column]
        top = a.max(axis=-1)
        return (np.log(np.exp(a - top[..., None]).mean(axis=-1)) + top) / self.risk_aversion


def derive_oos_seed(seed: int) -> int:
    """A seed for out-of-sample paths, independent of ``seed``'s stream but fixed by it."""
    return int(np.random.SeedSequence([int(seed), 0x00D5]).generate_state(1, np.uint32)[0])


class DeltaHedgeObjective(Objective):
    """Delta-hedging a crypto options book with a perpetual: in-sample search, OOS evaluation."""

    #: read from the study config only (paths, marks, risk aversion and score weights are set up once per
    #: worker)
    fixed_keys = ("simulator", "book", "paths", "risk", "score", "baselines")

    def __init__(self, config: Mapping[str, Any], context: StudyContext | None = None) -> None:
        super().__init__(config, context)
        cfg = self.config
        for key in ("simulator", "book", "hedge", "costs", "paths", "risk"):
            if not isinstance(cfg.get(key), Mapping):
                raise ValueError(f"delta_hedge: config section '{key}' is missing")  # noqa: TRY004
        self.market = CryptoPerpParams.from_config(cfg["simulator"])
        self.book = OptionsBook.from_config(cfg["book"], self.market.s0)
        paths_cfg = cfg["paths"]
        self.n_paths = int(paths_cfg["n_paths"])
        self.n_paths_oos = int(paths_cfg["n_paths_oos"])
        if self.n_paths < 2 or self.n_paths_oos < 2:
            raise ValueError("delta_hedge: paths.n_paths and paths.n_paths_oos must be >= 2")
        self.sample_seconds = float(paths_cfg["sample_seconds"])
        self.report_every = max(1, int(paths_cfg.get("report_every") or self.n_paths))
        self.seed = self.context.seed
        #: optimised metrics first in every evaluation; the first is reported while paths run
        self.optimised = list(self.context.metrics) or ["risk_cost"]
        oos_seed = paths_cfg.get("oos_seed")
        self.oos_seed = derive_oos_seed(self.seed) if oos_seed is None else int(oos_seed)
        if self.oos_seed == self.seed:
            raise ValueError("delta_hedge: paths.oos_seed must differ from seed")
        risk = cfg["risk"]
        self.risk_aversion = float(risk["risk_aversion"])
        if not self.risk_aversion > 0:
            raise ValueError(
                f"delta_hedge: risk.risk_aversion must be > 0 (per USD), got {self.risk_aversion}"
            )
        self.cvar_level = float(risk["cvar_level"])
        if not 0 < self.cvar_level < 1:
            raise ValueError(f"delta_hedge: risk.cvar_level must lie in (0, 1), got {self.cvar_level}")
        self.score_weights = {**SEED_SCORE, **{k: float(v) for k, v in (cfg.get("score") or {}).items()}}
        self._policy(cfg)  # validate the policy and cost keys before any path is simulated
        self._costs(cfg)
        self.inputs = self._build(self.n_paths, self.seed)
        self.ideal_pnl = self._ideal(self.inputs)
        self._oos: HedgeInputs | None = None
        self._oos_ideal: np.ndarray | None = None
        self._baselines: dict[str, dict[str, Evaluation]] | None = None

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

    def _policy(self, cfg: Mapping[str, Any]) -> HedgePolicy:
        return HedgePolicy.from_config(cfg["hedge"], risk_aversion=self.risk_aversion)

    @staticmethod
    def _costs(cfg: Mapping[str, Any]) -> CostModel:
        c = cfg["costs"]
        return CostModel(taker_fee=float(c["taker_fee"]), slippage=float(c["slippage"]))

    # -- metrics ---------------------------------------------------------------------------
    def evaluation(self, res: HedgeResult, ideal: np.ndarray) -> Evaluation:
        """Cross-path metrics of a run, with the per-path samples behind the risk measures.

        ``hedging_error`` / ``hedging_risk``: mean / std of each path's P&L before costs minus
        the frictionless every-tick hedge's on the same path; ``risk_cost`` the objective.
        """
        per_path = path_metrics(res)
        out = aggregate_metrics(per_path)
        costs = per_path["costs"]
        error = per_path["gross_pnl"] - ideal[: costs.size]
        loss = -per_path["net_pnl"]
        w = self.score_weights
        score = (
            per_path["sharpe"]
            - w["w_drawdown"] * np.abs(per_path["max_drawdown"]) / w["drawdown_scale"]
            - w["w_costs"] * costs / w["cost_scale"]
        )
        samples = {
            "risk_cost": np.column_stack([costs, error]),
            "hedging_risk": error,
            "hedging_error": error,
            "costs": costs,
            "cvar_loss": loss,
            "entropic_risk": loss,
            "score": score,
            "net_pnl": per_path["net_pnl"],
        }
        stats: dict[str, Statistic] = {
            "risk_cost": RiskCost(self.risk_aversion),
            "hedging_risk": StdDev(),
            "hedging_error": Mean(),
            "costs": Mean(),
            "cvar_loss": CVaR(self.cvar_level),
            "entropic_risk": EntropicRisk(self.risk_aversion),
            "score": Mean(),
            "net_pnl": Mean(),
        }
        for name, stat in stats.items():
            out[name] = float(stat(np.asarray(samples[name], dtype=float).reshape(costs.size, -1)))
        first = [*dict.fromkeys([*self.context.metrics, *HEADLINE])]
        out = {**{k: out[k] for k in first if k in out}, **out}
        return Evaluation(metrics=out, samples=samples, statistics=stats)

    def _run(
        self, inputs: HedgeInputs, policy: HedgePolicy, costs: CostModel, reporter: Reporter | None = None
    ) -> Evaluation:
        ideal = self.ideal_pnl if inputs is self.inputs else self._oos_ideal
        if reporter is None:
            return self.evaluation(run_hedge(inputs, policy, costs), ideal)
        # Paths in chunks of report_every; after each chunk the first optimised metric on the
        # paths so far is reported (step = chunk index) so that a pruner can stop the trial.
        first = self.optimised[0]
        parts: list[HedgeResult] = []
        result: Evaluation | None = None
        for step, p0 in enumerate(range(0, inputs.n_paths, self.report_every)):
            p1 = min(inputs.n_paths, p0 + self.report_every)
            parts.append(run_hedge(inputs, policy, costs, slice(p0, p1)))
            if p1 < 2:
                continue
            result = self.evaluation(concat_results(parts), ideal)
            if first in result.metrics:
                reporter.report(first, result.metrics[first], step)
                if p1 < inputs.n_paths and reporter.should_prune():
                    raise TrialPruned()
        assert result is not None
        return result

    # -- protocol --------------------------------------------------------------------------
    def __call__(self, params: Mapping[str, Any], reporter: Reporter) -> Evaluation:
        cfg = self.configure(params)
        return self._run(self.inputs, self._policy(cfg), self._costs(cfg), reporter)

    def evaluate(self, params: Mapping[str, Any], reporter: Reporter | None = None) -> Evaluation:
        cfg = self.configure(params)
        oos = self.oos_inputs
        result = self._run(oos, self._policy(cfg), self._costs(cfg))
        if "score" in self.context.metrics:
            result.caveat = SEED_SCORE_CAVEAT
        elif len(self.context.metrics) > 1:  # the export is the front's knee
            ww = self._run(oos, self.baseline_policies()["whalley_wilmott"], self._costs(cfg))
            result.caveat = KNEE_NOTE.format(
                risk_aversion=self.risk_aversion,
                chosen=result.metrics["risk_cost"],
                ww=ww.metrics["risk_cost"],
            )
        return result

    def policy_for(self, params: Mapping[str, Any]) -> HedgePolicy:
        """The re-hedging policy a trial's params make."""
        return self._policy(self.configure(params))

    def baseline_policies(self) -> dict[str, HedgePolicy]:
        """Unhedged, delta-hedge every tick, fixed cadences (full ratio, no bands, no clip), and
        the Whalley-Wilmott band at the study's risk aversion (no cadence, to the band edge)."""
        tick = self.market.tick_seconds
        out = {
            "unhedged": HedgePolicy(cadence_seconds=math.inf, hedge_ratio=0.0),
            "every_tick": HedgePolicy(cadence_seconds=tick, hedge_ratio=1.0),
        }
        cadences = self.config["baselines"]["cadences_seconds"]
        for c in cadences:
            out[f"cadence_{int(c)}s"] = HedgePolicy(cadence_seconds=float(c), hedge_ratio=1.0)
        out["whalley_wilmott"] = HedgePolicy(
            cadence_seconds=math.inf,
            band_mode="whalley_wilmott",
            band_scale=1.0,
            rehedge_to="band_edge",
            risk_aversion=self.risk_aversion,
        )
        return out

    def baselines(self) -> dict[str, dict[str, Evaluation]]:
        if self._baselines is None:
            costs = self._costs(self.config)
            self._baselines = {
                name: {
                    "in_sample": self._run(self.inputs, pol, costs),
                    "out_of_sample": self._run(self.oos_inputs, pol, costs),
                }
                for name, pol in self.baseline_policies().items()
            }
        return self._baselines

    def plots(
        self, best_params: Mapping[str, Any], trials: Sequence[Mapping[str, Any]], out_dir: Path
    ) -> list[Path]:
        """Out-of-sample hedging errors and one traced path of the best config, and the trials."""
        from objectives.delta_hedge import plots

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        best = self.policy_for(best_params)
        costs = self._costs(self.config)
        policies = {"best": best, **self.baseline_policies()}
        evals = {name: self._run(self.oos_inputs, pol, costs) for name, pol in policies.items()}
        written = [
            plots.plot_hedging_error(
                {k: e.samples["hedging_error"] for k, e in evals.items()},
                {k: (e.metrics["costs"], e.metrics["hedging_risk"]) for k, e in evals.items()},
                out_dir / "pnl_distribution.png",
            )
        ]
        written.append(self._plot_trace(best, costs, out_dir / "hedge_trace.png"))
        written += plots.plot_trials(
            trials,
            self.optimised,
            list(self.context.directions),
            out_dir,
        )
        return written

    def _plot_trace(self, policy: HedgePolicy, costs: CostModel, path: Path) -> Path:
        """Out-of-sample path 0 under ``policy``, at most ~6000 points a line."""
        from objectives.delta_hedge.plots import plot_hedge_trace

        inputs = self.oos_inputs
        _, h, _ = run_hedge(inputs, policy, costs, paths=slice(0, 1), trace_path=0)
        stride = max(1, (inputs.n_steps + 1) // 6000)
        s = inputs.spot[0, ::stride]
        book_delta, gamma = inputs.book_delta[0, ::stride], inputs.book_gamma[0, ::stride]
        target = -policy.hedge_ratio * book_delta
        half = np.array(
            [policy.half_width(si, gi, inputs.notional, costs.rate) for si, gi in zip(s, gamma, strict=True)]
        )
        band = half * s / inputs.notional if np.all(np.isfinite(half)) else None
        hours = (np.arange(inputs.n_steps + 1) * inputs.tick_seconds / 3600.0)[::stride]
        return plot_hedge_trace(hours, s, book_delta, target, h[::stride], inputs.notional, band, path)

    def dataset(self) -> dict[str, Any]:
        """The simulated paths trials run on: market model, book, path counts and seeds."""
        from hedgeopt.protocol import describe_settings

        c = self.config
        return describe_settings(
            "crypto_perp_paths",
            {
                "simulator": c["simulator"],
                "book": c["book"],
                "paths": c["paths"],
                "seed": self.seed,
                "oos_seed": self.oos_seed,
            },
            rows=self.n_paths,
        )
