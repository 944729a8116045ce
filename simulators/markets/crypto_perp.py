"""Market model of a crypto perpetual: batched, seeded Monte Carlo paths.

Per path and tick of ``tick_seconds`` (``dt`` in years of 365 days):

* implied vol: multiplicative clustering ``iv <- iv * (1 + k (w^2 - 1)) + kappa (iv_mean - iv) dt``,
  clipped to ``[v_min, v_max]``. ``E[w^2 - 1] = 0`` so the shock has no drift; ``k`` is either
  given per tick (``vol_clustering``, the seed's rule) or derived from an annualised
  vol-of-vol so the model does not change with the tick size: ``k = vol_of_vol sqrt(dt / 2)``
  (``Var(log(1 + k (w^2 - 1))) ~ 2 k^2`` per tick).
* log-price: ``dlog S = (drift - 0.5 iv^2 - comp) dt + iv sqrt(dt) z + J`` with compound-Poisson
  jumps ``J`` (intensity per year, or a per-tick probability as in the seed) of normal (Merton)
  or uniform log-size; ``comp = lambda (E[e^J] - 1)`` makes ``S`` a martingale when
  ``compensate_jumps`` (risk-neutral perp, zero drift).
* variance risk premium: the state ``iv`` is the *implied* vol (what the book is marked at);
  the price diffuses at the realised vol ``iv / (1 + variance_risk_premium)``, so a premium
  > 0 makes options rich against what the market then realises (short-vol books earn it on
  average). 0 (the seed's model) diffuses at the implied vol.
* timing: by default the tick's return diffuses at the vol *at the start* of the tick and the vol
  shock ``w`` is its own normal; ``iv_update_before_return`` reproduces the seed notebook's
  generator, where the vol is updated first with the return's own normal ``z`` and the return
  then uses the new vol.
* funding: one rate per funding interval (8 h on most venues), paid at the funding times
  ``k * funding_interval_hours``: ``base + amplitude (1 + sin(2 pi t / cycle)) / 2`` plus an AR(1)
  noise across intervals (``funding_persistence``, ``funding_noise_std``). A positive rate
  means longs pay shorts.

Every random draw comes from one ``numpy.random.Generator`` seeded by ``seed``, in a fixed
order, so the same (params, n_paths, seed) give the same paths to the bit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numba import njit

from simulators.conventions import SECONDS_PER_YEAR, PathGrid

__all__ = ["CryptoPerpParams", "MarketPaths", "simulate_paths"]


@dataclass(frozen=True)
class CryptoPerpParams:
    """Parameters of the crypto-perpetual market model (see the module docstring)."""

    # price, implied vol and the tick grid at t0
    s0: float = 50_000.0
    iv0: float = 0.55
    tick_seconds: float = 10.0
    horizon_hours: float = 168.0
    drift: float = 0.0  # annualised drift of the log-price
    # jumps: intensity per year, or (the seed notebook's) a probability per tick that overrides it
    jump_intensity: float = 20.0
    jump_prob_per_tick: float | None = None
    jump_dist: str = "normal"
    jump_mean: float = 0.0
    jump_std: float = 0.03
    jump_low: float = -0.05
    jump_high: float = 0.05
    compensate_jumps: bool = True
    # vol clustering: annualised vol-of-vol, or (the seed notebook's) a per-tick factor that overrides it
    vol_of_vol: float = 1.0
    vol_clustering: float | None = None
    vol_mean_reversion: float = 12.0
    iv_mean: float | None = None
    v_min: float = 0.2
    v_max: float = 1.5
    iv_update_before_return: bool = False
    variance_risk_premium: float = 0.0
    # funding
    funding_interval_hours: float = 8.0
    funding_base: float = 0.0001
    funding_amplitude: float = 0.0
    funding_cycle_hours: float = 8.0
    funding_noise_std: float = 0.0
    funding_persistence: float = 0.0

    def __post_init__(self) -> None:
        def bad(msg: str) -> None:
            raise ValueError(f"crypto_perp: {msg}")

        if not self.s0 > 0:
            bad(f"s0 must be positive, got {self.s0}")
        if not self.tick_seconds > 0:
            bad(f"tick_seconds must be positive, got {self.tick_seconds}")
        if not self.horizon_hours > 0:
            bad(f"horizon_hours must be positive, got {self.horizon_hours}")
        if self.n_steps < 1:
            bad("horizon_hours must hold at least one tick")
        if not 0 < self.v_min <= self.v_max:
            bad(f"need 0 < v_min <= v_max, got {self.v_min}, {self.v_max}")
        if not self.v_min <= self.iv0 <= self.v_max:
            bad(f"iv0={self.iv0} must lie in [v_min, v_max]")
        if self.jump_intensity < 0:
            bad(f"jump_intensity must be >= 0, got {self.jump_intensity}")
        if self.jump_prob_per_tick is not None and not 0 <= self.jump_prob_per_tick <= 1:
            bad(f"jump_prob_per_tick must lie in [0, 1], got {self.jump_prob_per_tick}")
        if self.jump_dist not in ("normal", "uniform"):
            bad(f"jump_dist must be 'normal' or 'uniform', got {self.jump_dist!r}")
        if self.jump_std < 0 or self.jump_low > self.jump_high:
            bad("need jump_std >= 0 and jump_low <= jump_high")
        if self.vol_of_vol < 0 or (self.vol_clustering is not None and not 0 <= self.vol_clustering < 1):
            bad("need vol_of_vol >= 0 and vol_clustering in [0, 1)")
        if not self.variance_risk_premium > -1:
            bad(f"variance_risk_premium must be > -1, got {self.variance_risk_premium}")
        if self.vol_mean_reversion < 0:
            bad(f"vol_mean_reversion must be >= 0, got {self.vol_mean_reversion}")
        if not self.funding_interval_hours > 0 or not self.funding_cycle_hours > 0:
            bad("funding_interval_hours and funding_cycle_hours must be positive")
        if self.funding_noise_std < 0 or not -1 < self.funding_persistence < 1:
            bad("need funding_noise_std >= 0 and funding_persistence in (-1, 1)")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> CryptoPerpParams:
        """Build from a config mapping; unknown keys are an error (typos fail loudly)."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - names)
        if unknown:
            raise ValueError(f"crypto_perp: unknown simulator keys {unknown}")
        return cls(**dict(cfg))

    @property
    def dt(self) -> float:
        """Tick length in years (365-day year: crypto trades every day)."""
        return self.tick_seconds / SECONDS_PER_YEAR

    @property
    def n_steps(self) -> int:
        """Number of ticks in the horizon (paths hold n_steps + 1 observations)."""
        return round(self.horizon_hours * 3600.0 / self.tick_seconds)

    @property
    def vol_shock_scale(self) -> float:
        """Per-tick multiplicative clustering factor k."""
        if self.vol_clustering is not None:
            return float(self.vol_clustering)
        return self.vol_of_vol * math.sqrt(self.dt / 2.0)

    @property
    def jump_prob(self) -> float:
        """Probability of a jump arrival in one tick (Poisson: 1 - exp(-lambda dt))."""
        if self.jump_prob_per_tick is not None:
            return float(self.jump_prob_per_tick)
        return 1.0 - math.exp(-self.jump_intensity * self.dt)

    @property
    def mean_jump_factor(self) -> float:
        """E[e^J] - 1 for one jump."""
        if self.jump_dist == "normal":
            return math.exp(self.jump_mean + 0.5 * self.jump_std**2) - 1.0
        lo, hi = self.jump_low, self.jump_high
        if hi == lo:
            return math.exp(lo) - 1.0
        return (math.exp(hi) - math.exp(lo)) / (hi - lo) - 1.0


