"""A trial's intermediate values as its run logs them: one step metric per reported metric.

A worker stores what the trial's reporter recorded as the user attr ``hedgeopt.steps``
(:data:`~hedgeopt.names.ATTR_STEPS`): rows ``[metric, step, value]``. Journals written before
reports named their metric hold ``[step, value]`` rows, which were values of the first
optimised metric and are logged as such.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hedgeopt.names import ATTR_STEPS, STEP_METRIC_SUFFIX


def step_metrics(user_attrs: Mapping[str, Any], first_metric: str) -> list[tuple[str, float, int]]:
    """``(MLflow key, value, step)`` of every stored intermediate value: ``<metric>_by_step``."""
    out = []
    for row in user_attrs.get(ATTR_STEPS) or []:
        metric, step, value = _unpack(row, first_metric)
        out.append((f"{metric}{STEP_METRIC_SUFFIX}", float(value), int(step)))
    return out


def _unpack(row: Sequence[Any], first_metric: str) -> tuple[str, Any, Any]:
    if len(row) == 2:  # an older journal's [step, value]
        return first_metric, row[0], row[1]
    metric, step, value = row
    return str(metric), step, value
