"""The kalman_hedge study: its objective (the face conf/study/kalman_hedge.yaml names as ``_target_``),
with its baselines and figures beside it."""

from objectives.kalman_hedge.objective import KalmanHedgeObjective

__all__ = ["KalmanHedgeObjective"]