@dataclass
class MarketPaths(PathGrid):
    """Simulated paths. ``times`` in seconds from t0, shape (n_steps + 1,); ``spot`` and ``iv``
    shape (n_paths, n_steps + 1); funding paid at tick indices ``funding_idx`` (n_funding,) at
    rates ``funding_rate`` (n_paths, n_funding), each a fraction of the position's notional."""

    times: np.ndarray
    spot: np.ndarray
    iv: np.ndarray
    funding_idx: np.ndarray
    funding_rate: np.ndarray
    tick_seconds: float


@njit(cache=True)
def _evolve(
    spot: np.ndarray,
    iv: np.ndarray,
    z: np.ndarray,
    w: np.ndarray,
    jumps: np.ndarray,
    dt: float,
    drift_dt: float,
    k: float,
    kappa_dt: float,
    iv_mean: float,
    v_min: float,
    v_max: float,
    before: bool,
    realised: float,
) -> None:
    """Fill spot[:, 1:] and iv[:, 1:] in place from the shocks (sequential in time); the
    price diffuses at ``realised x`` the implied vol."""
    n_paths, n = z.shape
    sqdt = math.sqrt(dt)
    for p in range(n_paths):
        s = spot[p, 0]
        v = iv[p, 0]
        for t in range(n):
            zt = z[p, t]
            shock = zt if before else w[p, t]
            v_new = v * (1.0 + k * (shock * shock - 1.0)) + kappa_dt * (iv_mean - v)
            v_new = min(max(v_new, v_min), v_max)
            sig = (v_new if before else v) * realised
            s = s * math.exp(drift_dt - 0.5 * sig * sig * dt + sig * sqdt * zt + jumps[p, t])
            v = v_new
            spot[p, t + 1] = s
            iv[p, t + 1] = v


