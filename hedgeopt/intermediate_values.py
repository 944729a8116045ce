"""A trial's intermediate values as its run logs them: one step metric per reported metric.

A worker stores what the trial's reporter recorded as the user attr ``hedgeopt.steps``: rows
``[metric, step, value]``. Journals written before reports named their metric hold ``[step,
value]`` rows, which were values of the first optimised metric and are logged as such.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

ATTR_STEPS = "hedgeopt.steps"
SUFFIX = "_by_step"


def step_metrics(user_attrs: Mapping[str, Any], first_metric: str) -> list[tuple[str, float, int]]:
    """``(MLflow key, value, step)`` of every stored intermediate value: ``<metric>_by_step``."""
    out = []
    for row in user_attrs.get(ATTR_STEPS) or []:
        metric, step, value = _unpack(row, first_metric)
        out.append((f"{metric}{SUFFIX}", float(value), int(step)))
    return out


def _unpack(row: Sequence[Any], first_metric: str) -> tuple[str, Any, Any]:
    if len(row) == 2:  # an older journal's [step, value]
        return first_metric, row[0], row[1]
    metric, step, value = row
    return str(metric), step, value
