"""Every tuned key reaches the objective's computation: for each shipped study, moving one
search-space key from one end of its range to the other (or between two choices) changes the
trial's metrics. A key the objective reads only at set-up is refused by the validator instead
(tests/e2e/test_hardening.py); one that is silently ignored would be exported as "best" while
changing nothing, and fails here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hedgeopt.config.compose import compose
from hedgeopt.config.settings import validate
from hedgeopt.execution.worker import get_objective
from hedgeopt.protocol import NullReporter, metrics_of

#: Small set-ups (data and paths are fixed keys, so shrinking them is not tuning them).
STUDIES = {
    "delta_hedge": ["simulator.horizon_hours=24", "paths.n_paths=16", "paths.n_paths_oos=16"],
    "delta_hedge_seed": ["paths.n_paths=64", "paths.n_paths_oos=16"],  # a week: bands need jumps
    "kalman_hedge": [],
    "spread_hedge": [],
    "spread_hedge_universe": [],
    "tail_hedge": ["stress.n_paths=40"],
}


def _ends(p: Any) -> tuple[Any, Any]:
    if p.kind == "categorical":
        return p.choices[0], p.choices[1]
    return p.low, p.high


def _metrics(objective: Any, params: dict[str, Any], tmp: Path) -> dict[str, float]:
    return metrics_of(objective(params, NullReporter(tmp)))


def _check_study(study: str, overrides: list[str], tmp_path: Path) -> None:
    """Each key moved end to end, with the other keys at their defaults, then at their low ends,
    then at their high ends (a key may matter only in part of the space: a delta band does
    nothing while a short cadence re-hedges first); it must move the metrics in one of them."""
    cfg = compose([f"+study={study}", *overrides])
    _, space = validate(cfg)
    objective = get_objective(cfg, f"test-{study}")
    for p in space.params:
        others = [q for q in space.params if q.name != p.name and not q.when]
        bases = [{}, {q.name: _ends(q)[0] for q in others}, {q.name: _ends(q)[1] for q in others}]
        lo, hi = _ends(p)
        moved = False
        for base in bases:
            base = {**base, **{k: v[0] for k, v in p.when.items()}}  # p's sampling condition
            a = _metrics(objective, {**base, p.name: lo}, tmp_path)
            b = _metrics(objective, {**base, p.name: hi}, tmp_path)
            if any(k in b and abs(a[k] - b[k]) > 1e-12 * max(1.0, abs(a[k])) for k in a):
                moved = True
                break
        assert moved, f"{study}: {p.name} = {lo} and {hi} give the same metrics wherever tried"


@pytest.mark.slow
@pytest.mark.parametrize("study", sorted(STUDIES))
def test_every_tuned_key_moves_the_metrics(study, tmp_path):
    _check_study(study, STUDIES[study], tmp_path)


@pytest.mark.slow
def test_every_tuned_key_of_the_deep_hedger_moves_the_metrics(tmp_path):
    _check_study(
        "deep_hedge",
        [
            "data.n_train=64",
            "data.n_val=32",
            "data.n_select=32",
            "data.n_test=32",
            "train.epochs=1",
            "train.early_stopping_patience=null",
        ],
        tmp_path,
    )
