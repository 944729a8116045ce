"""tail_hedge: how much to spend on crash protection for a long SPY portfolio, and in what form.

The overlay (:mod:`simulators.hedging.put_overlay`): rolled out-of-the-money SPY puts (moneyness,
tenor, roll timing, yearly budget) priced by Black-Scholes with a stated implied-vol model
(:mod:`simulators.pricing.implied_vol`), plus an optional trend overlay
(:mod:`simulators.hedging.trend_overlay`).

Split: every trial is scored on seeded stress paths (:mod:`simulators.markets.stress_paths`: stochastic
variance with crashes, the same paths for every trial), where the overlay meets many crashes;
the best config is judged on the whole SPY history of the embedded file (2008-2016), which no
trial sees. A walk-forward split of that history would tune on the 2008 crash and judge on
2013-2016, which has none.

Score (maximised): ``utility`` = annualised log growth - ``cvar_weight`` x CVaR95 of 21-day
returns (losses positive). On the paths the 21-day returns are consecutive blocks of each
path (samples: one row per path, one column per block); on history they are the overlapping
21-day windows of the daily returns (samples: one row per day, moving-block bootstrap in
blocks of at least ``utility.horizon`` days, so no resampled block cuts a CVaR window short).

Carry (``market.rate``, ``market.equity_yield``, ``market.bond_yield``) is a stated user
assumption of the config, not estimated from the judged 2008-2016 history: the closes exclude
dividends and coupons, and the study's result depends on what is assumed for them (the tests
run it at two values).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hedgeopt.protocol import CVaR, Evaluation, Objective, Reporter, StudyContext, default_block_length
from objectives.price_data import RENAMED_KEYS, load_study_prices, say_date_column
from simulators.hedging.put_overlay import Market, OverlayResult, PutPolicy, run_overlay
from simulators.hedging.trend_overlay import trend_exposure
from simulators.markets.prices import DATA_DIR
from simulators.markets.stress_paths import StressModel, simulate_stress_paths
from simulators.performance import compounded_max_drawdown
from simulators.pricing.implied_vol import TRADING_DAYS, SkewVolModel, trailing_realised_vol

METRIC = "utility"


# ---------------------------------------------------------------------------- statistics
def _log_growth_minus_cvar(
    log_growth: np.ndarray, horizon_returns: np.ndarray, weight: float, level: float
) -> np.ndarray:
    """``log_growth - weight x CVaR(level)`` of losses ``-horizon_returns`` (pooled over the last axis)."""
    tail = CVaR(level)(-horizon_returns[..., None])
    return log_growth - weight * tail


@dataclass(frozen=True)
class DailyTailUtility:
    """Utility of daily returns ``(..., n, 1)``: 252 x mean log return - w x CVaR of ``horizon``-day returns.

    The horizon returns are the overlapping windows of the rows (n - horizon + 1 of them).
    """

    cvar_weight: float = 1.0
    horizon: int = 21
    level: float = 0.95

    def __call__(self, x: np.ndarray) -> np.ndarray:
        lr = np.log1p(np.asarray(x, dtype=float)[..., 0])
        growth = TRADING_DAYS * lr.mean(axis=-1)
        cs = np.cumsum(lr, axis=-1)
        zero = np.zeros(cs.shape[:-1] + (1,))
        cs = np.concatenate([zero, cs], axis=-1)
        window = np.expm1(cs[..., self.horizon :] - cs[..., : -self.horizon])
        return _log_growth_minus_cvar(growth, window, self.cvar_weight, self.level)


@dataclass(frozen=True)
class BlockTailUtility:
    """Utility of path blocks ``(..., n_paths, k)``: each entry the log return of one ``horizon``-day block.

    Growth = mean block log return x 252 / horizon; CVaR over all blocks of all rows.
    """

    cvar_weight: float = 1.0
    horizon: int = 21
    level: float = 0.95

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        pooled = x.reshape(x.shape[:-2] + (-1,))
        growth = pooled.mean(axis=-1) * TRADING_DAYS / self.horizon
        return _log_growth_minus_cvar(growth, np.expm1(pooled), self.cvar_weight, self.level)


# ---------------------------------------------------------------------------- metrics


def summary_metrics(
    returns: np.ndarray, reference: np.ndarray, res: OverlayResult | None
) -> dict[str, float]:
    """CAGR, vol, max drawdown, yearly cost of protection of daily returns ``(n_paths, n_days)``.

    ``cost_per_year``: the CAGR given up against ``reference`` (the unhedged index on the same
    days; negative when the protection paid for itself); ``premium_per_year``, ``spread_cost_per_year`` and
    ``put_pnl_per_year``: the put leg's spend, spreads and net result per year.
    """
    r = np.atleast_2d(returns)
    years = r.shape[-1] / TRADING_DAYS
    cagr = float(np.expm1(np.log1p(r).sum(axis=-1).mean() / years))
    ref_cagr = float(np.expm1(np.log1p(np.atleast_2d(reference)).sum(axis=-1).mean() / years))
    out = {
        "cagr": cagr,
        "vol": float(r.std(axis=-1, ddof=1).mean() * np.sqrt(TRADING_DAYS)),
        "max_drawdown": float(compounded_max_drawdown(r).mean()),
        "cost_per_year": ref_cagr - cagr,
    }
    for key, name in (
        ("premium", "premium_per_year"),
        ("spread_cost", "spread_cost_per_year"),
        ("put_pnl", "put_pnl_per_year"),
        ("trade_cost", "trend_cost_per_year"),
    ):
        out[name] = float(res.window(key).sum(axis=-1).mean() / years) if res is not None else 0.0
    return out


def _int(cfg: Mapping[str, Any], key: str) -> int:
    v = cfg[key]
    if float(v) != int(v):
        raise ValueError(f"{key} must be a whole number of days, got {v}")
    return int(v)


def policy_of(cfg: Mapping[str, Any]) -> PutPolicy:
    p = cfg["puts"]
    return PutPolicy(
        float(p["moneyness"]),
        _int(p, "tenor_days"),
        _int(p, "roll_days_before"),
        str(p["sizing"]),
        float(p["budget"]),
        float(p["hedge_ratio"]),
    )


def market_of(cfg: Mapping[str, Any]) -> Market:
    m, iv = cfg["market"], cfg["implied_vol"]
    return Market(
        float(m["rate"]),
        float(m["equity_yield"]),
        float(iv["vol_premium"]),
        float(iv["skew"]),
        float(iv["floor"]),
        str(m["spread_mode"]),
        float(m["half_spread"]),
        float(m["trend_cost"]),
    )


# ---------------------------------------------------------------------------- objective
class TailHedgeObjective(Objective):
    """Tail-aware utility of a put + trend overlay: tuned on stress paths, judged on SPY history."""

    data_dirs = (DATA_DIR,)
    renamed_keys = RENAMED_KEYS

    #: read from the study config only (history, stress paths and the utility are set up once per worker)
    fixed_keys = ("data", "utility", "judge", "stress", "baselines", "implied_vol.lookback")

    @staticmethod
    def _history(cfg: Mapping[str, Any]) -> pd.DataFrame:
        """The closes of ``data.equity`` and ``data.bond``, enough of them for the vol window."""
        data = cfg["data"]
        equity, bond = str(data["equity"]), str(data["bond"])
        prices = load_study_prices(data, [equity, bond])
        lookback, horizon = int(cfg["implied_vol"]["lookback"]), int(cfg["utility"]["horizon"])
        if len(prices) < lookback + 2 * horizon:
            raise ValueError(
                f"data: {len(prices)} days of {equity}/{bond} are too few for implied_vol.lookback "
                f"{lookback} and two {horizon}-day windows"
            )
        return prices

    @classmethod
    def check_config(cls, config: Mapping[str, Any]) -> None:
        """Preflight: the file opens with the equity and bond columns and enough days."""
        say_date_column(cls._history(config))

    def __init__(self, config: Mapping[str, Any], context: StudyContext | None = None) -> None:
        super().__init__(config, context)
        cfg = self.config
        data, u = cfg["data"], cfg["utility"]
        self.horizon = int(u["horizon"])
        self.daily_stat = DailyTailUtility(float(u["cvar_weight"]), self.horizon, float(u["level"]))
        self.block_stat = BlockTailUtility(float(u["cvar_weight"]), self.horizon, float(u["level"]))
        self.lookback = int(cfg["implied_vol"]["lookback"])

        # history: SPY (overlay) and TLT (60/40), judged from the first close with a full vol window
        equity, bond = str(data["equity"]), str(data["bond"])
        prices = self._history(cfg)
        self.dates = prices.index
        self.spy = prices[equity].to_numpy()
        self.tlt = prices[bond].to_numpy()
        self.hist_rv = trailing_realised_vol(np.diff(np.log(self.spy)), self.lookback)
        self.hist_start = self.lookback
        self.days = self.dates[self.hist_start + 1 :]
        crash = cfg["judge"]["crash_window"]
        self.crash = (self.days >= pd.Timestamp(crash[0])) & (self.days <= pd.Timestamp(crash[1]))
        if self.crash.sum() < 2:
            raise ValueError(f"judge.crash_window {crash} holds fewer than 2 judged days")

        # stress paths: the same for every trial (fixed by seed)
        st = cfg["stress"]
        self.warmup = int(st["warmup_days"])
        n_days = int(st["n_days"])
        if self.warmup < self.lookback or n_days < self.horizon:
            raise ValueError(
                "stress.warmup_days must be >= implied_vol.lookback and stress.n_days >= utility.horizon"
            )
        self.n_blocks = n_days // self.horizon
        self.paths = simulate_stress_paths(
            StressModel.from_config(st.get("model") or {}),
            int(st["n_paths"]),
            self.warmup + self.n_blocks * self.horizon,
            self.context.seed,
        )
        self.sim_rv = trailing_realised_vol(np.diff(np.log(self.paths), axis=1), self.lookback)

        unhedged = {"puts.budget": 0.0, "puts.sizing": "budget", "trend.weight": 0.0}
        self.sim_ref, _ = self._simulate(self.configure(unhedged), "sim")
        self.hist_ref, _ = self._simulate(self.configure(unhedged), "hist")
        self._baselines: dict[str, dict[str, Any]] | None = None

    # ------------------------------------------------------------------ engine runs
    def _simulate(self, cfg: Mapping[str, Any], where: str) -> tuple[np.ndarray, OverlayResult]:
        """Daily returns ``(n_paths, n_days)`` and the engine's records, on ``sim`` or ``hist``."""
        policy, market = policy_of(cfg), market_of(cfg)
        vol = SkewVolModel(market.vol_premium, market.skew, market.vol_floor)
        t = cfg["trend"]
        spot, rv, start = (
            (self.paths, self.sim_rv, self.warmup)
            if where == "sim"
            else (self.spy[None, :], self.hist_rv[None, :], self.hist_start)
        )
        expo = trend_exposure(spot, _int(t, "window"), float(t["weight"]))
        res = run_overlay(spot, vol.atm(rv), expo, policy, market, start)
        return res.window("returns"), res

    def _in_sample(self, cfg: Mapping[str, Any]) -> Evaluation:
        r, res = self._simulate(cfg, "sim")
        blocks = np.log1p(r).reshape(r.shape[0], self.n_blocks, self.horizon).sum(axis=-1)
        metrics = summary_metrics(r, self.sim_ref, res)
        metrics["cvar95_21d"] = float(CVaR(self.block_stat.level)(-np.expm1(blocks).reshape(-1, 1)))
        metrics[METRIC] = float(self.block_stat(blocks))
        return Evaluation(metrics, {METRIC: blocks}, {METRIC: self.block_stat})

    def _judged(self, r: np.ndarray, res: OverlayResult | None) -> Evaluation:
        """Metrics of daily returns ``(n_days,)`` on the judged history, with the daily samples."""
        metrics = summary_metrics(r[None, :], self.hist_ref, res)
        lr = np.concatenate([[0.0], np.cumsum(np.log1p(r))])
        window = np.expm1(lr[self.horizon :] - lr[: -self.horizon])
        metrics["cvar95_21d"] = float(CVaR(self.daily_stat.level)(-window[:, None]))
        metrics["drawdown_2008"] = float(compounded_max_drawdown(r[self.crash])[0])
        metrics["drawdown_2008_unhedged"] = float(compounded_max_drawdown(self.hist_ref[0, self.crash])[0])
        metrics[METRIC] = float(self.daily_stat(r[:, None]))
        # blocks at least as long as the utility's own horizon: a block shorter than the CVaR's
        # 21-day windows would cut every window it resamples
        block = max(self.horizon, default_block_length(len(r)))
        return Evaluation(
            metrics, {METRIC: r[:, None].copy()}, {METRIC: self.daily_stat}, serial=True, block_length=block
        )

    def history(self, params: Mapping[str, Any]) -> tuple[np.ndarray, OverlayResult]:
        """Daily returns on the judged days and the engine's records, for ``params``."""
        r, res = self._simulate(self.configure(params), "hist")
        return r[0], res

    def __call__(self, params: Mapping[str, Any], reporter: Reporter) -> Evaluation:
        return self._in_sample(self.configure(params))

    def evaluate(self, params: Mapping[str, Any], reporter: Reporter | None = None) -> Evaluation:
        r, res = self.history(params)
        return self._judged(r, res)

    # ------------------------------------------------------------------ baselines
    def baseline_params(self) -> dict[str, dict[str, Any]]:
        """Overlay params of the overlay baselines (60/40 is not an overlay)."""
        b = self.config["baselines"]
        off = {"puts.budget": 0.0, "puts.sizing": "budget", "trend.weight": 0.0}
        put = {f"puts.{k}": v for k, v in b["put_roll"].items()}
        return {
            "unhedged": off,
            "put_roll_10otm_3m": {**off, **put, "puts.sizing": "budget"},
            "trend_alone": {**off, **{f"trend.{k}": v for k, v in b["trend"].items()}},
        }

    def sixty_forty(self) -> np.ndarray:
        """Daily returns of the daily-rebalanced equity/bond mix on the judged days, with income."""
        b, m = self.config["baselines"]["sixty_forty"], self.config["market"]
        w = float(b["equity_weight"])
        s = self.hist_start
        r_eq = self.spy[s + 1 :] / self.spy[s:-1] - 1.0 + float(m["equity_yield"]) / TRADING_DAYS
        r_bd = self.tlt[s + 1 :] / self.tlt[s:-1] - 1.0 + float(m["bond_yield"]) / TRADING_DAYS
        return w * r_eq + (1.0 - w) * r_bd

    def baselines(self) -> dict[str, dict[str, Any]]:
        if self._baselines is None:
            out: dict[str, dict[str, Any]] = {}
            for name, params in self.baseline_params().items():
                out[name] = {"in_sample": self(params, None), "out_of_sample": self.evaluate(params)}
            # no simulated bond: the 60/40 mix is judged on history only
            out["sixty_forty"] = {"in_sample": {}, "out_of_sample": self._judged(self.sixty_forty(), None)}
            self._baselines = out
        return self._baselines

    def plots(
        self, best_params: Mapping[str, Any], trials: Sequence[Mapping[str, Any]], out_dir: Path
    ) -> list[Path]:
        from objectives.tail_hedge.plots import history_figures

        best, res = self.history(best_params)
        series = {"tuned overlay": best}
        for name, params in self.baseline_params().items():
            series[name] = self.history(params)[0]
        series["sixty_forty"] = self.sixty_forty()
        protection = {k: res.window(k)[0] for k in ("premium", "put_pnl", "spread_cost")}
        protection["given_up"] = np.log1p(self.hist_ref[0]) - np.log1p(best)
        return history_figures(self.days, series, protection, Path(out_dir))

    def dataset(self) -> dict[str, Any]:
        """The price file, its digest and the days of history (stress paths are simulated)."""
        from hedgeopt.protocol import describe_file
        from simulators.markets.prices import resolve_source

        return describe_file(
            resolve_source(self.config["data"]["source"]),
            rows=len(self.dates),
            date_range=(self.dates[0], self.dates[-1]),
        )
