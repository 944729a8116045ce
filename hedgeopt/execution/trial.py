"""One trial inside a worker process: the task it belongs to, the reporter its objective sees,
and the run itself (stamped, checked, its record written before Optuna is told).

The worker's loop (:mod:`hedgeopt.execution.worker`) and deterministic mode's parent-asked
trials (:mod:`hedgeopt.execution.deterministic`) both run a trial through :func:`execute_trial`.
"""

from __future__ import annotations

import math
import os
import socket
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hedgeopt.execution.executors.base import worker_identity
from hedgeopt.names import ATTR_COUNTED, ATTR_FAIL_REASON, ATTR_STAMP

if TYPE_CHECKING:
    from hedgeopt.config.search_space import SearchSpace
    from hedgeopt.config.settings import StudySettings


@dataclass(frozen=True)
class WorkerTask:
    """Everything a worker needs, validated once by the parent; picklable (loky sends it)."""

    config: dict[str, Any]
    config_key: str
    settings: StudySettings
    space: SearchSpace
    worker: int
    sampler_seed: int
    invocation: str
    staging_dir: str  # the parent's staging folder (shared staging: the trials' folders)
    deadline: float | None
    inner_threads: int  # 0: from the worker's own host (the parent cannot know a remote one's)
    stop: Any = None  # the executor's stop flag (``is_set()``), checked before each trial; or None
    parent_pid: int | None = None  # the invocation's process on this host: its workers end with it
    staging_uri: str | None = None  # executor.staging=mlflow: where trial folders are uploaded


class TrialReporter:
    """The :class:`hedgeopt.protocol.Reporter` a trial's objective sees.

    ``values`` holds ``(metric, step, value)`` as reported; a single-objective trial also hands
    the first reported metric's values to Optuna, whose pruner judges the trial on them. With no
    pruner (``NopPruner``: ``pruner_judges`` False) Optuna is not given them: nothing of Optuna's
    reads them then, and they were a fifth of the default study's journal; the trial's record
    keeps every value all the same (:mod:`hedgeopt.storages.trial_record`, MLflow's
    ``<metric>_by_step``).
    """

    def __init__(
        self,
        trial: Any,
        artifact_dir: Path,
        single_objective: bool,
        should_prune: Callable[[], bool] | None = None,
        *,
        pruner_judges: bool = True,
    ) -> None:
        self._trial = trial
        self.artifact_dir = artifact_dir
        self._single = single_objective
        self._to_optuna = single_objective and pruner_judges
        self._should_prune = should_prune  # None: the study's pruner on the whole study
        self._pruned_on: str | None = None  # the metric the pruner sees
        self.values: list[tuple[str, int, float]] = []

    def report(self, metric: str, value: float, step: int) -> None:
        metric, value = str(metric), float(value)
        self.values.append((metric, int(step), value))
        if self._pruned_on is None:
            self._pruned_on = metric
        if self._to_optuna and metric == self._pruned_on and math.isfinite(value):
            self._trial.report(value, int(step))

    def should_prune(self) -> bool:
        if not self._single:
            return False
        if self._should_prune is not None:
            return bool(self._should_prune())
        return bool(self._trial.should_prune())


