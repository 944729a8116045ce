"""spread_hedge: choose how to size the legs of a mean-reverting spread (seeds 001, 003).

Walk-forward over a real price file: at each trading-window start ``t`` the hedge ratios are
estimated with ``spread.method`` on the previous ``spread.formation_window`` rows only; the
spread ``y - ratios . X`` is then traded, unchanged, over the next ``spread.trading_window``
rows and scored out of sample (no look-ahead):

* ``half_life`` (default score, minimise): the AR(1) half-life of the window's spread around
  the formation-window mean (the level a trader would expect it to revert to), in days. A
  window that does not revert (slope >= 0), whose half-life exceeds ``spread.half_life_penalty``,
  or whose ratios could not be estimated (a divergent optimisation, an ill-posed fit) scores
  ``spread.half_life_penalty`` (default 500 days): a large finite penalty, so a trial's metrics
  stay finite. Windows are weighted by their length.
* ``adf_stat`` (``spread.score: adf``, minimise): the window's ADF(1) t-statistic; a window
  without ratios scores ``spread.adf_penalty`` (default 0.0, worse than a random walk's typical
  value).
* ``variance_reduction``: ``1 - Var(spread changes) / Var(dependent-leg changes)`` pooled over
  the windows that have ratios (0 when none has).

The search scores trading windows in ``[warmup, split)``; ``evaluate`` scores those in the
held-out tail ``[split, end)`` (the last ``data.holdout_fraction`` of rows), whose formation
windows may reach back into earlier rows (data known at the time), never forward. ``warmup``
defaults to the longest formation window the search can pick, so every trial is scored on the
same days. Per-window estimates are cached per worker: trials that share a method, constant,
formation window and window start reuse them.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from hedgeopt.protocol import NullReporter, Objective, Reporter, TrialPruned, get_path
from simulators import hedge_ratios as hr
from simulators.prices import load_prices

METHODS_WITH_CONSTANT = ("ols", "tls")


@dataclass(frozen=True)
class Estimate:
    """Hedge ratios of the legs after the dependent one (None: estimation failed) and the
    formation-window spread's mean and standard deviation."""

    beta: np.ndarray | None
    mean: float
    std: float


@dataclass
class WalkForward:
    """Per-window results of one walk-forward run."""

    starts: list[int]
    ends: list[int]
    betas: list[np.ndarray | None]
    half_lives: list[float]
    adf_stats: list[float]
    spread: pd.Series  # stitched out-of-sample spread minus the formation mean
    zscore: pd.Series  # the same over the formation std


