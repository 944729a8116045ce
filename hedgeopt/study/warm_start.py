"""Warm start: a study started with ``+overlay=PATH`` replays the overlay's params first.

The overlay (an export's ``overlay.yaml``) already sets the new study's config values; without
more, its searched keys are searched afresh and the start is lost. So the runner enqueues the
overlay's values of the new study's searched keys as trial 0 (Optuna's ``enqueue_trial``): the
new study's best is then never worse than the config it started from, on the same objective.
Only values inside the new space are replayed (a narrowed range may leave one out: a line says
so; the sampler picks that key), and only in a study with no trial yet, under the study's slot
lock: a resumed study, or a second invocation started beside the first, enqueues nothing more.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import optuna

from hedgeopt.config.search_space import Param, SearchSpace
from hedgeopt.config.settings import StudySettings
from hedgeopt.storages.slot_locks import slot_lock


def _typed(p: Param, value: Any) -> Any:
    """The value as the parameter's distribution returns it (an int param's 3.0 is 3)."""
    if p.kind == "int":
        return int(value)
    if p.kind == "float":
        return float(value)
    return value


def warm_start_params(values: Mapping[str, Any], space: SearchSpace) -> tuple[dict[str, Any], list[str]]:
    """``(params, left_out)``: the overlay's values of the searched keys that lie in the
    search space, and one phrase for each searched key whose value lies outside it."""
    params: dict[str, Any] = {}
    left_out: list[str] = []
    for p in space.params:
        if p.name not in values:
            continue
        value = values[p.name]
        if p.contains(value):
            params[p.name] = _typed(p, value)
        else:
            where = f"choices {list(p.choices)}" if p.kind == "categorical" else f"[{p.low}, {p.high}]"
            left_out.append(f"{p.name}={value!r} is outside {where}")
    return params, left_out


def enqueue_warm_start(
    study: optuna.Study,
    settings: StudySettings,
    space: SearchSpace,
    values: Mapping[str, Any],
    say: Callable[[str], None],
) -> dict[str, Any] | None:
    """Enqueue the overlay's params as the first trial of a study that has none; the params
    enqueued, or None (no overlay, a study with trials, or no value that fits)."""
    if not values:
        return None
    params, left_out = warm_start_params(values, space)
    lock = slot_lock(settings.storage, settings.study_name, settings.workdir)
    lock.acquire()
    try:
        if study.get_trials(deepcopy=False):
            return None  # a resumed study: trial 0 was queued when it started
        if params:
            study.enqueue_trial(params, skip_if_exists=True)
    finally:
        lock.close()
    skipped = f"; not replayed: {', '.join(left_out)} (sampled instead)" if left_out else ""
    if params:
        shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
        say(f"hedgeopt: warm start: trial 0 replays the overlay's best params ({shown}){skipped}")
        return params
    say(
        f"hedgeopt: warm start: no overlay value lies in this study's search space, nothing enqueued{skipped}"
    )
    return None
