"""Delta re-hedging policy and execution costs: when to re-hedge, to where, and what it costs.

Policy, evaluated at every tick ``t`` on what is known at ``t``, with the
hedge position ``h`` and the target ``target = -hedge_ratio x book delta`` (underlying units):

* a *timed* re-hedge when ``cadence_seconds`` have elapsed since the last re-hedge, or when
  ``|S / S_last_hedge - 1| > gamma_scalp_threshold`` (the move band: the gamma-scalp
  trigger); it trades to the target;
* a *band* re-hedge when the hedge has drifted from its target by more than the band's
  half-width ``w``: ``|h - target| > w``. ``band_mode: fixed``: ``w = delta_threshold x
  notional / S`` (``|h - target| x S / notional > delta_threshold``); ``band_mode:
  whalley_wilmott``: ``w = band_scale x (3 x cost_rate x S x Gamma^2 / (2 x risk_aversion))^(1/3)``
  from the book's gamma at the tick (Whalley and Wilmott 1997; ``band_scale = 1`` is their
  band). ``rehedge_to: target`` trades back to the target, ``band_edge`` to the nearest edge
  of the band (``target +- w``), the cheapest trade that restores the band; a timed trigger on
  the same tick wins (to the target);
* the trade is clipped to ``max_hedge_per_interval x notional / S`` units and executed at
  ``S_t``; costs ``|trade| x S x (fee + slippage)``; funding ``-h x S x rate`` at each funding
  time on the position held into it (a long perp pays a positive rate);
* P&L = book value change + hedge P&L (``sum h_t (S_{t+1} - S_t)``) + funding - costs.

The band measures the hedge's deviation from its target, not the raw net delta: with a hedge
ratio below 1 the deliberately unhedged ``(1 - ratio) x book delta`` would otherwise breach
the band almost every tick.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

BAND_MODES = ("fixed", "whalley_wilmott")
REHEDGE_TO = ("target", "band_edge")


@dataclass(frozen=True)
class HedgePolicy:
    """A re-hedging policy: the five parameters of the seed notebook's hedger plus the band's mode and
    re-hedge rule.

    ``inf`` disables the cadence, a band or the clip. ``risk_aversion`` (per USD) sizes the
    Whalley-Wilmott band; it is the objective's, not a tuned knob (``band_scale`` is).
    """

    cadence_seconds: float = 60.0
    delta_threshold: float = math.inf
    hedge_ratio: float = 1.0
    gamma_scalp_threshold: float = math.inf
    max_hedge_per_interval: float = math.inf
    band_mode: str = "fixed"
    band_scale: float = 1.0
    rehedge_to: str = "target"
    risk_aversion: float | None = None

    def __post_init__(self) -> None:
        def bad(msg: str) -> None:
            raise ValueError(f"delta_hedging: {msg}")

        if not self.cadence_seconds > 0:
            bad(f"cadence_seconds must be positive, got {self.cadence_seconds}")
        if not self.delta_threshold >= 0:
            bad(f"delta_threshold must be >= 0, got {self.delta_threshold}")
        if not 0 <= self.hedge_ratio <= 2:
            bad(f"hedge_ratio must lie in [0, 2], got {self.hedge_ratio}")
        if not self.gamma_scalp_threshold >= 0:
            bad(f"gamma_scalp_threshold must be >= 0, got {self.gamma_scalp_threshold}")
        if not self.max_hedge_per_interval > 0:
            bad(f"max_hedge_per_interval must be > 0, got {self.max_hedge_per_interval}")
        if self.band_mode not in BAND_MODES:
            bad(f"band_mode must be one of {list(BAND_MODES)}, got {self.band_mode!r}")
        if self.rehedge_to not in REHEDGE_TO:
            bad(f"rehedge_to must be one of {list(REHEDGE_TO)}, got {self.rehedge_to!r}")
        if not 0 <= self.band_scale < math.inf:
            bad(f"band_scale must be finite and >= 0, got {self.band_scale}")
        if self.band_mode == "whalley_wilmott" and not (self.risk_aversion or 0) > 0:
            bad("band_mode whalley_wilmott needs a positive risk_aversion")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], risk_aversion: float | None = None) -> HedgePolicy:
        """From ``hedge:`` config; null means disabled (inf) for the cadence, the bands and the
        clip. ``risk_aversion`` sizes the Whalley-Wilmott band."""
        numbers = (
            "cadence_seconds",
            "delta_threshold",
            "hedge_ratio",
            "gamma_scalp_threshold",
            "max_hedge_per_interval",
            "band_scale",
        )
        words = ("band_mode", "rehedge_to")
        unknown = sorted(set(cfg) - set(numbers) - set(words))
        if unknown:
            raise ValueError(f"delta_hedging: unknown hedge keys {unknown}")
        vals: dict[str, Any] = {
            k: (math.inf if cfg[k] is None else float(cfg[k])) for k in numbers if k in cfg
        }
        vals.update({k: str(cfg[k]) for k in words if k in cfg and cfg[k] is not None})
        return cls(**vals, risk_aversion=risk_aversion)

    def cadence_ticks(self, tick_seconds: float) -> int:
        """Cadence in whole ticks (at least one): a re-hedge fires once this many have passed.
        An infinite cadence never fires after t0."""
        if math.isinf(self.cadence_seconds):
            return 2**62
        return max(1, math.ceil(self.cadence_seconds / tick_seconds - 1e-9))

    def ww_coefficient(self, cost_rate: float) -> float:
        """``k`` with band half-width ``(k x S x Gamma^2)^(1/3)`` in Whalley-Wilmott mode, else 0:
        ``band_scale^3 x 3 x cost_rate / (2 x risk_aversion)``."""
        if self.band_mode != "whalley_wilmott":
            return 0.0
        return self.band_scale**3 * 1.5 * cost_rate / float(self.risk_aversion)

    def half_width(self, spot: float, gamma: float, notional: float, cost_rate: float) -> float:
        """The band's half-width (underlying units) at one tick."""
        if self.band_mode == "whalley_wilmott":
            return (self.ww_coefficient(cost_rate) * spot * gamma * gamma) ** (1.0 / 3.0)
        return self.delta_threshold * notional / spot


@dataclass(frozen=True)
class CostModel:
    """Proportional execution costs on traded notional: taker fee plus slippage."""

    taker_fee: float = 0.0005
    slippage: float = 0.0001

    def __post_init__(self) -> None:
        if self.taker_fee < 0 or self.slippage < 0:
            raise ValueError("delta_hedging: taker_fee and slippage must be >= 0")

    @property
    def rate(self) -> float:
        """Cost per USD traded."""
        return self.taker_fee + self.slippage