def execute_trial(
    trial: Any,
    suggest: Callable[[Any], dict[str, Any]],
    objective: Any,
    task: WorkerTask,
    done: dict[str, int],
    should_prune: Callable[[], bool] | None = None,
    stamp: Mapping[str, Any] | None = None,
) -> Any:
    """Run the objective on one Optuna trial; its value(s), or the exception that ends it.

    Stamps the trial (``ATTR_STAMP``: invocation, host, pid, executor's worker name, plus
    ``stamp``), records its record (:mod:`hedgeopt.storages.trial_record`, a file written before
    the trial is told COMPLETE), and marks an objective failure (an unwritable artifact folder
    or record file included) as counted.
    """
    import optuna

    from hedgeopt.config.samplers import is_nop
    from hedgeopt.protocol import TrialPruned
    from hedgeopt.storages.journal_io import set_user_attrs
    from hedgeopt.storages.trial_bookkeeping import is_storage_error
    from hedgeopt.storages.trial_record import RecordFiles, write_record
    from hedgeopt.tracking.staging import staged, trial_folder

    settings = task.settings
    where, in_attrs = RecordFiles(settings.workdir, settings.study_name), settings.storage.kind != "journal"
    fields = {"invocation": task.invocation, "host": socket.gethostname(), "pid": os.getpid()}
    worker = worker_identity()
    if worker is not None:
        fields["worker"] = worker
    set_user_attrs(trial, {ATTR_STAMP: {**fields, **(stamp or {})}})
    artifact_dir, upload_to = trial_folder(task.staging_dir, task.staging_uri, task.invocation, trial.number)
    carry = None if upload_to is None else artifact_dir  # mlflow staging: the record travels in it
    single = not settings.multi_objective
    judges = not is_nop(settings.pruner)
    reporter = TrialReporter(trial, artifact_dir, single, should_prune, pruner_judges=judges)
    suggesting = False
    try:
        with staged(artifact_dir, upload_to, settings.tracking_uri):  # uploaded before the trial ends
            artifact_dir.mkdir(parents=True, exist_ok=True)  # inside: a failure here is counted
            suggesting = True
            params = suggest(trial)
            suggesting = False
            result = objective(params, reporter)
            clean = _check_metrics(result, settings.metrics)
            samples = _check_samples(result, settings.metrics)
            statistics = _statistics(result, samples)
            # before the trial is told COMPLETE; a failure to write it is the trial's (counted)
            record = write_record(
                where,
                task.invocation,
                trial.number,
                clean,
                reporter.values,
                statistics,
                samples,
                in_attrs,
                carry,
            )
    except TrialPruned as exc:
        _store_steps(trial, task, reporter)
        done["pruned"] += 1
        raise optuna.TrialPruned(str(exc)) from exc
    except optuna.TrialPruned:
        done["pruned"] += 1
        raise
    except Exception as exc:
        counts = not (suggesting and is_storage_error(exc))  # the sampler's storage, not the objective
        _store_steps(trial, task, reporter, {ATTR_FAIL_REASON: _reason(exc), ATTR_COUNTED: counts})
        done["failed"] += counts
        raise
    set_user_attrs(trial, record)
    done["complete"] += 1
    values = tuple(clean[m] for m in settings.metrics)
    return values[0] if single else values


def _check_metrics(result: Any, optimised: tuple[str, ...]) -> dict[str, float]:
    from hedgeopt.protocol import Evaluation

    metrics = result.metrics if isinstance(result, Evaluation) else result
    if not isinstance(metrics, Mapping):
        raise TypeError(f"objective returned {type(metrics).__name__}, expected a mapping of metrics")
    clean: dict[str, float] = {}
    for name, value in metrics.items():
        try:
            v = float(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"metric {name!r} is not a number: {value!r}") from exc
        if not math.isfinite(v):
            raise ValueError(f"metric {name!r} is not finite: {v}")
        clean[str(name)] = v
    for m in optimised:
        if m not in clean:
            raise KeyError(f"objective returned no metric {m!r} (it returned {sorted(clean)})")
    return clean


def _check_samples(result: Any, optimised: tuple[str, ...]) -> dict[str, Any]:
    """The in-sample per-sample values of the optimised metrics, ``(samples, k)`` arrays."""
    import numpy as np

    from hedgeopt.protocol import Evaluation
    from hedgeopt.stats import as_matrix

    if not isinstance(result, Evaluation):
        return {}
    out: dict[str, Any] = {}
    for m in optimised:
        if m in result.samples:
            x = as_matrix(result.samples[m])
            if not np.all(np.isfinite(x)):
                raise ValueError(f"per-sample values of {m!r} are not all finite")
            out[m] = x
    return out


def _statistics(result: Any, samples: Mapping[str, Any]) -> dict[str, dict[str, Any] | None]:
    """How the trial's own (in-sample) statistic turns each metric's samples into the metric,
    stored beside the samples so that PBO scores trials with it (``None``: not describable)."""
    from hedgeopt.stats import describe_statistic

    return {m: describe_statistic(result.statistic(m)) for m in samples}


def _store_steps(
    trial: Any, task: WorkerTask, reporter: TrialReporter, extra: Mapping[str, Any] | None = None
) -> None:
    """A pruned or failed trial's steps plus ``extra`` attrs, in one storage write."""
    from hedgeopt.storages.journal_io import set_user_attrs
    from hedgeopt.storages.trial_record import RecordFiles, steps_record

    s = task.settings
    where, remote = RecordFiles(s.workdir, s.study_name), s.storage.kind != "journal"
    attrs = steps_record(where, task.invocation, trial.number, reporter.values, remote)
    set_user_attrs(trial, {**attrs, **(extra or {})})


def _reason(exc: BaseException) -> str:
    """A one-line failure reason plus the innermost frame, kept short for Optuna and MLflow."""
    head = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    tb = traceback.extract_tb(exc.__traceback__)
    if tb:
        last = tb[-1]
        head += f" (at {Path(last.filename).name}:{last.lineno} in {last.name})"
    from hedgeopt.masking import mask

    return mask(head)[:900]