class SpreadHedgeObjective(Objective):
    """Tunes spread.method, formation_window, add_constant and trading_window on a real pair."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        data = dict(self.config.get("data") or {})
        spread = dict(self.config.get("spread") or {})
        self.prices = self._load(data)
        self.dependent = str(self.prices.columns[0])
        self.values = self.prices.to_numpy(dtype=float)
        n = len(self.prices)
        holdout = float(data.get("holdout_fraction", 0.25))
        if not 0.0 < holdout < 1.0:
            raise ValueError(f"data.holdout_fraction must be in (0, 1), got {holdout}")
        self.split = int(round(n * (1.0 - holdout)))
        self.warmup = self._warmup(data, spread)
        if self.warmup >= self.split:
            raise ValueError(
                f"data has {n} rows: warmup {self.warmup} leaves no in-sample trading days before "
                f"the held-out tail at row {self.split}; use a shorter formation window or more data"
            )
        self.score_kind = str(spread.get("score", "half_life"))
        if self.score_kind not in ("half_life", "adf"):
            raise ValueError(f"spread.score must be half_life or adf, got {self.score_kind!r}")
        self._cache: dict[tuple, Estimate] = {}

    # ---------------------------------------------------------------- set-up

    @staticmethod
    def _load(data: Mapping[str, Any]) -> pd.DataFrame:
        columns = data.get("columns")
        prices = load_prices(
            data.get("source", "XLF-XLK.csv"),
            columns=list(columns) if columns else None,
            start=data.get("start"),
            end=data.get("end"),
            max_ffill_days=int(data.get("max_ffill_days", 5)),
        )
        if prices.shape[1] < 2:
            raise ValueError(f"a spread needs two or more price columns, got {list(prices.columns)}")
        dependent = data.get("dependent")
        if dependent is not None:
            if dependent not in prices.columns:
                raise ValueError(f"data.dependent {dependent!r} is not one of {list(prices.columns)}")
            prices = prices[[dependent] + [c for c in prices.columns if c != dependent]]
        return prices

    def _warmup(self, data: Mapping[str, Any], spread: Mapping[str, Any]) -> int:
        if data.get("warmup") is not None:
            warmup = int(data["warmup"])
        else:
            spec = get_path(self.config, "search_space", {}).get("spread.formation_window") or {}
            candidates = [int(spread.get("formation_window", 120))]
            for key in ("high",):
                if key in spec:
                    candidates.append(int(spec[key]))
            candidates += [int(v) for v in spec.get("choices", []) + spec.get("grid", [])]
            warmup = max(candidates)
        if warmup < 1:
            raise ValueError(f"data.warmup must be positive, got {warmup}")
        return warmup

    # ---------------------------------------------------------------- settings

    def _settings(self, params: Mapping[str, Any]) -> dict[str, Any]:
        cfg = self.configure(params)["spread"]
        method = str(cfg["method"])
        if method not in hr.METHODS:
            raise ValueError(f"spread.method must be one of {list(hr.METHODS)}, got {method!r}")
        formation = int(cfg["formation_window"])
        trading = int(cfg["trading_window"])
        if formation < 2 or trading < 3:
            raise ValueError(
                f"formation_window ({formation}) must be >= 2 and trading_window ({trading}) >= 3"
            )
        add_constant = _as_bool(cfg.get("add_constant", False))
        return {
            "method": method,
            "formation": formation,
            "trading": trading,
            "add_constant": add_constant if method in METHODS_WITH_CONSTANT else None,
            "hl_penalty": float(cfg.get("half_life_penalty", 500.0)),
            "adf_penalty": float(cfg.get("adf_penalty", 0.0)),
        }

    # ---------------------------------------------------------------- estimation

    def _estimate(self, method: str, add_constant: bool | None, formation: int, t: int) -> Estimate:
        key = (method, add_constant, formation, t)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        lo = t - formation
        if lo < 0:
            raise ValueError(f"formation window {formation} reaches before the first row at {t}")
        window = self.prices.iloc[lo:t]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ratios = hr.hedge_ratio(method, window, self.dependent, bool(add_constant))
            beta = np.array([ratios[c] for c in self.prices.columns[1:]], dtype=float)
            if not np.isfinite(beta).all():
                raise ValueError("divergent estimate")
            vals = self.values[lo:t]
            spread = vals[:, 0] - vals[:, 1:] @ beta
            est = Estimate(beta, float(spread.mean()), float(spread.std(ddof=1)))
        except (ValueError, np.linalg.LinAlgError):
            est = Estimate(None, math.nan, math.nan)
        self._cache[key] = est
        return est

    def _windows(self, lo: int, hi: int, trading: int) -> list[tuple[int, int]]:
        """Trading windows covering [lo, hi); a last partial window needs >= 5 rows."""
        out = []
        t = lo
        while t < hi:
            e = min(t + trading, hi)
            if e - t >= 5:
                out.append((t, e))
            t = e
        return out

    def _walk(self, s: Mapping[str, Any], lo: int, hi: int, reporter: Reporter | None) -> tuple[dict[str, float], WalkForward]:
        windows = self._windows(lo, hi, s["trading"])
        if not windows:
            raise ValueError(f"no trading window fits in rows [{lo}, {hi})")
        walk = WalkForward([], [], [], [], [], pd.Series(dtype=float), pd.Series(dtype=float))
        d_spread: list[np.ndarray] = []
        d_dep: list[np.ndarray] = []
        pieces: list[pd.Series] = []
        zpieces: list[pd.Series] = []
        weights: list[int] = []
        failed = 0
        for k, (t, e) in enumerate(windows):
            est = self._estimate(s["method"], s["add_constant"], s["formation"], t)
            vals = self.values[t - 1 : e]  # row t-1 anchors the first change
            if est.beta is None:
                failed += 1
                hl, adf = s["hl_penalty"], s["adf_penalty"]
            else:
                spread = vals[:, 0] - vals[:, 1:] @ est.beta
                centred = spread - est.mean
                hl = min(hr.half_life(centred, mean=0.0), s["hl_penalty"])
                adf = _finite_or(hr.adf_statistic(spread[1:]) if e - t >= 10 else math.nan, s["adf_penalty"])
                d_spread.append(np.diff(spread))
                d_dep.append(np.diff(vals[:, 0]))
                index = self.prices.index[t:e]
                pieces.append(pd.Series(centred[1:], index=index))
                zpieces.append(pd.Series(centred[1:] / est.std if est.std > 0 else np.nan, index=index))
            walk.starts.append(t)
            walk.ends.append(e)
            walk.betas.append(est.beta)
            walk.half_lives.append(hl)
            walk.adf_stats.append(adf)
            weights.append(e - t)
            if reporter is not None:
                running = _wmean(walk.half_lives if self.score_kind == "half_life" else walk.adf_stats, weights)
                reporter.report(running, k)
                if reporter.should_prune():
                    raise TrialPruned()
        half = _wmean(walk.half_lives, weights)
        adf = _wmean(walk.adf_stats, weights)
        if d_spread:
            ds, dy = np.concatenate(d_spread), np.concatenate(d_dep)
            vr = 1.0 - float(ds.var()) / float(dy.var()) if dy.var() > 0 else 0.0
        else:
            vr = 0.0
        reverting = [h < s["hl_penalty"] for h in walk.half_lives]
        metrics = {
            "score": half if self.score_kind == "half_life" else adf,
            "half_life": half,
            "adf_stat": adf,
            "variance_reduction": vr,
            "mean_reverting_share": float(np.mean(reverting)),
            "failed_share": failed / len(windows),
            "n_windows": float(len(windows)),
        }
        if pieces:
            walk.spread = pd.concat(pieces)
            walk.zscore = pd.concat(zpieces)
        return metrics, walk

    # ---------------------------------------------------------------- protocol

    def __call__(self, params: Mapping[str, Any], reporter: Reporter) -> dict[str, float]:
        return self._walk(self._settings(params), self.warmup, self.split, reporter)[0]

    def evaluate(self, params: Mapping[str, Any], reporter: Reporter | None = None) -> dict[str, float]:
        return self._walk(self._settings(params), self.split, len(self.prices), reporter)[0]

    def baselines(self) -> dict[str, dict[str, dict[str, float]]]:
        """Each hedge-ratio method at the study's default windows and constant."""
        out = {}
        for method in hr.METHODS:
            params = {"spread.method": method}
            out[method] = {"in_sample": self(params, NullReporter()), "out_of_sample": self.evaluate(params)}
        return out

    def plots(
        self,
        best_params: Mapping[str, Any],
        trials: Sequence[Mapping[str, Any]],
        out_dir: Path,
    ) -> list[Path]:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        best = self._settings(best_params)
        n = len(self.prices)
        _, walk_in = self._walk(best, self.warmup, self.split, None)
        _, walk_out = self._walk(best, self.split, n, None)
        scored = self.prices.index[self.warmup :]  # NaN (a gap) where a window had no ratios
        spread = pd.concat([walk_in.spread, walk_out.spread]).reindex(scored)
        zscore = pd.concat([walk_in.zscore, walk_out.zscore]).reindex(scored)
        split_date = self.prices.index[self.split]
        label = _label(best)

        fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
        ax1.plot(spread.index, spread.to_numpy(), lw=0.9)
        ax1.axhline(0.0, color="k", lw=0.5)
        ax1.set_ylabel("spread - formation mean")
        ax1.set_title(f"Out-of-sample spread, {label}")
        ax2.plot(zscore.index, zscore.to_numpy(), lw=0.9, color="tab:orange")
        for level in (-2, 0, 2):
            ax2.axhline(level, color="k", lw=0.5, ls="--" if level else "-")
        ax2.set_ylabel("z-score (formation mean/std)")
        for ax in (ax1, ax2):
            ax.axvline(split_date, color="tab:red", lw=1.0)
            ax.axvspan(split_date, self.prices.index[-1], color="tab:red", alpha=0.06)
        ax2.text(split_date, ax2.get_ylim()[1], " held out", va="top", color="tab:red")
        fig.tight_layout()
        p1 = out_dir / "spread_hedge_best_spread.png"
        fig.savefig(p1, dpi=110)
        plt.close(fig)

        legs = list(self.prices.columns[1:])
        fig, axes = plt.subplots(len(legs), 1, figsize=(10, 3.2 * len(legs)), squeeze=False)
        for method in hr.METHODS:
            s = dict(best, method=method)
            s["add_constant"] = (best["add_constant"] or False) if method in METHODS_WITH_CONSTANT else None
            dates, rows = [], []
            for lo, hi in ((self.warmup, self.split), (self.split, n)):
                for t, _e in self._windows(lo, hi, s["trading"]):
                    est = self._estimate(method, s["add_constant"], s["formation"], t)
                    dates.append(self.prices.index[t])
                    rows.append(est.beta if est.beta is not None else np.full(len(legs), np.nan))
            ratios = np.array(rows)
            for j, ax in enumerate(axes[:, 0]):
                ax.plot(dates, ratios[:, j], marker=".", lw=0.8, label=method)
        for j, ax in enumerate(axes[:, 0]):
            ax.axvline(split_date, color="tab:red", lw=1.0)
            ax.set_ylabel(f"ratio of {legs[j]}")
            ax.legend(fontsize=7, ncol=3)
        axes[0, 0].set_title(
            f"Hedge ratio per window ({self.dependent} = 1), formation {best['formation']}d, "
            f"trading {best['trading']}d; gaps: no ratio"
        )
        fig.tight_layout()
        p2 = out_dir / "spread_hedge_ratios.png"
        fig.savefig(p2, dpi=110)
        plt.close(fig)
        return [p1, p2]

    def dataset(self) -> dict[str, Any]:
        """The pair's price file, its digest and the days the study uses."""
        from hedgeopt.protocol import describe_file
        from simulators.prices import resolve_source

        source = self.config["data"].get("source", "XLF-XLK.csv")
        return describe_file(resolve_source(source), rows=len(self.prices),
                             date_range=(self.prices.index[0], self.prices.index[-1]))


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        if value.lower() in ("true", "yes", "1"):
            return True
        if value.lower() in ("false", "no", "0"):
            return False
        raise ValueError(f"spread.add_constant must be true or false, got {value!r}")
    return bool(value)


def _finite_or(value: float, default: float) -> float:
    return float(value) if math.isfinite(value) else float(default)


def _wmean(values: Sequence[float], weights: Sequence[int]) -> float:
    return float(np.average(np.asarray(values, dtype=float), weights=np.asarray(weights, dtype=float)))


def _label(s: Mapping[str, Any]) -> str:
    const = "" if s["add_constant"] is None else f", constant={s['add_constant']}"
    return f"{s['method']}{const}, formation {s['formation']}d, trading {s['trading']}d"
