"""kalman_hedge: tune a multi-proxy Kalman hedge on real ETF prices, anchored walk-forward.

A target (default EEM) is hedged with proxies (default FXI, EPP, EFA; presets in
``conf/kalman_hedge_problem``) whose hedge ratios follow a random walk estimated by a Kalman
filter (:mod:`simulators.estimators.kalman`). Tuned: the signal-to-noise ratio delta = q / R, the
observation noise R (or R by maximum likelihood on each train window) and the rebalance
frequency. Windows (:mod:`objectives.kalman_hedge.windows`): validation folds, each with its own
train window, all before one untouched test period.

- With ``kalman.init: ols`` (default) the state starts at the scored window from the OLS fit on
  its train window (mean = coefficients, covariance = ``init_cov_scale`` x their covariance);
  with ``init: diffuse`` it starts at the train window's first day from beta = 0,
  P = ``diffuse_cov`` I (the train window is a burn-in).
- The ratio held on day t is the prior beta_{t|t-1} (data up to t-1), traded in units by the
  hedging engine (:mod:`simulators.hedging.proxy_hedging`): rebalance, constraints, costs.

The optimised metric ``effectiveness`` is the net hedge effectiveness
1 - Var(hedged net)/Var(unhedged) of the pooled days of the scored windows: the validation
folds in a trial (the same days for every trial), the test period in :meth:`evaluate` and in
every baseline's ``out_of_sample``. Each comes as an :class:`Evaluation` whose samples are the
per-day [hedged net, unhedged] returns and whose statistic is :class:`HedgeEffectiveness`.
The study is deterministic (no random paths): ``seed`` only fixes the sampler.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hedgeopt.protocol import Evaluation, NullReporter, Objective, Reporter, StudyContext, TrialPruned
from objectives.kalman_hedge.baselines import (
    STATIC_BASELINES,
    fit_static_ratios,
    grid_candidates,
    rolling_ratios,
)
from objectives.kalman_hedge.data import load_study_prices
from objectives.kalman_hedge.windows import Window, build_walk_forward
from objectives.price_data import RENAMED_KEYS, say_date_column
from simulators.estimators.kalman import fit_observation_noise, kalman_filter
from simulators.estimators.static_hedge import StaticFit, ols_hedge
from simulators.hedging.proxy_hedging import (
    REBALANCE_FREQUENCIES,
    HedgeResult,
    hedge_metrics,
    rebalance_mask,
    run_hedge,
)
from simulators.markets.prices import DATA_DIR, returns

METRIC = "effectiveness"
RatiosOf = Callable[[Window], np.ndarray]


@dataclass(frozen=True)
class HedgeEffectiveness:
    """1 - Var(hedged)/Var(unhedged) of per-day rows [hedged, unhedged], over leading axes."""

    hedged: int = 0
    unhedged: int = 1

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        var_h = x[..., self.hedged].var(axis=-1, ddof=1)
        var_u = x[..., self.unhedged].var(axis=-1, ddof=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return 1.0 - var_h / var_u


class KalmanHedgeObjective(Objective):
    """Pooled validation net hedge effectiveness of a Kalman multi-proxy hedge (anchored walk-forward)."""

    data_dirs = (DATA_DIR,)
    renamed_keys = RENAMED_KEYS

    #: read from the study config only (prices and windows are loaded once per worker)
    fixed_keys = ("data", "walk_forward")
    #: calibrated by a grid search of its own; the other baselines are fixed rules
    tuned_baselines = ("kalman_grid_calibration",)

    def __init__(self, config: Mapping[str, Any], context: StudyContext | None = None) -> None:
        super().__init__(config, context)
        data = self.config["data"]
        prices = load_study_prices(data)
        self.target, self.proxies = str(data["target"]), [str(p) for p in data["proxies"]]
        est = returns(prices, data["returns"])  # what the filter and the fits see
        pnl = returns(prices, "simple")  # what the hedge earns
        self.index = est.index
        self.y = est[self.target].to_numpy()
        self.X = np.ascontiguousarray(est[self.proxies].to_numpy())
        self.y_pnl = pnl[self.target].to_numpy()
        self.X_pnl = np.ascontiguousarray(pnl[self.proxies].to_numpy())
        self.walk = build_walk_forward(self.config["walk_forward"], self.index)
        self.folds = self.walk.folds
        self.masks = {
            (w.name, f): rebalance_mask(self.index[slice(*w.scored)], f)
            for w in (*self.folds, self.walk.test)
            for f in REBALANCE_FREQUENCIES
        }
        self._ols_cache: dict[tuple[str, bool], StaticFit] = {}
        self._baselines: dict[str, dict[str, Evaluation]] | None = None
        kalman_filter(self.y[:8], self.X[:8], 1e-5, 1e-3)  # compile (or load the numba cache) once per worker

    @classmethod
    def check_config(cls, config: Mapping[str, Any]) -> None:
        """Preflight: the file opens, holds the target and proxies, and fills every window."""
        data = config.get("data") or {}
        prices = load_study_prices(data)
        say_date_column(prices)
        index = returns(prices, data["returns"]).index
        try:
            build_walk_forward(config["walk_forward"], index)
        except ValueError as exc:
            raise ValueError(f"{data.get('source')}: {exc}") from None

    # ------------------------------------------------------------------ the Kalman hedge
    def noise(self, window: Window, cfg: Mapping[str, Any]) -> tuple[float, float]:
        """(q, R) of a window: from delta = q/R and R (R may be ``mle``), or the seed's q and R."""
        k = cfg["kalman"]
        delta, q = k.get("signal_to_noise"), k.get("process_noise")
        r = k.get("observation_noise")
        if (delta is None) == (q is None):
            raise ValueError(
                "set exactly one of kalman.signal_to_noise (delta = q/R) and kalman.process_noise (q)"
            )
        if r == "mle":
            if delta is None:
                raise ValueError(
                    "kalman.observation_noise=mle needs kalman.signal_to_noise, not kalman.process_noise"
                )
            beta0, P0, _ = self._start(window, k, at_train=True)
            lo, hi = window.train
            r = fit_observation_noise(
                self.y[lo:hi], self.X[lo:hi], float(delta), beta0, P0, self._intercept(k)
            )
        try:
            r = float(r)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"kalman.observation_noise must be a positive number or mle, got {r!r}") from exc
        q = float(delta) * r if delta is not None else float(q)
        return q, r

    @staticmethod
    def _intercept(k: Mapping[str, Any]) -> bool:
        return bool(k["intercept"])

    def _start(
        self, window: Window, k: Mapping[str, Any], at_train: bool = False
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """Prior state (beta0, P0) and the row the filter starts on."""
        intercept = self._intercept(k)
        n_states = len(self.proxies) + int(intercept)
        init = k["init"]
        if init == "ols":
            fit = self._ols(window, intercept)
            beta0 = np.concatenate([[fit.alpha], fit.ratios]) if intercept else fit.ratios
            return (
                beta0,
                float(k["init_cov_scale"]) * fit.cov,
                window.train[0] if at_train else window.scored[0],
            )
        if init == "diffuse":
            return np.zeros(n_states), float(k["diffuse_cov"]) * np.eye(n_states), window.train[0]
        raise ValueError(f"kalman.init must be ols or diffuse, got {init!r}")

    def kalman_ratios(self, window: Window, cfg: Mapping[str, Any]) -> np.ndarray:
        """Prior hedge ratios [days, m] over the window's scored days."""
        k = cfg["kalman"]
        q, r = self.noise(window, cfg)
        intercept = self._intercept(k)
        beta0, P0, start = self._start(window, k)
        q_vec = np.full(len(self.proxies) + int(intercept), q)
        if intercept and k.get("intercept_process_noise") is not None:
            q_vec[0] = float(k["intercept_process_noise"])
        stop = window.scored[1]
        res = kalman_filter(self.y[start:stop], self.X[start:stop], q_vec, r, beta0, P0, intercept=intercept)
        return res.hedge_ratios[window.scored[0] - start :]

    def _ols(self, window: Window, intercept: bool) -> StaticFit:
        key = (window.name, intercept)
        if key not in self._ols_cache:
            lo, hi = window.train
            self._ols_cache[key] = ols_hedge(self.y[lo:hi], self.X[lo:hi], intercept=intercept)
        return self._ols_cache[key]

    # ------------------------------------------------------------------ scoring
    def _hedge(
        self, window: Window, ratios: np.ndarray, cfg: Mapping[str, Any]
    ) -> tuple[HedgeResult, dict[str, float]]:
        eng = cfg["engine"]
        rebalance = eng["rebalance"]
        if rebalance not in REBALANCE_FREQUENCIES:
            raise ValueError(f"engine.rebalance must be one of {REBALANCE_FREQUENCIES}, got {rebalance!r}")
        bps = self._cost_bps(eng)
        lo, hi = window.scored
        res = run_hedge(
            self.y_pnl[lo:hi],
            self.X_pnl[lo:hi],
            ratios,
            self.masks[(window.name, rebalance)],
            bps[str(eng["cost_scenario"])],
            eng.get("max_abs_ratio"),
            eng.get("max_gross_leverage"),
            float(eng["notional"]),
        )
        return res, hedge_metrics(res, int(eng["stability_window"]))

    @staticmethod
    def _cost_bps(eng: Mapping[str, Any]) -> dict[str, float]:
        bps = {str(k): float(v) for k, v in eng["cost_bps"].items()}
        scenario = str(eng["cost_scenario"])
        if scenario not in bps:
            raise ValueError(f"engine.cost_scenario {scenario!r} is not one of engine.cost_bps {sorted(bps)}")
        return bps

    def score(
        self,
        windows: Sequence[Window],
        ratios_of: RatiosOf,
        cfg: Mapping[str, Any],
        reporter: Reporter | None = None,
    ) -> Evaluation:
        """Metrics of the pooled days of ``windows``, with per-day samples behind ``effectiveness``."""
        results: list[HedgeResult] = []
        per_window: list[dict[str, float]] = []
        stat = HedgeEffectiveness()
        for step, w in enumerate(windows):
            res, m = self._hedge(w, ratios_of(w), cfg)
            results.append(res)
            per_window.append(m)
            if reporter is not None:
                so_far = np.column_stack(
                    [np.concatenate([r.net for r in results]), np.concatenate([r.unhedged for r in results])]
                )
                reporter.report(METRIC, float(stat(so_far)), step)
                if reporter.should_prune():
                    raise TrialPruned()
        pooled = HedgeResult(
            *(np.concatenate([getattr(r, f) for r in results]) for f in HedgeResult.__dataclass_fields__)
        )
        eng = cfg["engine"]
        out = hedge_metrics(pooled, int(eng["stability_window"]))
        out["beta_stability"] = float(np.mean([m["beta_stability"] for m in per_window]))
        var_u = float(np.var(pooled.unhedged, ddof=1))
        for name, b in self._cost_bps(eng).items():  # the same trades under every cost scenario
            out[f"effectiveness_cost_{name}"] = (
                1.0 - float(np.var(pooled.gross - pooled.turnover * b * 1e-4, ddof=1)) / var_u
            )
        if len(windows) > 1:
            for w, m in zip(windows, per_window, strict=False):
                out[f"effectiveness_{w.name}"] = m["effectiveness"]
        samples = np.column_stack([pooled.net, pooled.unhedged])
        return Evaluation(metrics=out, samples={METRIC: samples}, statistics={METRIC: stat}, serial=True)

    def kalman_ratios_of(self, cfg: Mapping[str, Any]) -> RatiosOf:
        return lambda w: self.kalman_ratios(w, cfg)

    def __call__(self, params: Mapping[str, Any], reporter: Reporter) -> Evaluation:
        cfg = self.configure(params)
        return self.score(self.folds, self.kalman_ratios_of(cfg), cfg, reporter)

    def evaluate(self, params: Mapping[str, Any], reporter: Reporter | None = None) -> Evaluation:
        cfg = self.configure(params)
        ev = self.score([self.walk.test], self.kalman_ratios_of(cfg), cfg)
        q, r = self.noise(self.walk.test, cfg)
        ev.metrics.update(process_noise=q, observation_noise=r)
        return ev

    # ------------------------------------------------------------------ baselines
    def static_ratios(self, method: str, window: Window) -> np.ndarray:
        """Constant ratios of a static method, fitted on the window's train range."""
        lo, hi = window.train
        h = fit_static_ratios(method, self.y[lo:hi], self.X[lo:hi], self.config["static"])
        return np.tile(h, (window.days, 1))

    def grid_calibration(self) -> tuple[dict[str, Any], Evaluation]:
        """The seed's calibration: the (q, R) of the config grids with the best pooled validation
        effectiveness."""
        best: tuple[dict[str, Any], Evaluation] | None = None
        for params in grid_candidates(self.config["kalman"]):
            cfg = self.configure(params)
            ev = self.score(self.folds, self.kalman_ratios_of(cfg), cfg)
            if best is None or ev.metrics[METRIC] > best[1].metrics[METRIC]:
                best = (params, ev)
        if best is None:
            raise ValueError("kalman.process_noise_grid and kalman.observation_noise_grid must not be empty")
        return best

    def baselines(self) -> dict[str, dict[str, Evaluation]]:
        """No hedge, static OLS, ridge, single-proxy h*, rolling OLS and the seed's grid-calibrated
        Kalman, in sample on the validation folds and out of sample on the test window."""
        if self._baselines is not None:
            return self._baselines
        cfg = self.config
        out: dict[str, dict[str, Evaluation]] = {}

        def both(ratios_of: RatiosOf) -> dict[str, Evaluation]:
            return {
                "in_sample": self.score(self.folds, ratios_of, cfg),
                "out_of_sample": self.score([self.walk.test], ratios_of, cfg),
            }

        for name, method in STATIC_BASELINES:
            out[name] = both(lambda w, method=method: self.static_ratios(method, w))
        intercept = bool(cfg["static"]["intercept"])
        out["static_ols"]["in_sample"].metrics["train_r2"] = float(
            np.mean([self._ols(w, intercept).r2 for w in self.folds])
        )
        out["static_ols"]["out_of_sample"].metrics["train_r2"] = self._ols(self.walk.test, intercept).r2
        rolling = rolling_ratios(self.y, self.X, cfg["static"])
        out["rolling_ols"] = both(lambda w: rolling[slice(*w.scored)])
        params, val = self.grid_calibration()
        test = self.evaluate(params)
        for ev in (val, test):
            ev.metrics.update(
                process_noise=params["kalman.process_noise"],
                observation_noise=params["kalman.observation_noise"],
            )
        out["kalman_grid_calibration"] = {"in_sample": val, "out_of_sample": test}
        self._baselines = out
        return out

    # ------------------------------------------------------------------ plots
    def plots(
        self, best_params: Mapping[str, Any], trials: Sequence[Mapping[str, Any]], out_dir: Path
    ) -> list[Path]:
        """Ratios of the tuned filter against static OLS over every scored window; rolling std of
        the betas; a table (CSV, HTML) of validation and test metrics beside the baselines; trials
        over (delta, R)."""
        from objectives.kalman_hedge import plots as figures

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        cfg = self.configure(best_params)
        windows = [*self.folds, self.walk.test]
        days = self.scored_dates(windows[0]).append([self.scored_dates(w) for w in windows[1:]])

        def ratios(of: RatiosOf) -> pd.DataFrame:
            return pd.DataFrame(np.vstack([of(w) for w in windows]), index=days, columns=self.proxies)

        kalman = ratios(self.kalman_ratios_of(cfg))
        q, r = self.noise(self.walk.test, cfg)
        title = (
            f"{self.target} hedge ratios (test q={q:.2e}, R={r:.2e}); dotted: validation folds, solid: "
            "test start"
        )
        table_title = (
            f"{self.target} hedged with {', '.join(self.proxies)}: {len(self.folds)} validation folds, test "
            f"{self.walk.test.name}"
        )
        return [
            figures.plot_ratios(
                kalman,
                ratios(lambda w: self.static_ratios("ols", w)),
                [self.index[w.scored[0]] for w in self.folds],
                self.index[self.walk.test.scored[0]],
                title,
                out_dir / "kalman_vs_static_ratios.png",
            ),
            figures.plot_ratio_stability(
                kalman,
                int(cfg["engine"]["stability_window"]),
                out_dir / "kalman_beta_rolling_std.png",
            ),
            *figures.write_metrics_table(
                self._table_rows(best_params, out_dir), table_title, out_dir / "kalman_metrics_table"
            ),
            *figures.plot_trials(trials, out_dir / "kalman_trials_delta_R.png"),
        ]

    def _table_rows(
        self, best_params: Mapping[str, Any], out_dir: Path
    ) -> dict[str, tuple[dict[str, float], dict[str, float]]]:
        """(validation, test) metrics of the tuned filter and of every baseline."""
        tuned = (self(best_params, NullReporter(out_dir)).metrics, self.evaluate(best_params).metrics)
        rows = {"kalman_tuned": tuned}
        for name, b in self.baselines().items():
            rows[name] = (b["in_sample"].metrics, b["out_of_sample"].metrics)
        return rows

    def scored_dates(self, window: Window) -> pd.DatetimeIndex:
        return self.index[slice(*window.scored)]

    def dataset(self) -> dict[str, Any]:
        """The price file, its digest and the days of returns the study uses."""
        from hedgeopt.protocol import describe_file
        from simulators.markets.prices import resolve_source

        return describe_file(
            resolve_source(self.config["data"]["source"]),
            rows=len(self.index),
            date_range=(self.index[0], self.index[-1]),
        )
