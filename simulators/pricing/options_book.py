"""A book of European option legs on one underlying, marked with Black-Scholes over paths.

A leg is (type, strike, expiry, signed quantity in underlying units): quantity -20 on a call
is short 20 calls of one unit each. In config a strike may be given as ``moneyness`` (K / S0)
and a size as ``notional`` (USD at the t0 spot: quantity = notional / S0), so that a preset
reads "short ATM straddle on 1M notional" whatever the simulator's start price.

The book is marked at each path's implied vol (one flat vol for every strike: the model has
no smile) and the time left to each leg's expiry; a leg past expiry is worth its intrinsic
value. Marking is a compiled loop over (path, tick, leg) with no temporaries, because the
hedging study marks the book delta at every tick of every path once per worker.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from simulators.conventions import SECONDS_PER_YEAR
from simulators.pricing.black_scholes import (
    bs_d1_scalar,
    bs_delta_scalar,
    bs_gamma_scalar,
    bs_price_scalar,
    norm_cdf_scalar,
)

__all__ = ["OptionLeg", "OptionsBook"]


@dataclass(frozen=True)
class OptionLeg:
    """One European option position: ``quantity`` underlying units (signed), expiry in days."""

    option_type: str
    strike: float
    expiry_days: float
    quantity: float

    def __post_init__(self) -> None:
        if self.option_type not in ("call", "put"):
            raise ValueError(f"options_book: leg type must be 'call' or 'put', got {self.option_type!r}")
        if not self.strike > 0:
            raise ValueError(f"options_book: strike must be positive, got {self.strike}")
        if not self.expiry_days > 0:
            raise ValueError(f"options_book: expiry_days must be positive, got {self.expiry_days}")

    @property
    def is_call(self) -> bool:
        return self.option_type == "call"

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], s0: float) -> OptionLeg:
        """Leg from ``{type, strike | moneyness, expiry_days, quantity | notional}``."""
        allowed = {"type", "strike", "moneyness", "expiry_days", "quantity", "notional"}
        unknown = sorted(set(cfg) - allowed)
        if unknown:
            raise ValueError(f"options_book: unknown leg keys {unknown}")
        if ("strike" in cfg) == ("moneyness" in cfg):
            raise ValueError("options_book: give exactly one of strike or moneyness per leg")
        if ("quantity" in cfg) == ("notional" in cfg):
            raise ValueError("options_book: give exactly one of quantity or notional per leg")
        strike = float(cfg["strike"]) if "strike" in cfg else float(cfg["moneyness"]) * s0
        qty = float(cfg["quantity"]) if "quantity" in cfg else float(cfg["notional"]) / s0
        if "expiry_days" not in cfg or "type" not in cfg:
            raise ValueError("options_book: each leg needs type and expiry_days")
        return cls(str(cfg["type"]), strike, float(cfg["expiry_days"]), qty)


@dataclass(frozen=True)
class OptionsBook:
    """Option legs plus the book's reference ``notional`` (USD) and rates ``r``, ``q``."""

    legs: tuple[OptionLeg, ...]
    notional: float
    r: float = 0.0
    q: float = 0.0

    def __post_init__(self) -> None:
        if not self.legs:
            raise ValueError("options_book: the book needs at least one leg")
        if not self.notional > 0:
            raise ValueError(f"options_book: notional must be positive, got {self.notional}")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], s0: float) -> OptionsBook:
        """Book from ``{notional, legs: [...], r, q}`` (strikes/notionals resolved at ``s0``)."""
        legs_cfg: Sequence[Mapping[str, Any]] = cfg.get("legs") or []
        legs = tuple(OptionLeg.from_config(leg, s0) for leg in legs_cfg)
        return cls(legs, float(cfg.get("notional", 0.0)), float(cfg.get("r", 0.0)), float(cfg.get("q", 0.0)))

    # -- arrays for the compiled marking loop -----------------------------------------
    def _leg_groups(self):
        """Legs merged by (strike, expiry): call and put quantities per group."""
        groups: dict[tuple[float, float], list[float]] = {}
        for leg in self.legs:
            g = groups.setdefault((leg.strike, leg.expiry_days / 365.0), [0.0, 0.0])
            g[0 if leg.is_call else 1] += leg.quantity
        keys = list(groups)
        return (
            np.array([k[0] for k in keys]),
            np.array([k[1] for k in keys]),
            np.array([groups[k][0] for k in keys]),
            np.array([groups[k][1] for k in keys]),
        )

    def _mark(self, what: int, spot, iv, times_s) -> np.ndarray:
        """Mark ``what`` (delta, gamma or value) at every (path, tick) of ``spot``."""
        spot, iv = _as2d(spot), _as2d(iv)
        t_years = np.asarray(times_s, dtype=np.float64) / SECONDS_PER_YEAR
        out = np.empty_like(spot)
        _mark_book(what, spot, iv, t_years, *self._leg_groups(), self.r, self.q, out)
        return out

    def delta(self, spot: np.ndarray, iv: np.ndarray, times_s: np.ndarray) -> np.ndarray:
        """Book delta (underlying units) at every (path, tick): shape of ``spot``."""
        return self._mark(_DELTA, spot, iv, times_s)

    def value(self, spot: np.ndarray, iv: np.ndarray, times_s: np.ndarray) -> np.ndarray:
        """Book value (USD, long positive) at every (path, tick): shape of ``spot``."""
        return self._mark(_VALUE, spot, iv, times_s)

    def gamma(self, spot: np.ndarray, iv: np.ndarray, times_s: np.ndarray) -> np.ndarray:
        """Book gamma (underlying units per USD of spot) at every (path, tick): the Whalley-Wilmott
        band's width follows it."""
        return self._mark(_GAMMA, spot, iv, times_s)


