"""What hedgeopt records in an MLflow run: MLflow's limits on keys and values, and a finished
trial's run (:class:`TrialRun`); the tag names are :mod:`hedgeopt.names`'.

A trial's run is built here once and then written either through ``MlflowClient``
(``Tracker.log_trial``) or as rows of a local SQLite store (``trial_logger.SqliteRunWriter``), so
both ways record the same run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hedgeopt.names import (
    ATTR_COUNTED,
    ATTR_FAIL_REASON,
    MLFLOW_PARENT,
    OBJECTIVE_METRIC_PREFIX,
    OPTUNA_FAILED_TRIAL,
    ROLE_TRIAL,
    TAG_FAIL_REASON,
    TAG_OPTUNA_TRIAL_ID,
    TAG_RETRY_OF,
    TAG_ROLE,
    TAG_TRIAL_NUMBER,
    TAG_TRIAL_STATE,
)
from hedgeopt.storages.trial_record import RecordFiles, step_metrics, trial_metrics

#: The failure reason of a FAIL trial that recorded none (its worker stopped mid-trial).
INTERRUPTED = "interrupted: the worker stopped during the trial"
#: MLflow's limits: characters of a key and of a param value; params and metrics per batch.
MAX_KEY, MAX_PARAM_VALUE, MAX_PARAMS, MAX_METRICS = 250, 6000, 100, 1000


def epoch_ms(dt: Any) -> int | None:
    """A datetime as MLflow's milliseconds since the epoch (None stays None)."""
    return None if dt is None else int(dt.timestamp() * 1000)


def param_value(v: Any) -> str:
    """A param as MLflow stores it: a float by ``repr`` (no digits lost), masked, cut to MLflow's limit."""
    from hedgeopt.masking import mask

    s = repr(v) if isinstance(v, float) else mask(str(v))
    return s[:MAX_PARAM_VALUE]


def metric_key(name: str) -> str:
    """``name`` with the characters MLflow refuses in a metric key replaced by ``_``."""
    return "".join(c if c.isalnum() or c in "_-./ " else "_" for c in name)[:MAX_KEY]


@dataclass(frozen=True)
class TrialRun:
    """What one finished trial's MLflow run holds (the same for either way of writing it)."""

    number: int
    run_name: str
    status: str
    start_time: int
    end_time: int
    tags: dict[str, str]
    params: dict[str, str]
    metrics: list[tuple[str, float, int, int]]  # key, value, timestamp, step
    overlay_yaml: str
    artifact_dir: Path | None


def trial_run(
    trial: Any,
    parent_id: str | None,
    metric_names: Sequence[str],
    overlay: Mapping[str, Any],
    artifact_dir: Path | None,
    extra_tags: Mapping[str, str] | None,
    where: RecordFiles,
) -> TrialRun:
    """The nested run of ``trial`` under ``parent_id``: tags, params, metrics, state and times."""
    state = trial.state.name
    ts = epoch_ms(trial.datetime_complete) or int(time.time() * 1000)
    status = {"COMPLETE": "FINISHED", "PRUNED": "FINISHED"}.get(state)
    if status is None:  # an objective failure counts toward n_trials; a lost worker's trial does not
        status = "FAILED" if trial.user_attrs.get(ATTR_COUNTED) else "KILLED"
    return TrialRun(
        trial.number,
        f"trial-{trial.number:04d}",
        status,
        epoch_ms(trial.datetime_start) or ts,
        ts,
        {**_trial_tags(trial, parent_id), **(extra_tags or {})},
        {k[:MAX_KEY]: param_value(v) for k, v in list(trial.params.items())[:MAX_PARAMS]},
        _trial_metrics(trial, metric_names, ts, where)[:MAX_METRICS],
        overlay_yaml(overlay),
        artifact_dir,
    )


def _trial_tags(trial: Any, parent_id: str | None) -> dict[str, str]:
    state = trial.state.name
    tags = {
        TAG_ROLE: ROLE_TRIAL,
        MLFLOW_PARENT: parent_id or "",
        TAG_TRIAL_NUMBER: str(trial.number),
        TAG_TRIAL_STATE: state,
        TAG_OPTUNA_TRIAL_ID: str(trial._trial_id),
    }
    if state == "FAIL":
        tags[TAG_FAIL_REASON] = str(trial.user_attrs.get(ATTR_FAIL_REASON) or INTERRUPTED)
    retry_of = (trial.system_attrs or {}).get(OPTUNA_FAILED_TRIAL)
    if retry_of is not None:  # a retry, with the same params, of a trial whose worker was lost
        tags[TAG_RETRY_OF] = str(retry_of)
    return tags


def _trial_metrics(
    trial: Any, metric_names: Sequence[str], ts: int, where: RecordFiles
) -> list[tuple[str, float, int, int]]:
    """The objective's metrics, the optimised values and the intermediate values by step."""
    metrics = [(metric_key(name), value, ts, 0) for name, value in trial_metrics(trial, where).items()]
    if trial.values is not None:
        for name, value in zip(metric_names, trial.values, strict=False):
            metrics.append((OBJECTIVE_METRIC_PREFIX + metric_key(name), float(value), ts, 0))
    for name, value, step in step_metrics(trial, metric_names[0], where):
        metrics.append((metric_key(name), value, ts, step))
    return metrics


def overlay_yaml(doc: Mapping[str, Any]) -> str:
    """``yaml.safe_dump(doc, sort_keys=False)``, by libyaml's emitter where it is installed."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(dict(doc), Dumper=dumper, sort_keys=False)
