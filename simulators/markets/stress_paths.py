"""Seeded stress paths for tuning a tail hedge: Heston stochastic variance with price jumps.

Daily steps (dt = 1/252). Variance follows Heston (full-truncation Euler) with leverage
correlation ``rho`` (vol rises as prices fall, so sell-offs last and deepen, as in 2008);
at a price jump (Poisson, ``jump_intensity`` per year, log-size normal ``jump_mean``,
``jump_std``) variance also jumps up by ``jump_variance`` (a crash lifts vol). The log-price
drift is compensated so that the expected price growth is ``drift`` per year whatever the jumps.
Parameters are set in config to long-run index levels from the SV-with-jumps literature and
deliberately crash-heavy, not fitted to the history the study is judged on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulators.conventions import TRADING_DAYS

DT = 1.0 / TRADING_DAYS


@dataclass(frozen=True)
class StressModel:
    drift: float = 0.06  # expected price growth per year (income is added by the engine)
    v0: float = 0.03  # initial variance (vol^2)
    theta: float = 0.035  # long-run variance
    kappa: float = 3.0  # mean reversion per year
    xi: float = 0.6  # vol of variance
    rho: float = -0.7  # correlation of price and variance shocks
    jump_intensity: float = 1.0  # jumps per year
    jump_mean: float = -0.05  # mean log jump
    jump_std: float = 0.05  # std of the log jump
    jump_variance: float = 0.03  # variance added at each jump

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> StressModel:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"stress.model: unknown key(s) {unknown}; known: {sorted(known)}")
        model = cls(**{k: float(v) for k, v in cfg.items()})
        if model.v0 < 0 or model.theta <= 0 or model.kappa < 0 or model.xi < 0 or model.jump_intensity < 0:
            raise ValueError(
                "stress.model: v0 >= 0, theta > 0, kappa >= 0, xi >= 0, jump_intensity >= 0 required"
            )
        if not -1.0 <= model.rho <= 1.0 or model.jump_std < 0 or model.jump_variance < 0:
            raise ValueError("stress.model: rho in [-1, 1], jump_std >= 0 and jump_variance >= 0 required")
        return model


def simulate_stress_paths(
    model: StressModel, n_paths: int, n_days: int, seed: int, s0: float = 100.0
) -> np.ndarray:
    """Closing prices ``(n_paths, n_days + 1)`` starting at ``s0``, reproducible from ``seed``."""
    if n_paths < 1 or n_days < 1:
        raise ValueError(f"stress paths need n_paths >= 1 and n_days >= 1, got {n_paths}, {n_days}")
    rng = np.random.default_rng(seed)
    z1 = rng.standard_normal((n_days, n_paths))
    z2 = model.rho * z1 + math.sqrt(max(0.0, 1.0 - model.rho**2)) * rng.standard_normal((n_days, n_paths))
    n_jumps = rng.poisson(model.jump_intensity * DT, (n_days, n_paths))
    jump_log = n_jumps * model.jump_mean + np.sqrt(n_jumps) * model.jump_std * rng.standard_normal(
        (n_days, n_paths)
    )
    compensator = model.jump_intensity * (math.exp(model.jump_mean + 0.5 * model.jump_std**2) - 1.0)
    log_s = np.empty((n_days + 1, n_paths))
    log_s[0] = math.log(s0)
    v = np.full(n_paths, model.v0)
    sq = math.sqrt(DT)
    for t in range(n_days):
        vp = np.maximum(v, 0.0)
        log_s[t + 1] = (
            log_s[t] + (model.drift - compensator - 0.5 * vp) * DT + np.sqrt(vp) * sq * z1[t] + jump_log[t]
        )
        v = (
            v
            + model.kappa * (model.theta - vp) * DT
            + model.xi * np.sqrt(vp) * sq * z2[t]
            + n_jumps[t] * model.jump_variance
        )
    return np.exp(log_s.T)
