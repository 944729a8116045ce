"""The deep_hedge study: its objective (the face conf/study/deep_hedge.yaml names as ``_target_``),
with its baselines and figures beside it."""

from objectives.deep_hedge.objective import DeepHedgeObjective

__all__ = ["DeepHedgeObjective"]
