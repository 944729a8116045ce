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
from hedgeopt.names import stamped

#: The fail reason of a trial whose remote worker left the cluster.
REMOTE_WORKER_LOST = "worker lost: its worker left the cluster during the trial"


def _fail_and_retry(study: Any, trials: Iterable[Any], reason: str) -> int:
    # here, not at the top: a probed worker imports this module, and bookkeeping imports optuna
    from hedgeopt.storages.trial_bookkeeping import fail_and_retry

    return fail_and_retry(study, [t._trial_id for t in trials], reason)  # noqa: SLF001


def _running(study: Any, invocation: str, keep: Callable[[Any], bool]) -> list[Any]:
    from optuna.trial import TrialState

    return [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if stamped(t.user_attrs, "invocation") == invocation and keep(t)
    ]


def reap_lost_workers(
    study: Any, invocation: str, alive: Callable[[], set[str]], reason: str = REMOTE_WORKER_LOST
) -> int:
    """Fail and retry this invocation's RUNNING trials whose worker is not among ``alive()``.

    The live workers are asked after the trials are read: a worker stamps a trial only once
    the executor lists it, so a worker that joined meanwhile is never taken for a lost one.
    """
    trials = _running(study, invocation, lambda t: stamped(t.user_attrs, "worker") is not None)
    if not trials:
        return 0
    live = alive()
    return _fail_and_retry(study, [t for t in trials if stamped(t.user_attrs, "worker") not in live], reason)


def fail_running(study: Any, invocation: str, reason: str) -> int:
    """Fail and retry every RUNNING trial of this invocation (its workers were stopped)."""
    return _fail_and_retry(study, _running(study, invocation, lambda t: True), reason)


def probe_worker(storage: Any, shared: tuple[str, str] | None, remote: tuple[str, str] | None) -> str:
    """In a worker: open the storage (if given) and use the staging the trials will use; the
    worker's host.

    ``shared``: ``(marker file, token)`` the parent wrote in its staging folder: the worker must
    read it (a host that does not mount the parent's folder would write its own, silently, and
    no trial's artifacts would reach the parent) and write beside it. ``remote``: ``(staging
    URI, tracking URI)``: a file written, read back and deleted through MLflow's repository.
    """
    import os
    import socket

    host = socket.gethostname()
    step = "open the storage"
    try:
        if storage is not None:
            from hedgeopt.storages.opening import open_storage

            open_storage(storage).get_all_studies()
        if shared is not None:
            marker, token = Path(shared[0]), shared[1]
            step = f"see the parent's staging folder {marker.parent}"
            if not marker.is_file() or marker.read_text() != token:
                raise FileNotFoundError(
                    "not the parent's filesystem; executor.staging=shared needs a path every worker "
                    "host mounts (else executor.staging=mlflow)"
                )
            step = f"write to the staging folder {marker.parent}"
            written = marker.with_name(f"{marker.name}.{host}.{os.getpid()}")
            written.write_text("ok")
            written.unlink()
        if remote is not None:
            from hedgeopt.tracking.staging import check_roundtrip

            step = f"write and read back {remote[0]} (executor.staging=mlflow)"
            check_roundtrip(*remote)
    except Exception as exc:  # noqa: BLE001 - the parent reports it in one line
        raise RuntimeError(f"a worker on {host} cannot {step}: {one_line(exc, 400)}") from None
    return host


def probe(
    executor: Any,
    storage: Any,
    staging_root: Path | None,
    remote: tuple[str, str] | None = None,
    n_jobs: int = 1,
) -> None:
    """Run :func:`probe_worker` on a worker; any failure is one ``ConfigError`` line (exit 2).

    ``staging_root``: the shared staging folder, where the parent leaves a marker for the
    worker to read (None: not shared staging); ``remote``: as :func:`probe_worker`'s;
    ``n_jobs``: the pool's size (loky keeps its warm workers only for the same size).
    """
    import uuid

    marker = None
    try:
        shared = None
        if staging_root is not None:
            token = uuid.uuid4().hex
            marker = staging_root.resolve() / f".probe-{token}"
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(token)
            shared = (str(marker), token)
        executor.map(probe_worker, [(storage, shared, remote)], n_jobs)
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"executor={executor.kind}: {one_line(exc, 600)}") from None
    finally:
        if marker is not None:
            marker.unlink(missing_ok=True)


__all__ = ["WORKER_LOST", "fail_running", "probe", "probe_worker", "reap_lost_workers"]
