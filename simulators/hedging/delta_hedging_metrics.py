"""Per-path and cross-path metrics of a delta-hedging run (:class:`HedgeResult`).

Risk measures that need a convention shared with the rest of the product (CVaR, the
objective's risk-cost) are computed by the objective from the per-path values returned here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from simulators.conventions import SECONDS_PER_YEAR
from simulators.hedging.delta_hedging import HedgeResult

__all__ = ["aggregate_metrics", "path_metrics"]


def path_metrics(res: HedgeResult) -> dict[str, np.ndarray]:
    """Per-path metrics: P&L parts, hedge count, exposure, and risk of the sampled P&L curve."""
    pnl = res.pnl
    inc = np.diff(pnl, axis=1)
    periods_per_year = SECONDS_PER_YEAR / res.sample_seconds
    if inc.shape[1] >= 2:
        sd = inc.std(axis=1, ddof=1)
        mean = inc.mean(axis=1)
        sharpe = np.where(sd > 0, mean / np.where(sd > 0, sd, 1.0), 0.0) * math.sqrt(periods_per_year)
    else:
        sd = np.zeros(pnl.shape[0])
        sharpe = np.zeros(pnl.shape[0])
    drawdown = pnl - np.maximum.accumulate(pnl, axis=1)
    net = pnl[:, -1]
    return {
        "net_pnl": net,
        "gross_pnl": net + res.costs,
        "costs": res.costs,
        "funding": res.funding,
        "hedge_pnl": res.hedge_pnl,
        "book_pnl": res.book_pnl,
        "traded_notional": res.traded_notional,
        "hedge_count": res.hedge_count.astype(np.float64),
        "mean_abs_net_delta": res.mean_abs_net_delta,
        "hourly_pnl_vol": sd,
        "sharpe": sharpe,
        "max_drawdown": drawdown.min(axis=1),
    }


def aggregate_metrics(per_path: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Cross-path aggregation: the mean of every per-path metric, plus ``pnl_vol`` (std of net
    P&L across paths) and ``worst_drawdown`` (the deepest drawdown of any path)."""
    out = {k: float(np.mean(v)) for k, v in per_path.items()}
    net = np.asarray(per_path["net_pnl"])
    out["pnl_vol"] = float(net.std(ddof=1)) if net.size > 1 else 0.0
    out["worst_drawdown"] = float(np.min(per_path["max_drawdown"]))
    return out


def concat_results(parts: list[HedgeResult]) -> HedgeResult:
    """One result of the paths of ``parts`` (blocks of paths run one after another), in order."""
    if len(parts) == 1:
        return parts[0]

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in parts])

    return HedgeResult(
        pnl=cat("pnl"),
        costs=cat("costs"),
        funding=cat("funding"),
        hedge_pnl=cat("hedge_pnl"),
        book_pnl=cat("book_pnl"),
        traded_notional=cat("traded_notional"),
        hedge_count=cat("hedge_count"),
        mean_abs_net_delta=cat("mean_abs_net_delta"),
        sample_seconds=parts[0].sample_seconds,
    )