def _as2d(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"options_book: expected a (n_paths, n_ticks) array, got shape {a.shape}")
    return np.ascontiguousarray(a)


# What a compiled mark computes: one value for a whole call, so the branch on it predicts perfectly.
_DELTA, _GAMMA, _VALUE = 0, 1, 2


@njit(cache=True, inline="always")
def _group_mark(what, s, strike, tau, sig, r, q, qcall, qput):
    """Delta, gamma or value of ``qcall`` calls and ``qput`` puts of one (strike, expiry).

    A call and a put of a group share d1 (put delta = call delta - exp(-q tau)), so a
    straddle's delta costs one N(d1); they share gamma outright."""
    if what == _GAMMA:
        return (qcall + qput) * bs_gamma_scalar(s, strike, tau, sig, r, q)
    if what == _VALUE:
        v = 0.0
        if qcall != 0.0:
            v += qcall * bs_price_scalar(s, strike, tau, sig, r, q, True)
        if qput != 0.0:
            v += qput * bs_price_scalar(s, strike, tau, sig, r, q, False)
        return v
    if tau <= 0.0 or sig <= 0.0:
        return qcall * bs_delta_scalar(s, strike, tau, sig, r, q, True) + qput * bs_delta_scalar(
            s, strike, tau, sig, r, q, False
        )
    nd1 = norm_cdf_scalar(bs_d1_scalar(s, strike, tau, sig, r, q))
    return math.exp(-q * tau) * ((qcall + qput) * nd1 - qput)


@njit(cache=True)
def _mark_book(what, spot, iv, t_years, g_strike, g_expiry, g_qcall, g_qput, r, q, out):
    """Sum :func:`_group_mark` over the leg groups at every (path, tick)."""
    n_paths, n = spot.shape
    for p in range(n_paths):
        for t in range(n):
            s = spot[p, t]
            sig = iv[p, t]
            acc = 0.0
            for j in range(g_strike.size):
                tau = g_expiry[j] - t_years[t]
                acc += _group_mark(what, s, g_strike[j], tau, sig, r, q, g_qcall[j], g_qput[j])
            out[p, t] = acc
