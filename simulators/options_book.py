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

from simulators.black_scholes import (
    bs_d1_scalar,
    bs_delta,
    bs_delta_scalar,
    bs_gamma,
    bs_gamma_scalar,
    bs_price,
    bs_price_scalar,
    norm_cdf_scalar,
)
from simulators.crypto_perp import SECONDS_PER_YEAR

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
    def _leg_arrays(self):
        is_call = np.array([leg.is_call for leg in self.legs], dtype=np.bool_)
        strike = np.array([leg.strike for leg in self.legs], dtype=np.float64)
        expiry = np.array([leg.expiry_days / 365.0 for leg in self.legs], dtype=np.float64)
        qty = np.array([leg.quantity for leg in self.legs], dtype=np.float64)
        return is_call, strike, expiry, qty

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

    def _mark(self, kernel, legs, spot, iv, times_s) -> np.ndarray:
        """Run a compiled marking ``kernel`` over every (path, tick) of ``spot``."""
        spot, iv = _as2d(spot), _as2d(iv)
        t_years = np.asarray(times_s, dtype=np.float64) / SECONDS_PER_YEAR
        out = np.empty_like(spot)
        kernel(spot, iv, t_years, *legs, self.r, self.q, out)
        return out

    def delta(self, spot: np.ndarray, iv: np.ndarray, times_s: np.ndarray) -> np.ndarray:
        """Book delta (underlying units) at every (path, tick): shape of ``spot``."""
        return self._mark(_mark_delta, self._leg_groups(), spot, iv, times_s)

    def value(self, spot: np.ndarray, iv: np.ndarray, times_s: np.ndarray) -> np.ndarray:
        """Book value (USD, long positive) at every (path, tick): shape of ``spot``."""
        return self._mark(_mark_value, self._leg_arrays(), spot, iv, times_s)

    def gamma(self, spot: np.ndarray, iv: np.ndarray, times_s: np.ndarray) -> np.ndarray:
        """Book gamma (underlying units per USD of spot) at every (path, tick): the Whalley-Wilmott
        band's width follows it."""
        return self._mark(_mark_gamma, self._leg_groups(), spot, iv, times_s)

    def gamma_numpy(self, spot, iv, times_s) -> np.ndarray:
        """Book gamma with the vectorised numpy formulas (an independent check of ``gamma``)."""
        t_years = np.asarray(times_s, dtype=np.float64) / SECONDS_PER_YEAR
        return sum(
            leg.quantity * bs_gamma(spot, leg.strike, leg.expiry_days / 365.0 - t_years, iv, self.r, self.q)
            for leg in self.legs
        )

    def value_numpy(self, spot, iv, times_s) -> np.ndarray:
        """Book value with the vectorised numpy formulas (an independent check of ``value``)."""
        t_years = np.asarray(times_s, dtype=np.float64) / SECONDS_PER_YEAR
        return sum(
            leg.quantity
            * bs_price(spot, leg.strike, leg.expiry_days / 365.0 - t_years, iv, self.r, self.q, leg.is_call)
            for leg in self.legs
        )

    def delta_numpy(self, spot, iv, times_s) -> np.ndarray:
        """Book delta with the vectorised numpy formulas (an independent check of ``delta``)."""
        t_years = np.asarray(times_s, dtype=np.float64) / SECONDS_PER_YEAR
        return sum(
            leg.quantity
            * bs_delta(spot, leg.strike, leg.expiry_days / 365.0 - t_years, iv, self.r, self.q, leg.is_call)
            for leg in self.legs
        )


def _as2d(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"options_book: expected a (n_paths, n_ticks) array, got shape {a.shape}")
    return np.ascontiguousarray(a)


@njit(cache=True)
def _mark_delta(spot, iv, t_years, g_strike, g_expiry, g_qcall, g_qput, r, q, out):
    """Book delta over (path, tick). Legs are grouped by (strike, expiry): a call and a put of
    a group share d1 (put delta = call delta - exp(-q tau)), so a straddle costs one N(d1)."""
    n_paths, n = spot.shape
    for p in range(n_paths):
        for t in range(n):
            s = spot[p, t]
            sig = iv[p, t]
            acc = 0.0
            for j in range(g_strike.size):
                tau = g_expiry[j] - t_years[t]
                if tau <= 0.0 or sig <= 0.0:
                    acc += g_qcall[j] * bs_delta_scalar(s, g_strike[j], tau, sig, r, q, True)
                    acc += g_qput[j] * bs_delta_scalar(s, g_strike[j], tau, sig, r, q, False)
                else:
                    nd1 = norm_cdf_scalar(bs_d1_scalar(s, g_strike[j], tau, sig, r, q))
                    acc += math.exp(-q * tau) * ((g_qcall[j] + g_qput[j]) * nd1 - g_qput[j])
            out[p, t] = acc


@njit(cache=True)
def _mark_gamma(spot, iv, t_years, g_strike, g_expiry, g_qcall, g_qput, r, q, out):
    """Book gamma over (path, tick); a call and a put of one (strike, expiry) share it."""
    n_paths, n = spot.shape
    for p in range(n_paths):
        for t in range(n):
            s = spot[p, t]
            sig = iv[p, t]
            acc = 0.0
            for j in range(g_strike.size):
                tau = g_expiry[j] - t_years[t]
                acc += (g_qcall[j] + g_qput[j]) * bs_gamma_scalar(s, g_strike[j], tau, sig, r, q)
            out[p, t] = acc


@njit(cache=True)
def _mark_value(spot, iv, t_years, is_call, strike, expiry, qty, r, q, out):
    n_paths, n = spot.shape
    for p in range(n_paths):
        for t in range(n):
            acc = 0.0
            for j in range(strike.size):
                acc += qty[j] * bs_price_scalar(
                    spot[p, t], strike[j], expiry[j] - t_years[t], iv[p, t], r, q, is_call[j]
                )
            out[p, t] = acc