def simulate_paths(params: CryptoPerpParams, n_paths: int, seed: int) -> MarketPaths:
    """Simulate ``n_paths`` paths of the model, reproducibly from ``seed``.

    Each path draws from its own stream (``SeedSequence(seed).spawn``), so path ``i`` is the
    same whatever ``n_paths`` is, and memory stays at the output arrays.
    """
    if int(n_paths) < 1:
        raise ValueError(f"crypto_perp: n_paths must be >= 1, got {n_paths}")
    n_paths = int(n_paths)
    n = params.n_steps
    spot = np.empty((n_paths, n + 1))
    iv = np.empty((n_paths, n + 1))
    spot[:, 0] = params.s0
    iv[:, 0] = params.iv0
    iv_mean = params.iv0 if params.iv_mean is None else float(params.iv_mean)
    lam_dt = params.jump_prob if params.jump_prob_per_tick is not None else params.jump_intensity * params.dt
    comp = lam_dt * params.mean_jump_factor if params.compensate_jumps else 0.0
    drift_dt = params.drift * params.dt - comp
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n_paths + 1)]
    for p in range(n_paths):
        rng = streams[p]
        z = rng.standard_normal((1, n))
        w = z if params.iv_update_before_return else rng.standard_normal((1, n))
        jumps = _jumps(params, n, rng)[None, :]
        _evolve(
            spot[p : p + 1],
            iv[p : p + 1],
            z,
            w,
            jumps,
            params.dt,
            drift_dt,
            params.vol_shock_scale,
            params.vol_mean_reversion * params.dt,
            iv_mean,
            params.v_min,
            params.v_max,
            bool(params.iv_update_before_return),
            1.0 / (1.0 + params.variance_risk_premium),
        )
    times = np.arange(n + 1) * params.tick_seconds
    funding_idx, funding_rate = _funding(params, n_paths, streams[n_paths])
    return MarketPaths(
        times=times,
        spot=spot,
        iv=iv,
        funding_idx=funding_idx,
        funding_rate=funding_rate,
        tick_seconds=params.tick_seconds,
    )


def _jumps(params: CryptoPerpParams, n: int, rng: np.random.Generator) -> np.ndarray:
    """Summed log-jump of each of ``n`` ticks.

    Intensity mode: the path's total count is Poisson(lambda T) and each arrival falls in a
    uniform tick (exactly a Poisson process seen on the tick grid; a tick may hold several).
    Per-tick mode (the seed): at most one jump per tick, with the given probability.
    """
    out = np.zeros(n)
    if params.jump_prob_per_tick is not None:
        ticks = np.nonzero(rng.random(n) < params.jump_prob_per_tick)[0]
    else:
        k = rng.poisson(params.jump_intensity * params.dt * n)
        ticks = np.sort(rng.integers(0, n, size=k))
    if ticks.size:
        if params.jump_dist == "normal":
            sizes = params.jump_mean + params.jump_std * rng.standard_normal(ticks.size)
        else:
            sizes = rng.uniform(params.jump_low, params.jump_high, ticks.size)
        np.add.at(out, ticks, sizes)
    return out


def _funding(params: CryptoPerpParams, n_paths: int, rng: np.random.Generator):
    """Funding tick indices (every funding interval after t0, within the horizon) and rates."""
    every = params.funding_interval_hours * 3600.0 / params.tick_seconds
    if abs(every - round(every)) > 1e-9:
        raise ValueError("crypto_perp: funding_interval_hours must be a whole number of ticks")
    every = round(every)
    funding_idx = np.arange(every, params.n_steps + 1, every, dtype=np.int64)
    hours = funding_idx * params.tick_seconds / 3600.0
    cycle = (1.0 + np.sin(2.0 * np.pi * hours / params.funding_cycle_hours)) / 2.0
    det = params.funding_base + params.funding_amplitude * cycle
    noise = np.zeros((n_paths, funding_idx.size))
    if params.funding_noise_std > 0 and funding_idx.size:
        eps = rng.standard_normal((n_paths, funding_idx.size)) * params.funding_noise_std
        phi = params.funding_persistence
        noise[:, 0] = eps[:, 0] / math.sqrt(1.0 - phi * phi)  # stationary start
        for j in range(1, funding_idx.size):
            noise[:, j] = phi * noise[:, j - 1] + eps[:, j]
    return funding_idx, det[None, :] + noise
