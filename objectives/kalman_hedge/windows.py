"""Anchored walk-forward windows of the kalman_hedge study, and the checks that keep them honest.

The search scores validation folds; one test period after all of them is reported as test::

    walk_forward:
      folds:                     # scored by every trial (their days pooled)
        - {name: v2010, train: [2008-01-01, 2009-12-31], val: [2010-01-01, 2010-12-31]}
        ...
      test: {name: t2014, train: [2008-01-01, 2013-12-31], test: [2014-01-01, 2016-12-31]}

Dates are inclusive. Each window's ``train`` range fits what a method needs before it trades
(the OLS start of the filter, R by maximum likelihood, the static baselines). Rules, each
broken rule rejected with a message naming the fold or test window:

- every window is ``[start, end]`` with start <= end and holds >= ``min_window_days`` days;
- within a fold (and within the test) ``train`` ends before the scored window starts;
- validation windows of different folds do not overlap (a day is scored at most once);
- every validation window ends before the test window starts, so no day the search scores
  lies at or after a day reported as test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class Window:
    """One scored window: row ranges [start, stop) into the returns for fitting and for scoring."""

    name: str
    role: str  # "fold" (validation, scored by the search) or "test"
    train: tuple[int, int]
    scored: tuple[int, int]

    @property
    def days(self) -> int:
        return self.scored[1] - self.scored[0]


@dataclass(frozen=True)
class WalkForward:
    """Validation folds (in date order) and the one test window after them."""

    folds: tuple[Window, ...]
    test: Window


def _dates(spec: Mapping[str, Any], key: str, where: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    pair = spec.get(key)
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
        raise ValueError(f"walk_forward {where}: {key} must be [start, end], got {pair!r}")
    try:
        start, end = pd.Timestamp(str(pair[0])), pd.Timestamp(str(pair[1]))
    except ValueError as exc:
        raise ValueError(f"walk_forward {where}: {key} has a date that does not parse: {pair!r}") from exc
    if end < start:
        raise ValueError(
            f"walk_forward {where}: {key} window ends ({end.date()}) before it starts ({start.date()})"
        )
    return start, end


def _rows(index: pd.DatetimeIndex, start: pd.Timestamp, end: pd.Timestamp) -> tuple[int, int]:
    return int(index.searchsorted(start, side="left")), int(index.searchsorted(end, side="right"))


def _window(
    spec: Any, role: str, scored_key: str, index: pd.DatetimeIndex, min_days: int, default: str
) -> tuple[Window, dict]:
    spec = spec if isinstance(spec, Mapping) else {}
    name = str(spec.get("name") or default)
    where = f"{role} {name}"
    dates = {k: _dates(spec, k, where) for k in ("train", scored_key)}
    rows = {k: _rows(index, *v) for k, v in dates.items()}
    for k, (lo, hi) in rows.items():
        if hi - lo < min_days:
            raise ValueError(
                f"walk_forward {where}: {k} window has {hi - lo} days of data, need >= {min_days}"
            )
    if dates["train"][1] >= dates[scored_key][0]:
        raise ValueError(
            f"walk_forward {where}: train window (to {dates['train'][1].date()}) must end before the "
            f"{scored_key} window starts ({dates[scored_key][0].date()})"
        )
    return Window(name, "fold" if role == "fold" else "test", rows["train"], rows[scored_key]), dates


def build_walk_forward(spec: Mapping[str, Any], index: pd.DatetimeIndex) -> WalkForward:
    """Validated anchored walk-forward from the ``walk_forward`` config (see the module doc)."""
    raw_folds = spec.get("folds")
    if not raw_folds:
        raise ValueError("walk_forward.folds must list at least one validation fold")
    if spec.get("test") is None:
        raise ValueError("walk_forward.test must give the test window: {name, train, test}")
    min_days = int(spec["min_window_days"])
    folds: list[tuple[Window, dict]] = [
        _window(f, "fold", "val", index, min_days, f"fold{i}") for i, f in enumerate(raw_folds)
    ]
    test, test_dates = _window(spec["test"], "test", "test", index, min_days, "test")
    names = [w.name for w, _ in folds] + [test.name]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"walk_forward: window name {dup[0]!r} is used twice")
    folds.sort(key=lambda f: f[1]["val"][0])
    for (a, da), (b, db) in pairwise(folds):
        if db["val"][0] <= da["val"][1]:
            raise ValueError(
                f"walk_forward folds {a.name} and {b.name}: validation windows overlap "
                f"({da['val'][0].date()}..{da['val'][1].date()} and "
                f"{db['val'][0].date()}..{db['val'][1].date()})"
            )
    test_start = test_dates["test"][0]
    for w, d in folds:
        if d["val"][1] >= test_start:
            raise ValueError(
                f"walk_forward fold {w.name}: validation window (to {d['val'][1].date()}) must end before "
                f"the test window {test.name} starts ({test_start.date()}); the search would score test days"
            )
    return WalkForward(tuple(w for w, _ in folds), test)
