"""spread_hedge: what a pairs trader earns with a tuned spread and z-score rule.

Walk-forward over a real price file (``simulators.trading.pairs_backtest``): at each trading-window
start the hedge ratios (``spread.method``), the spread's mean and its standard deviation come
from the previous ``spread.formation_window`` rows only; a z-score rule (``trade.entry_z``,
``exit_z``, ``stop_z``) trades the spread over the next ``spread.trading_window`` rows with a
fixed gross notional and ``trade.cost_bps`` on every leg traded. The score is the annualised
Sharpe ratio of the pooled daily net returns (maximise); half-life, ADF and variance reduction
are diagnostics.

Rows: the search scores days ``[warmup, split)`` (``data.warmup``, set in the config, at least
the longest formation window the search may pick, so every trial is scored on the same days;
the framework refuses a search space that reaches past it); ``evaluate`` scores the untouched final
``data.holdout_fraction`` of rows ``[split, end)``, whose formation windows may reach back into
earlier rows (data known at the time), never forward. ``evaluate`` also re-runs the config on
``surrogates.n`` surrogate histories of the held-out period whose legs were block-bootstrapped
independently (no cointegration) and reports the share that score at least as well
(``surrogate_p_value``, also the verdict's "edge over chance" line: an ``EdgeTest`` whose
default rule is the ``ols_default_rule`` baseline). Every evaluation returns per-day net
returns as its samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hedgeopt.protocol import (
    EdgeTest,
    Evaluation,
    Objective,
    Reporter,
    Sharpe,
    StudyContext,
    TrialPruned,
    get_path,
)
from objectives.price_data import RENAMED_KEYS, load_study_prices, say_date_column
from simulators.conventions import TRADING_DAYS
from simulators.estimators import hedge_ratios as hr
from simulators.markets.prices import DATA_DIR
from simulators.markets.surrogates import independent_block_bootstrap, surrogate_summary
from simulators.performance import annualised_sharpe, max_drawdown
from simulators.trading.pairs_backtest import (
    RatioEstimator,
    SpreadSettings,
    summarise,
    trading_windows,
    walk_forward,
)
from simulators.trading.pairs_trading import ZScoreRule, buy_and_hold, positions

METHODS_WITH_CONSTANT = ("ols", "tls")
#: Methods that run a numerical search per window (min_adf: each surrogate costs ~10x a closed-form method's).
NUMERICAL_METHODS = ("min_half_life", "min_adf")
#: Fewest held-out trading windows a walk-forward may leave (fewer cannot say anything).
MIN_HELD_OUT_WINDOWS = 3
SCORE = "sharpe"


class SpreadHedgeObjective(Objective):
    """Tunes the hedge-ratio method, windows and z-score thresholds of a pairs trade."""

    data_dirs = (DATA_DIR,)
    renamed_keys = RENAMED_KEYS

    #: read from the study config only (prices and surrogates are set up once per worker)
    fixed_keys = ("data", "surrogates")
    #: every trial is scored from row data.warmup on: no formation window may reach before row 0
    upper_bounds = {"spread.formation_window": "data.warmup"}

    def __init__(self, config: Mapping[str, Any], context: StudyContext | None = None) -> None:
        super().__init__(config, context)
        data = dict(self.config["data"])
        surrogates = dict(self.config["surrogates"])
        self.seed = self.context.seed
        self.n_surrogates = int(surrogates["n"])
        self.n_surrogates_numerical = int(surrogates["n_numerical"])
        self.surrogate_block = int(surrogates["block"])
        if self.n_surrogates < 0 or self.surrogate_block < 1:
            raise ValueError("surrogates.n must be >= 0 and surrogates.block >= 1")
        self.prices = self._load(data)
        self.columns = [str(c) for c in self.prices.columns]
        self.dependent = self.columns[0]
        self.values = self.prices.to_numpy(dtype=float)
        if data.get("surrogate_seed") is not None:  # the whole study on a pair with no cointegration
            rng = np.random.default_rng(int(data["surrogate_seed"]))
            self.values = independent_block_bootstrap(self.values, 1, self.surrogate_block, rng)[0]
            self.prices = pd.DataFrame(self.values, index=self.prices.index, columns=self.columns)
        self.split, self.warmup = self._rows(data, len(self.values))
        self.estimator = RatioEstimator(self.values, self.columns)
        self.default = self._settings({})

    # ---------------------------------------------------------------- set-up

    @staticmethod
    def _load(data: Mapping[str, Any]) -> pd.DataFrame:
        columns = data.get("columns")
        prices = load_study_prices(data, [str(c) for c in columns] if columns else None)
        if prices.shape[1] < 2:
            raise ValueError(f"a spread needs two or more price columns, got {list(prices.columns)}")
        dependent = data.get("dependent")
        if dependent is not None:
            if dependent not in prices.columns:
                raise ValueError(f"data.dependent {dependent!r} is not one of {list(prices.columns)}")
            prices = prices[[dependent] + [c for c in prices.columns if c != dependent]]
        return prices

    @staticmethod
    def _rows(data: Mapping[str, Any], n: int) -> tuple[int, int]:
        """``(split, warmup)``: the first held-out row and the first scored row, checked."""
        holdout = float(data["holdout_fraction"])
        if not 0.0 < holdout < 1.0:
            raise ValueError(f"data.holdout_fraction must be in (0, 1), got {holdout}")
        split = round(n * (1.0 - holdout))
        warmup = data.get("warmup")
        if isinstance(warmup, bool) or not isinstance(warmup, int):
            raise ValueError(
                f"data.warmup must be the first scored row, at least the longest "
                f"spread.formation_window searched; got {warmup!r}"
            )
        if warmup < 2 or warmup >= split:
            raise ValueError(
                f"{data.get('source')}: {n} rows; data.warmup {warmup} leaves no in-sample "
                f"trading days before the held-out part at row {split}; use more data or a "
                "shorter data.warmup (and spread.formation_window values)"
            )
        return split, warmup

    @classmethod
    def check_config(cls, config: Mapping[str, Any]) -> None:
        """Preflight: the pair's file opens with its columns, and its rows fill the windows."""
        data = dict(config.get("data") or {})
        prices = cls._load(data)
        say_date_column(prices)
        n = len(prices)
        split, _ = cls._rows(data, n)
        trading = int(get_path(config, "spread.trading_window", 60))
        _held_out(data.get("source"), n, split, trading)

    def _check_held_out(self, trading: int) -> None:
        _held_out(get_path(self.config, "data.source"), len(self.values), self.split, trading)

    def _settings(self, params: Mapping[str, Any]) -> SpreadSettings:
        cfg = self.configure(params)
        spread, trade = cfg["spread"], cfg["trade"]
        method = str(spread["method"])
        if method not in hr.METHODS:
            raise ValueError(f"spread.method must be one of {list(hr.METHODS)}, got {method!r}")
        formation = int(spread["formation_window"])
        trading = int(spread["trading_window"])
        if formation < 10 or trading < 1:
            raise ValueError(
                f"spread.formation_window ({formation}) must be >= 10 and "
                f"spread.trading_window ({trading}) >= 1"
            )
        if formation > self.warmup:
            raise ValueError(f"spread.formation_window {formation} exceeds data.warmup {self.warmup}")
        self._check_held_out(trading)
        cost = float(trade["cost_bps"])
        if cost < 0:
            raise ValueError(f"trade.cost_bps must be >= 0, got {cost}")
        rule = ZScoreRule(float(trade["entry_z"]), float(trade["exit_z"]), float(trade["stop_z"]))
        constant = _as_bool(spread["add_constant"]) if method in METHODS_WITH_CONSTANT else False
        return SpreadSettings(method, constant, formation, trading, rule, cost)

    # ---------------------------------------------------------------- evaluations

    def _evaluation(self, returns: np.ndarray, metrics: dict[str, float]) -> Evaluation:
        r = np.asarray(returns, dtype=float)
        statistic = Sharpe(TRADING_DAYS)
        metrics = {
            **metrics,
            SCORE: float(statistic(r[:, None])),
            "pnl": metrics["total_return"] * self._notional(),
        }
        return Evaluation(metrics=metrics, samples={SCORE: r}, statistics={SCORE: statistic}, serial=True)

    def _notional(self) -> float:
        return float(get_path(self.config, "trade.gross_notional", 1.0e6))

    @staticmethod
    def _on_window(reporter: Reporter | None) -> Callable[[int, np.ndarray], None]:
        """The walk-forward's hook after each trading window: the Sharpe of the days so far goes
        to the reporter (step = window index), and the trial stops if the pruner says so."""

        def on_window(k: int, so_far: np.ndarray) -> None:
            if reporter is not None:
                reporter.report(SCORE, annualised_sharpe(so_far) if so_far.size > 1 else 0.0, k)
                if reporter.should_prune():
                    raise TrialPruned()

        return on_window

    def _run(self, s: SpreadSettings, lo: int, hi: int, reporter: Reporter | None = None) -> Evaluation:
        walk = walk_forward(self.estimator, s, lo, hi, diagnostics=True, on_window=self._on_window(reporter))
        return self._evaluation(walk.returns, summarise(walk))

    def surrogate_sharpes(self, s: SpreadSettings, n: int, seed: int) -> np.ndarray:
        """Held-out Sharpe ratios of ``s`` on ``n`` surrogates of the held-out period (its formation
        rows included) whose legs were block-bootstrapped independently."""
        lo = self.split - s.formation
        rng = np.random.default_rng(seed)
        paths = independent_block_bootstrap(self.values[lo:], n, self.surrogate_block, rng)
        out = np.empty(n)
        for i, path in enumerate(paths):
            walk = walk_forward(
                RatioEstimator(path, self.columns, cache=False), s, s.formation, len(path), diagnostics=False
            )
            out[i] = annualised_sharpe(walk.returns)
        return out

    # ---------------------------------------------------------------- protocol

    def __call__(self, params: Mapping[str, Any], reporter: Reporter) -> Evaluation:
        return self._run(self._settings(params), self.warmup, self.split, reporter)

    def evaluate(self, params: Mapping[str, Any], reporter: Reporter | None = None) -> Evaluation:
        s = self._settings(params)
        result = self._run(s, self.split, len(self.values))
        n = self.n_surrogates_numerical if s.method in NUMERICAL_METHODS else self.n_surrogates
        if n > 0:
            sharpes = self.surrogate_sharpes(s, n, self.seed + 7919)
            result.metrics.update(surrogate_summary(result.metrics[SCORE], sharpes))
            result.edge = EdgeTest(
                result.metrics["surrogate_p_value"],
                n,
                "surrogate pairs without cointegration",
                default_rule="ols_default_rule",
            )
        return result

    def baselines(self) -> dict[str, dict[str, Evaluation]]:
        """The baselines of :meth:`_baselines_between` in sample and out of sample."""
        out: dict[str, dict[str, Evaluation]] = {}
        for split, (lo, hi) in (
            ("in_sample", (self.warmup, self.split)),
            ("out_of_sample", (self.split, len(self.values))),
        ):
            for name, evaluation in self._baselines_between(lo, hi).items():
                out.setdefault(name, {})[split] = evaluation
        return out

    def _baselines_between(self, lo: int, hi: int) -> dict[str, Evaluation]:
        """Buy-and-hold the dependent leg, the OLS ratio with the default rule, and no trade."""
        d = self.default
        ols = SpreadSettings("ols", False, d.formation, d.trading, ZScoreRule(), d.cost_bps)
        return {
            "buy_and_hold": self._plain(buy_and_hold(self.values[lo - 1 : hi, 0], d.cost_bps)),
            "ols_default_rule": self._run(ols, lo, hi),
            "no_trade": self._plain(np.zeros(hi - lo)),
        }

    def _plain(self, returns: np.ndarray) -> Evaluation:
        """A baseline that is only daily returns (no trades to count)."""
        return self._evaluation(returns, _plain_metrics(returns))

    def plots(
        self, best_params: Mapping[str, Any], trials: Sequence[Mapping[str, Any]], out_dir: Path
    ) -> list[Path]:
        from objectives.spread_hedge.plots import plot_best

        s = self._settings(best_params)
        n, lo = len(self.values), self.warmup
        z, pos, returns = np.full(n - lo, np.nan), np.zeros(n - lo), np.zeros(n - lo)
        for a, b in ((lo, self.split), (self.split, n)):
            walk = walk_forward(self.estimator, s, a, b, diagnostics=False)
            returns[a - lo : b - lo] = walk.returns
            for (t, e), est in zip(trading_windows(a, b, s.trading), walk.estimates, strict=False):
                if est.beta is None or not est.std > 0:
                    continue
                spread = self.values[t - 1 : e] @ np.concatenate([[1.0], -est.beta])
                zz = (spread - est.mean) / est.std
                z[t - lo : e - lo] = zz[1:]
                pos[t - lo : e - lo] = positions(zz[:-1], s.rule)  # the position held over each day
        held = buy_and_hold(self.values[lo - 1 : n, 0], s.cost_bps)
        return plot_best(
            self.prices.index[lo:n], z, pos, returns, held, self.split - lo, self.dependent, s, Path(out_dir)
        )

    def dataset(self) -> dict[str, Any]:
        """The pair's price file, its digest and the days the study uses."""
        from hedgeopt.protocol import describe_file
        from simulators.markets.prices import resolve_source

        source = self.config["data"]["source"]
        return describe_file(
            resolve_source(source),
            rows=len(self.prices),
            date_range=(self.prices.index[0], self.prices.index[-1]),
        )


