"""Trials whose worker is gone, found through the executor; and the probe of a remote worker.

Where the executor names its workers (Dask: their addresses), each trial carries the name of
the worker that runs it (``hedgeopt.worker``); a RUNNING trial of this invocation whose worker
the executor no longer lists is failed as lost and retried with the same params, as the local
path does for a dead process. Optuna's heartbeats stay the backstop for everything else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from hedgeopt.errors import ConfigError, one_line
from hedgeopt.execution.loky_pool import WORKER_LOST
from hedgeopt.names import ATTR_FAIL_REASON, ATTR_INVOCATION, ATTR_WORKER

#: The fail reason of a trial whose remote worker left the cluster.
REMOTE_WORKER_LOST = "worker lost: its worker left the cluster during the trial"


def _fail_and_retry(study: Any, trials: Iterable[Any], reason: str) -> int:
    """Fail each RUNNING trial with ``reason`` and queue a retry with its params; how many."""
    from optuna.trial import TrialState

    from hedgeopt.storages.trial_bookkeeping import RetryStaleTrial

    storage, retry, n = study._storage, RetryStaleTrial(reason=reason), 0  # noqa: SLF001
    for t in trials:
        try:
            storage.set_trial_user_attr(t._trial_id, ATTR_FAIL_REASON, reason)  # noqa: SLF001
            if not storage.set_trial_state_values(t._trial_id, TrialState.FAIL):  # noqa: SLF001
                continue
        except Exception:  # noqa: BLE001 - finished meanwhile, or failed by another process
            continue
        n += 1
        try:
            retry(study, storage.get_trial(t._trial_id))  # noqa: SLF001
        except Exception:  # noqa: BLE001, S110 - failed (and replaced by a fresh trial) all the same
            pass
    return n


def _running(study: Any, invocation: str, keep: Callable[[Any], bool]) -> list[Any]:
    from optuna.trial import TrialState

    return [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if t.user_attrs.get(ATTR_INVOCATION) == invocation and keep(t)
    ]


def reap_lost_workers(
    study: Any, invocation: str, alive: Callable[[], set[str]], reason: str = REMOTE_WORKER_LOST
) -> int:
    """Fail and retry this invocation's RUNNING trials whose worker is not among ``alive()``.

    The live workers are asked after the trials are read: a worker stamps a trial only once
    the executor lists it, so a worker that joined meanwhile is never taken for a lost one.
    """
    trials = _running(study, invocation, lambda t: t.user_attrs.get(ATTR_WORKER) is not None)
    if not trials:
        return 0
    live = alive()
    return _fail_and_retry(study, [t for t in trials if t.user_attrs[ATTR_WORKER] not in live], reason)


def fail_running(study: Any, invocation: str, reason: str) -> int:
    """Fail and retry every RUNNING trial of this invocation (its workers were stopped)."""
    return _fail_and_retry(study, _running(study, invocation, lambda t: True), reason)


def probe_worker(storage: Any, staging_root: str) -> str:
    """In a worker: open the storage and write into the staging folder; the worker's host."""
    import os
    import socket
    import uuid

    from hedgeopt.storages.opening import open_storage

    host = socket.gethostname()
    step = "open the storage"
    try:
        open_storage(storage).get_all_studies()
        step = f"write to the staging folder {staging_root}"
        Path(staging_root).mkdir(parents=True, exist_ok=True)
        probe = Path(staging_root) / f".probe-{uuid.uuid4().hex}"
        probe.write_text("ok")
        os.remove(probe)
    except Exception as exc:  # noqa: BLE001 - the parent reports it in one line
        raise RuntimeError(f"a worker on {host} cannot {step}: {one_line(exc)}") from None
    return host


def probe(executor: Any, storage: Any, staging_root: Path) -> None:
    """Run :func:`probe_worker` on a worker; any failure is one ``ConfigError`` line (exit 2)."""
    try:
        executor.map(probe_worker, [(storage, str(staging_root.resolve()))], 1)
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"executor={executor.kind}: {one_line(exc)}") from None


__all__ = ["WORKER_LOST", "fail_running", "probe", "probe_worker", "reap_lost_workers"]
