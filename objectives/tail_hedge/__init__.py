"""The tail_hedge study: its objective (the face conf/study/tail_hedge.yaml names as ``_target_``),
with its baselines and figures beside it."""

from objectives.tail_hedge.objective import TailHedgeObjective

__all__ = ["TailHedgeObjective"]
