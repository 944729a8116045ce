"""Trial bookkeeping on a shared study: which trials count, and what happens to lost ones.

Exact trial counts: a trial counts toward ``n_trials`` unless its worker was lost (see
:func:`counted`); workers check the count and ask a trial behind the storage's slot lock
(:mod:`hedgeopt.storages.slot_locks`). A trial whose worker was lost, found by a stopped heartbeat
(:func:`fail_stale`) or by its dead process (:func:`reap_orphans`), is failed with a reason
and retried: a WAITING copy with the same params that the next worker to ask pops.
"""

from __future__ import annotations

import copy
import socket
import time
import warnings
from collections.abc import Iterable
from typing import Any

import optuna

try:  # Optuna >= 4.9; RetryFailedTrialCallback is its deprecated alias
    from optuna.storages import RetryHeartbeatStaleTrialCallback
except ImportError:  # pragma: no cover - older Optuna
    from optuna.storages import RetryFailedTrialCallback as RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from hedgeopt.names import (
    ATTR_COUNTED,
    ATTR_FAIL_REASON,
    RUN_ATTR_PREFIXES,
    RUN_ATTRS,
    stamped,
)
from hedgeopt.processes import pid_alive

#: How often a trial whose worker was lost is retried with the same params.
MAX_RETRY = 3
REASON_STALE = "worker lost: no heartbeat within the grace period"


class RetryStaleTrial(RetryHeartbeatStaleTrialCallback):
    """Optuna's retry callback, plus the failure reason on the failed trial.

    The failed trial keeps a reason (so it is logged and, having no ``hedgeopt.counted``, not
    counted); the retry is a WAITING trial with the same params (Optuna's ``failed_trial`` and
    ``retry_history`` system attrs name the original) that the next worker to ask pops. The
    retry does not inherit the failed run's own attrs (invocation, host, pid, metrics), which
    the worker that runs it writes afresh.
    """

    def __init__(self, max_retry: int | None = MAX_RETRY, reason: str = REASON_STALE) -> None:
        with warnings.catch_warnings():  # "experimental" since Optuna 2.8
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            super().__init__(max_retry=max_retry)
        self.reason = reason

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        storage = study._storage  # noqa: SLF001
        if not trial.user_attrs.get(ATTR_FAIL_REASON):
            try:  # Optuna's own stale check fails the trial first; an RDB then refuses attrs
                storage.set_trial_user_attr(trial._trial_id, ATTR_FAIL_REASON, self.reason)  # noqa: SLF001
            except optuna.exceptions.UpdateFinishedTrialError:
                pass
        trial = copy.deepcopy(trial)
        trial.user_attrs = {
            k: v
            for k, v in trial.user_attrs.items()
            if k not in RUN_ATTRS and not k.startswith(RUN_ATTR_PREFIXES)
        }
        super().__call__(study, trial)


def fail_stale(study: optuna.Study) -> int:
    """Fail and retry the trials whose heartbeat stopped; a no-op without heartbeats.

    Optuna's ``fail_stale_trials``, except that the reason is written while the trial is still
    RUNNING (an RDB refuses attrs on a finished trial).
    """
    if not has_heartbeat(study):
        return 0
    storage = study._storage  # noqa: SLF001
    callback = storage.get_heartbeat_stale_trial_callback()
    n = 0
    for trial_id in storage._get_stale_trial_ids(study._study_id):  # noqa: SLF001
        try:
            storage.set_trial_user_attr(trial_id, ATTR_FAIL_REASON, REASON_STALE)
            if not storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:  # finished, or failed by another process
            continue
        n += 1
        if callback is not None:
            callback(study, copy.deepcopy(storage.get_trial(trial_id)))
    return n


def has_heartbeat(study: optuna.Study) -> bool:
    from optuna.storages._heartbeat import is_heartbeat_enabled

    return is_heartbeat_enabled(study._storage)  # noqa: SLF001


# --------------------------------------------------------------------------- counting


