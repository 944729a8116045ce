"""Baselines of the deep_hedge study: the positions of the classical hedges the deep hedger is
compared with, on the same paths, premium and costs.

No hedge; Black-Scholes delta; Heston min-variance delta (on Heston paths); and each delta inside a
Whalley-Wilmott no-trade band (``*_ww_band``) whose risk aversion is chosen on the selection
paths, never on the test paths.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from simulators.deep.sv_hedges import band_hedges, bs_gamma_on_paths
from simulators.markets.sv_paths import Paths, bs_delta_hedge

#: Risk aversions the Whalley-Wilmott baselines choose from on the selection paths.
BAND_RISK_AVERSIONS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)

HedgesOf = Callable[[Mapping[str, float]], Mapping[str, torch.Tensor]]


def band_baseline_names(with_heston: bool) -> list[str]:
    """The baselines that trade inside a Whalley-Wilmott band (each has its own risk aversion)."""
    return ["bs_delta_ww_band"] + (["heston_mv_delta_ww_band"] if with_heston else [])


def baseline_hedges(
    paths: Paths,
    strike: float,
    bs_vol: tuple[str, float],
    cost_rate: float,
    heston_greeks: Mapping[str, torch.Tensor] | None,
    risk_aversions: Mapping[str, float],
) -> dict[str, torch.Tensor]:
    """Positions [paths, steps] of every baseline; the Heston ones only when ``heston_greeks``
    (``mv_delta``, ``gamma``) are given. ``bs_vol`` is the (vol mode, fixed sigma) of the BS hedge."""
    mode, sigma = bs_vol
    bs = bs_delta_hedge(paths, strike, mode, sigma)
    out = {
        "no_hedge": torch.zeros_like(bs),
        "bs_delta": bs,
        "bs_delta_ww_band": band_hedges(
            paths,
            bs,
            bs_gamma_on_paths(paths, strike, mode, sigma),
            cost_rate,
            risk_aversions["bs_delta_ww_band"],
        ),
    }
    if heston_greeks is not None:
        out["heston_mv_delta"] = heston_greeks["mv_delta"]
        out["heston_mv_delta_ww_band"] = band_hedges(
            paths,
            heston_greeks["mv_delta"],
            heston_greeks["gamma"],
            cost_rate,
            risk_aversions["heston_mv_delta_ww_band"],
        )
    return out


def choose_band_risk_aversions(
    names: list[str], cost_rate: float, hedges_of: HedgesOf, cvar95_of: Callable[[torch.Tensor], float]
) -> dict[str, float]:
    """For each band baseline in ``names``, the value of :data:`BAND_RISK_AVERSIONS` whose
    positions (``hedges_of`` those risk aversions) have the lowest ``cvar95_of``; ties go to the
    lower risk aversion. Without costs no band is best: the largest value."""
    if cost_rate == 0:
        return {n: BAND_RISK_AVERSIONS[-1] for n in names}
    scores: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    for lam in BAND_RISK_AVERSIONS:
        hedges = hedges_of({n: lam for n in names})
        for n in names:
            scores[n].append((cvar95_of(hedges[n]), lam))
    return {n: min(v)[1] for n, v in scores.items()}
