"""Torch path generators for deep hedging: GBM and Heston, batched, seeded, CPU or GPU.

Conventions (used throughout deep_hedge):
- Zero interest rate and no dividends, so the Black-Scholes price of a call is the
  undiscounted expectation under the pricing measure and hedge gains are sum h_k (S_{k+1} - S_k).
- A path set holds ``n_steps`` hedging intervals on [0, T]: ``spot`` and ``variance`` have
  ``n_steps + 1`` columns (t_0 = 0 ... t_n = T). ``variance[:, k]`` is the instantaneous
  variance *at* t_k (observable then), never the realised variance of the step ahead.
- Heston is simulated with full-truncation Euler on a grid ``substeps`` times finer than the
  hedging grid (log-Euler for the spot), then sampled on the hedging grid.
- Each path set draws from its own ``torch.Generator``; :func:`derive_seed` gives train,
  validation, selection and held-out test sets distinct, reproducible seeds from one config seed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from simulators.conventions import PathGrid
from simulators.pricing.black_scholes import bs_delta, bs_price
from simulators.pricing.heston import HestonParams

SPLITS: tuple[str, ...] = ("train", "val", "select", "test")


@dataclass(frozen=True)
class Paths(PathGrid):
    """Simulated market paths on the hedging grid.

    ``spot`` and ``variance`` are ``[n_paths, n_steps + 1]``; ``maturity`` is T in years.
    """

    spot: torch.Tensor
    variance: torch.Tensor
    maturity: float

    @property
    def dt(self) -> float:
        return self.maturity / self.n_steps

    def times(self) -> torch.Tensor:
        """Grid times t_0 .. t_n, shape ``[n_steps + 1]``."""
        return torch.linspace(
            0.0, self.maturity, self.n_steps + 1, dtype=self.spot.dtype, device=self.spot.device
        )

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> Paths:
        """The same paths on ``device`` (and in ``dtype`` if given)."""
        return Paths(
            self.spot.to(device=device, dtype=dtype),
            self.variance.to(device=device, dtype=dtype),
            self.maturity,
        )


@dataclass(frozen=True)
class PathSpec:
    """What every path model draws: ``n_paths`` paths of ``n_steps`` hedging intervals over
    ``maturity`` years, from spot ``s0`` with real-world drift ``mu``."""

    n_paths: int
    n_steps: int
    maturity: float
    s0: float = 100.0
    mu: float = 0.0

    def __post_init__(self) -> None:
        needs = {
            "n_paths >= 1": self.n_paths >= 1,
            "n_steps >= 1": self.n_steps >= 1,
            "maturity > 0": self.maturity > 0,
            "s0 > 0": self.s0 > 0,
        }
        unmet = [need for need, met in needs.items() if not met]
        if unmet:
            raise ValueError(f"path spec needs {', '.join(unmet)}; got {self}")

    @property
    def dt(self) -> float:
        return self.maturity / self.n_steps


# Both models draw in float64 on the CPU with the CPU generator, so a seed gives the same paths
# on every device; :func:`simulate` moves them to the device and dtype asked for.


def simulate_gbm(spec: PathSpec, sigma: float = 0.2, generator: torch.Generator | None = None) -> Paths:
    """Geometric Brownian motion, exact in distribution: S_{k+1} = S_k exp((mu - s^2/2) dt + s sqrt(dt) Z)."""
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    n_paths, dt = spec.n_paths, spec.dt
    z = torch.randn(n_paths, spec.n_steps, generator=generator, dtype=torch.float64)
    incr = (spec.mu - 0.5 * sigma**2) * dt + sigma * math.sqrt(dt) * z
    log_s = torch.cat([torch.zeros(n_paths, 1, dtype=torch.float64), incr.cumsum(dim=1)], dim=1)
    spot = spec.s0 * torch.exp(log_s)
    return Paths(spot, torch.full_like(spot, sigma**2), float(spec.maturity))


def simulate_heston(
    spec: PathSpec, params: HestonParams, substeps: int = 4, generator: torch.Generator | None = None
) -> Paths:
    """Heston paths by full-truncation Euler (Lord et al. 2010) on a grid ``substeps`` finer.

    dv = kappa (theta - v+) dt + xi sqrt(v+) dW2;  d log S = (mu - v+/2) dt + sqrt(v+) dW1,
    corr(dW1, dW2) = rho, v+ = max(v, 0). The reported variance is v+ at each hedging time.
    """
    if substeps < 1:
        raise ValueError(f"substeps must be >= 1, got {substeps}")
    n_paths, m, rho = spec.n_paths, spec.n_steps * substeps, params.rho
    h = spec.maturity / m
    z1 = torch.randn(n_paths, m, generator=generator, dtype=torch.float64)
    z2 = torch.randn(n_paths, m, generator=generator, dtype=torch.float64)
    zv = rho * z1 + math.sqrt(max(1.0 - rho * rho, 0.0)) * z2
    log_s = torch.full((n_paths,), math.log(spec.s0), dtype=torch.float64)
    v = torch.full((n_paths,), float(params.v0), dtype=torch.float64)
    spot = [torch.exp(log_s)]
    var = [v.clamp(min=0.0)]
    sqrt_h = math.sqrt(h)
    for j in range(m):
        vp = v.clamp(min=0.0)
        sv = vp.sqrt()
        log_s = log_s + (spec.mu - 0.5 * vp) * h + sv * sqrt_h * z1[:, j]
        v = v + params.kappa * (params.theta - vp) * h + params.xi * sv * sqrt_h * zv[:, j]
        if (j + 1) % substeps == 0:
            spot.append(torch.exp(log_s))
            var.append(v.clamp(min=0.0))
    return Paths(torch.stack(spot, dim=1), torch.stack(var, dim=1), float(spec.maturity))


def derive_seed(seed: int, split: str) -> int:
    """A distinct, reproducible 63-bit seed for one data split, derived from the config seed."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    ss = np.random.SeedSequence(int(seed), spawn_key=(SPLITS.index(split) + 1,))
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def simulate(
    market: Mapping[str, Any],
    n_paths: int,
    seed: int,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Paths:
    """Paths of the model named by ``market["model"]`` (``gbm`` or ``heston``) from a market config."""
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    model = market.get("model", "heston")
    spec = PathSpec(
        n_paths,
        int(market["n_steps"]),
        float(market["maturity"]),
        s0=float(market.get("s0", 100.0)),
        mu=float(market.get("mu", 0.0)),
    )
    if model == "gbm":
        paths = simulate_gbm(spec, float(market["sigma"]), gen)
    elif model == "heston":
        params = HestonParams.from_config(market.get("heston") or {})
        paths = simulate_heston(spec, params, int(market.get("substeps", 4)), gen)
    else:
        raise ValueError(f"market.model must be 'gbm' or 'heston', got {model!r}")
    return paths.to(device, dtype)


def make_datasets(
    market: Mapping[str, Any],
    sizes: Mapping[str, int],
    seed: int,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> dict[str, Paths]:
    """One :class:`Paths` per split in ``sizes`` (train/val/select/test), each with its own derived seed."""
    return {
        split: simulate(market, int(n), derive_seed(seed, split), device=device, dtype=dtype)
        for split, n in sizes.items()
    }


# ---------------------------------------------------------------- payoff and Black-Scholes


def call_payoff(spot_T: torch.Tensor, strike: float) -> torch.Tensor:
    """European call payoff (S_T - K)+."""
    return (spot_T - strike).clamp(min=0.0)


def _as_numpy(x: torch.Tensor | float) -> np.ndarray:
    return x.detach().double().cpu().numpy() if torch.is_tensor(x) else np.asarray(x, dtype=np.float64)


def bs_call_price(
    spot: torch.Tensor | float, strike: float, tau: torch.Tensor | float, sigma: torch.Tensor | float
) -> torch.Tensor:
    """Black-Scholes call price, zero rate (:func:`simulators.pricing.black_scholes.bs_price`), float64."""
    return torch.from_numpy(np.asarray(bs_price(_as_numpy(spot), strike, _as_numpy(tau), _as_numpy(sigma))))


def bs_call_delta(
    spot: torch.Tensor, strike: float, tau: torch.Tensor | float, sigma: torch.Tensor | float
) -> torch.Tensor:
    """Black-Scholes call delta N(d1) with zero rate, on ``spot``'s device and dtype; 1{S > K} when
    sigma sqrt(tau) is zero (:func:`simulators.pricing.black_scholes.bs_delta`)."""
    delta = bs_delta(_as_numpy(spot), strike, _as_numpy(tau), _as_numpy(sigma))
    return torch.from_numpy(np.ascontiguousarray(delta)).to(spot)


def bs_hedge_vol(paths: Paths, vol_mode: str = "instantaneous", sigma: float | None = None) -> torch.Tensor:
    """The volatility Black-Scholes uses at each hedging time, shape ``[n_paths, n_steps]``.

    ``instantaneous``: the path's current sqrt(v_{t_k}) (known at t_k; constant sigma under GBM).
    ``fixed``: the constant ``sigma`` from config for every path and time.
    """
    if vol_mode == "instantaneous":
        return paths.variance[:, :-1].clamp(min=0.0).sqrt()
    if vol_mode == "fixed":
        if sigma is None or not sigma > 0:
            raise ValueError(f"bs vol_mode 'fixed' needs sigma > 0, got {sigma}")
        return torch.full_like(paths.spot[:, :-1], float(sigma))
    raise ValueError(f"bs vol_mode must be 'instantaneous' or 'fixed', got {vol_mode!r}")


def bs_delta_hedge(
    paths: Paths, strike: float, vol_mode: str = "instantaneous", sigma: float | None = None
) -> torch.Tensor:
    """Black-Scholes delta held over each interval [t_k, t_{k+1}), shape ``[n_paths, n_steps]``."""
    tau = (paths.maturity - paths.times()[:-1]).clamp(min=0.0)
    vol = bs_hedge_vol(paths, vol_mode, sigma)
    return bs_call_delta(paths.spot[:, :-1], strike, tau.unsqueeze(0), vol)


def bs_initial_price(s0: float, strike: float, maturity: float, sigma: float) -> float:
    """Black-Scholes price at t=0: the default initial capital of the hedger."""
    return float(bs_call_price(float(s0), strike, float(maturity), float(sigma)))
