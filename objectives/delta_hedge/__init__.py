"""The delta_hedge study: its objective (the face conf/study/delta_hedge.yaml names as ``_target_``),
with its baselines and figures beside it."""

from objectives.delta_hedge.objective import DeltaHedgeObjective

__all__ = ["DeltaHedgeObjective"]