def counted(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether a trial counts toward ``n_trials``.

    COMPLETE, PRUNED and RUNNING trials count, and so do FAIL trials whose objective failed
    (an exception or a non-finite metric). A trial that failed because its worker was
    interrupted or killed does not count: it is replaced by a new trial.
    """
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING):
        return True
    if trial.state == TrialState.FAIL:
        return bool(trial.user_attrs.get(ATTR_COUNTED, False))
    return False


def is_storage_error(exc: BaseException) -> bool:
    """Whether ``exc`` is the storage failing (unreadable journal, lost connection, full disk), not
    the objective: a trial whose sampler could not read the study fails uncounted and is replaced."""
    from json import JSONDecodeError

    from optuna.exceptions import StorageInternalError

    if isinstance(exc, (OSError, StorageInternalError, UnicodeDecodeError, JSONDecodeError)):
        return True
    if isinstance(exc, ValueError) and str(exc) == "Invalid log format.":  # Optuna's journal reader
        return True
    return type(exc).__module__.split(".")[0] in ("sqlalchemy", "redis", "psycopg", "psycopg2")


def invocation_failures(study: optuna.Study, invocation: str) -> list[optuna.trial.FrozenTrial]:
    """The objective failures (counted FAIL trials) of one invocation: ``max_failures`` counts these."""
    return [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
        if stamped(t.user_attrs, "invocation") == invocation and t.user_attrs.get(ATTR_COUNTED)
    ]


def count_trials(study: optuna.Study) -> tuple[int, int]:
    """``(counted trials, running trials)`` of the study."""
    trials = study.get_trials(deepcopy=False)
    return sum(counted(t) for t in trials), sum(t.state == TrialState.RUNNING for t in trials)


def reap_orphans(
    study: optuna.Study, reason: str = "worker lost: its process is gone", invocation: str | None = None
) -> int:
    """Fail RUNNING trials whose worker process on this host is gone, and retry them.

    Journal storages have no heartbeats, so a trial left RUNNING by a killed worker is
    recognised by its host and process id. On storages with heartbeats this only looks at the
    trials of ``invocation`` (whose workers are known to run on this host, so a second machine
    with the same host name is never mistaken for this one); heartbeats catch the rest. Each
    reaped trial gets a WAITING retry with the same params, as a heartbeat-stale trial does.
    """
    host = socket.gethostname()
    heartbeat = has_heartbeat(study)
    unstamped_after = _unstamped_limit(study._storage, heartbeat)  # noqa: SLF001
    orphans = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = stamped(t.user_attrs, "pid")
        if pid is None:
            # Created but never stamped by its worker (a live worker stamps it within
            # milliseconds): its process died between creating and starting it. Heartbeats
            # cannot tell, since Optuna only judges trials that have sent one.
            if t.datetime_start is None or time.time() - t.datetime_start.timestamp() < unstamped_after:
                continue
        else:
            if stamped(t.user_attrs, "host") != host:
                continue
            if heartbeat and (invocation is None or stamped(t.user_attrs, "invocation") != invocation):
                continue
            if pid_alive(pid):
                continue
        orphans.append(t._trial_id)  # noqa: SLF001
    return fail_and_retry(study, orphans, reason)


def fail_and_retry(study: optuna.Study, trial_ids: Iterable[int], reason: str) -> int:
    """Fail each still RUNNING trial of ``trial_ids`` with ``reason`` and queue a WAITING retry
    with its params (as a heartbeat-stale trial gets); how many were failed.

    The one way a lost trial ends: an orphan of a dead process here, a trial of a worker the
    executor lost (:mod:`hedgeopt.execution.lost_workers`), a batch's trial in deterministic mode.
    """
    storage, retry, n = study._storage, RetryStaleTrial(reason=reason), 0  # noqa: SLF001
    for tid in trial_ids:
        try:
            if storage.get_trial(tid).state != TrialState.RUNNING:
                continue
            storage.set_trial_user_attr(tid, ATTR_FAIL_REASON, reason)
            if not storage.set_trial_state_values(tid, TrialState.FAIL):
                continue
        except Exception:  # noqa: BLE001 - finished meanwhile, or failed by another process
            continue
        n += 1
        try:
            retry(study, storage.get_trial(tid))
        except Exception:  # noqa: BLE001, S110 - failed (and replaced by a fresh trial) all the same
            pass
    return n


def _unstamped_limit(storage: Any, heartbeat: bool) -> float:
    """Seconds after which a trial its worker never stamped is taken for lost."""
    if heartbeat:
        interval = getattr(storage, "heartbeat_interval", None) or 10
        grace = getattr(storage, "grace_period", None) or 2 * interval
        return float(grace)
    return 60.0
