"""The spread_hedge_universe study: its objective (the face that
conf/study/spread_hedge_universe.yaml names as ``_target_``),
with its baselines and figures beside it."""

from objectives.spread_hedge_universe.objective import SpreadHedgeUniverseObjective

__all__ = ["SpreadHedgeUniverseObjective"]
