"""The spread_hedge study: its objective (the face conf/study/spread_hedge.yaml names as ``_target_``),
with its baselines and figures beside it."""

from objectives.spread_hedge.objective import SpreadHedgeObjective

__all__ = ["SpreadHedgeObjective"]