def _plain_metrics(returns: np.ndarray) -> dict[str, float]:
    """The trading metrics of a series that is not a spread trade (buy-and-hold, no trade)."""
    r = np.asarray(returns, dtype=float)
    return {
        "sharpe": annualised_sharpe(r),
        "annual_return": float(r.mean() * TRADING_DAYS),
        "total_return": float(r.sum()),
        "volatility": float(r.std(ddof=1) * math.sqrt(TRADING_DAYS)),
        "max_drawdown": max_drawdown(r),
    }


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        if value.lower() in ("true", "yes", "1"):
            return True
        if value.lower() in ("false", "no", "0"):
            return False
        raise ValueError(f"spread.add_constant must be true or false, got {value!r}")
    return bool(value)


def _held_out(source: Any, n: int, split: int, trading: int) -> None:
    """Refuse a walk-forward whose held-out rows hold fewer than MIN_HELD_OUT_WINDOWS windows."""
    held = n - split
    if held // trading < MIN_HELD_OUT_WINDOWS:
        raise ValueError(
            f"{source}: {n} rows leave {held} held-out days, {held // trading} "
            f"trading window(s) of {trading} days; at least {MIN_HELD_OUT_WINDOWS} are needed: use "
            "a longer price history, a larger data.holdout_fraction or shorter "
            "spread.trading_window values"
        )
