"""Classical hedges of a short call on simulated paths: the baselines a deep hedger must beat.

All return positions h_k (units of the underlying) held over [t_k, t_{k+1}), shape
``[n_paths, n_steps]``, decided from what is known at t_k (spot, instantaneous variance):

- Black-Scholes delta at the path's instantaneous vol, re-hedged every step;
- the Heston minimum-variance delta dC/dS + rho xi (dC/dv) / S, every step;
- either of them inside a Whalley-Wilmott no-trade band: the position is left alone while it
  lies within half-width H = (3 c S Gamma^2 / (2 lambda))^(1/3) of the target, and otherwise
  traded to the nearer edge of the band (c: proportional cost, lambda: absolute risk aversion).
"""

from __future__ import annotations

import numpy as np
import torch

from simulators.markets.sv_paths import Paths, bs_delta_hedge, bs_hedge_vol
from simulators.pricing.black_scholes import bs_gamma
from simulators.pricing.heston import HestonParams, heston_greeks, min_variance_delta


def whalley_wilmott_half_width(
    spot: np.ndarray, gamma: np.ndarray, cost_rate: float, risk_aversion: float
) -> np.ndarray:
    """Half-width of the Whalley-Wilmott no-trade band around the target delta."""
    if not risk_aversion > 0:
        raise ValueError(f"risk_aversion must be > 0, got {risk_aversion}")
    return np.cbrt(3.0 * cost_rate * np.asarray(spot) * np.asarray(gamma) ** 2 / (2.0 * risk_aversion))


def banded_hedges(targets: torch.Tensor, half_widths: torch.Tensor) -> torch.Tensor:
    """Positions that trade to the nearer band edge only when outside [target - H, target + H].

    The position before t_0 is zero, so the first trade opens at the band's near edge.
    """
    if targets.shape != half_widths.shape:
        raise ValueError(f"targets {tuple(targets.shape)} and half_widths {tuple(half_widths.shape)} differ")
    h = torch.zeros_like(targets[:, 0])
    out = torch.empty_like(targets)
    for k in range(targets.shape[1]):
        h = torch.minimum(
            torch.maximum(h, targets[:, k] - half_widths[:, k]), targets[:, k] + half_widths[:, k]
        )
        out[:, k] = h
    return out


def _tau(paths: Paths) -> np.ndarray:
    return (paths.maturity - paths.times()[:-1]).clamp(min=0.0).double().cpu().numpy()[None, :]


def bs_gamma_on_paths(
    paths: Paths, strike: float, vol_mode: str = "instantaneous", sigma: float | None = None
) -> torch.Tensor:
    """Black-Scholes gamma at each hedging time, the vol as :func:`bs_delta_hedge` uses it."""
    vol = bs_hedge_vol(paths, vol_mode, sigma).double().cpu().numpy()
    spot = paths.spot[:, :-1].double().cpu().numpy()
    return torch.from_numpy(bs_gamma(spot, strike, _tau(paths), vol)).to(paths.spot)


def heston_hedge_greeks(paths: Paths, strike: float, params: HestonParams) -> dict[str, torch.Tensor]:
    """Heston ``mv_delta`` (minimum-variance delta), ``delta`` and ``gamma`` at each hedging time."""
    spot = paths.spot[:, :-1].double().cpu().numpy()
    var = paths.variance[:, :-1].double().cpu().numpy()
    g = heston_greeks(spot, var, _tau(paths), strike, params)
    out = {"mv_delta": min_variance_delta(g, spot, params), "delta": g["delta"], "gamma": g["gamma"]}
    return {k: torch.from_numpy(np.ascontiguousarray(v)).to(paths.spot) for k, v in out.items()}


def band_hedges(
    paths: Paths, targets: torch.Tensor, gamma: torch.Tensor, cost_rate: float, risk_aversion: float
) -> torch.Tensor:
    """``targets`` inside the Whalley-Wilmott band of the given gamma, cost and risk aversion."""
    spot = paths.spot[:, :-1].double().cpu().numpy()
    hw = whalley_wilmott_half_width(spot, gamma.double().cpu().numpy(), cost_rate, risk_aversion)
    return banded_hedges(targets, torch.from_numpy(hw).to(targets))


__all__ = [
    "band_hedges",
    "banded_hedges",
    "bs_delta_hedge",
    "bs_gamma_on_paths",
    "heston_hedge_greeks",
    "whalley_wilmott_half_width",
]
