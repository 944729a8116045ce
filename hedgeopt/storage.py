"""Optuna storages: resolving the ``storage`` key, masking secrets, and trial slots.

``storage`` is either an Optuna RDB URL (``sqlite:///...``, ``postgresql://...``,
``mysql://...``), a Redis URL (``redis://host:port/db``, a Redis journal), or a file path
(a journal file). ``null`` means the embedded default ``{workdir}/optuna/<study_name>.journal``.

Exact trial counts: Optuna creates a trial before it runs it, so workers that each check
"enough trials yet?" and then ask race each other and overshoot. hedgeopt serialises the
check-and-ask step behind a *slot lock* shared by every process that uses the storage: a
file lock beside a journal or SQLite file, a PostgreSQL advisory lock, a Redis lock. The
trial itself runs outside the lock.
"""

from __future__ import annotations

import copy
import re
import socket
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage, RDBStorage

try:  # Optuna >= 4.9; RetryFailedTrialCallback is its deprecated alias
    from optuna.storages import RetryHeartbeatStaleTrialCallback
except ImportError:  # pragma: no cover - older Optuna
    from optuna.storages import RetryFailedTrialCallback as RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend, JournalRedisBackend
from optuna.trial import TrialState

from hedgeopt.intermediate_values import ATTR_STEPS
from hedgeopt.journal_io import QueuedJournalLock
from hedgeopt.journal_repair import JournalDamaged
from hedgeopt.journal_repair import repair_journal as _repair
from hedgeopt.processes import pid_alive
from hedgeopt.slot_locks import FileSlotLock as FileSlotLock
from hedgeopt.slot_locks import PostgresSlotLock as PostgresSlotLock
from hedgeopt.slot_locks import RedisSlotLock as RedisSlotLock
from hedgeopt.slot_locks import SlotLock as SlotLock
from hedgeopt.slot_locks import slot_lock as slot_lock
from hedgeopt.workdir import journal_path

__all__ = ["JournalDamaged", "mask_url", "open_storage", "repair_journal", "resolve_storage"]

_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*:)(?P<pw>[^@\s]+)(?P<at>@)")

#: Trial attributes hedgeopt writes (Optuna user attrs).
ATTR_COUNTED = "hedgeopt.counted"  # an objective failure that counts toward n_trials
ATTR_FAIL_REASON = "hedgeopt.fail_reason"
ATTR_INVOCATION = "hedgeopt.invocation"  # the parent run id of the invocation that ran it
ATTR_HOST = "hedgeopt.host"
ATTR_PID = "hedgeopt.pid"
ATTR_METRIC_PREFIX = "metric."
ATTR_SAMPLES_PREFIX = "samples."  # a completed trial's in-sample per-sample values (PBO)


def mask_url(text: str | None) -> str | None:
    """``text`` with any password inside a URL replaced by ``***``."""
    if text is None:
        return None
    return _URL_PASSWORD.sub(lambda m: f"{m['head']}***{m['at']}", str(text))


def has_scheme(url: str) -> bool:
    return re.match(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://", url) is not None


@dataclass(frozen=True)
class StorageSpec:
    """Where the study lives; picklable so worker processes can open it themselves."""

    url: str  # the RDB / redis URL, or the journal file path
    kind: str  # rdb | redis | journal
    heartbeat_interval: int | None = None
    grace_period: int | None = None

    @property
    def masked(self) -> str:
        return str(mask_url(self.url))


def resolve_storage(
    storage: str | None,
    study_name: str,
    *,
    workdir: str | Path,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
) -> StorageSpec:
    """Turn the ``storage`` config value into a :class:`StorageSpec` (does not open it)."""
    if storage is None or str(storage).strip() == "":
        return StorageSpec(str(journal_path(workdir, study_name)), "journal")
    url = str(storage).strip()
    if has_scheme(url):
        scheme = url.split("://", 1)[0].lower()
        if scheme in ("redis", "rediss"):
            return StorageSpec(url, "redis")
        if scheme.split("+")[0] in ("sqlite", "postgresql", "postgres", "mysql", "oracle", "mssql"):
            return StorageSpec(
                _with_driver(url), "rdb", heartbeat_interval=heartbeat_interval, grace_period=grace_period
            )
        if scheme == "file":
            return StorageSpec(url.split("://", 1)[1], "journal")
        raise ValueError(f"storage: unsupported URL scheme {scheme!r} in {mask_url(url)}")
    return StorageSpec(url, "journal")


def _with_driver(url: str) -> str:
    """``postgres[ql]://`` with the PostgreSQL driver that is installed.

    SQLAlchemy 2.1 reads a bare ``postgresql://`` as psycopg (3); a machine that has only
    psycopg2 would fail on it, so the scheme names the driver that can be imported.
    ``postgres://`` (which SQLAlchemy rejects) is read as ``postgresql://``.
    """
    if "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    if scheme.lower() not in ("postgres", "postgresql"):
        return url
    import importlib.util

    for module, driver in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return f"postgresql+{driver}://{rest}"
    return f"postgresql://{rest}"


def open_storage(spec: StorageSpec) -> optuna.storages.BaseStorage:
    """Open the storage (creating the journal folder or the RDB tables as needed)."""
    if spec.kind == "journal":
        path = Path(spec.url)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = QueuedJournalLock(str(path))
        repair_journal(path, lock)
        return JournalStorage(JournalFileBackend(str(path), lock_obj=lock))
    if spec.kind == "redis":
        with warnings.catch_warnings():  # "experimental" in Optuna
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return JournalStorage(JournalRedisBackend(spec.url))
    kwargs: dict[str, Any] = {}
    if spec.url.startswith("sqlite"):
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    else:
        kwargs["engine_kwargs"] = {"pool_pre_ping": True}
    if spec.heartbeat_interval:
        kwargs["heartbeat_interval"] = int(spec.heartbeat_interval)
        kwargs["grace_period"] = int(spec.grace_period or 2 * spec.heartbeat_interval)
        kwargs["heartbeat_stale_trial_callback"] = RetryStaleTrial(max_retry=MAX_RETRY)
    return _open_rdb(spec.url, kwargs)


def _open_rdb(url: str, kwargs: dict[str, Any]) -> RDBStorage:
    """``RDBStorage(url)``, safe when several invocations create the tables at once.

    On PostgreSQL the first open of a fresh database is serialised by an advisory lock (two
    processes creating Optuna's enum types and tables together collide); elsewhere a failed
    first open is retried once the other process has created them.
    """
    import sqlalchemy.exc

    lock = PostgresSlotLock(url, "__optuna_schema__") if url.lower().startswith("postgres") else None
    for attempt in range(5):
        if lock is not None:
            lock.acquire()
        try:
            with warnings.catch_warnings():  # heartbeat_interval is "experimental" in Optuna
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(url, **kwargs)
        except sqlalchemy.exc.SQLAlchemyError:
            if attempt == 4:
                raise
            time.sleep(0.5 + attempt)
        finally:
            if lock is not None:
                lock.release()
    raise AssertionError("unreachable")


def repair_journal(path: Path, lock: Any) -> bool:
    """Drop damaged lines from a journal file (a backup of the original is kept beside it).

    Says on stderr what was dropped; raises :class:`JournalDamaged` for a file that is not a
    journal that can be repaired. Returns whether anything was dropped.
    """
    done = _repair(path, lock)
    if done:
        import sys

        print(
            f"hedgeopt: warning: journal {path}: dropped {len(done.dropped)} damaged line(s) "
            f"(line {', '.join(map(str, done.dropped[:5]))}); the original is kept as "
            f"{done.backup}",
            file=sys.stderr,
            flush=True,
        )
    return bool(done)


#: How often a trial whose worker was lost is retried with the same params.
MAX_RETRY = 3
REASON_STALE = "worker lost: no heartbeat within the grace period"
#: User attrs that belong to one run of a trial, not to its params (a retry starts without them).
_RUN_ATTRS = (ATTR_COUNTED, ATTR_FAIL_REASON, ATTR_INVOCATION, ATTR_HOST, ATTR_PID, ATTR_STEPS)


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
            if k not in _RUN_ATTRS and not k.startswith((ATTR_METRIC_PREFIX, ATTR_SAMPLES_PREFIX))
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


def invocation_failures(study: optuna.Study, invocation: str) -> list[optuna.trial.FrozenTrial]:
    """The objective failures (counted FAIL trials) of one invocation: ``max_failures`` counts these."""
    return [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
        if t.user_attrs.get(ATTR_INVOCATION) == invocation and t.user_attrs.get(ATTR_COUNTED)
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
    storage = study._storage  # noqa: SLF001
    heartbeat = has_heartbeat(study)
    retry = RetryStaleTrial(reason=reason)
    n = 0
    unstamped_after = _unstamped_limit(storage, heartbeat)
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = t.user_attrs.get(ATTR_PID)
        if pid is None:
            # Created but never stamped by its worker (a live worker stamps it within
            # milliseconds): its process died between creating and starting it. Heartbeats
            # cannot tell, since Optuna only judges trials that have sent one.
            if t.datetime_start is None or time.time() - t.datetime_start.timestamp() < unstamped_after:
                continue
        else:
            if t.user_attrs.get(ATTR_HOST) != host:
                continue
            if heartbeat and (invocation is None or t.user_attrs.get(ATTR_INVOCATION) != invocation):
                continue
            if pid_alive(pid):
                continue
        try:
            storage.set_trial_user_attr(t._trial_id, ATTR_FAIL_REASON, reason)  # noqa: SLF001
            if not storage.set_trial_state_values(t._trial_id, TrialState.FAIL):  # noqa: SLF001
                continue
        except Exception:  # finished meanwhile
            continue
        n += 1
        try:
            retry(study, storage.get_trial(t._trial_id))  # noqa: SLF001
        except Exception:  # the trial is failed (and replaced by a fresh one) all the same
            pass
    return n


def _unstamped_limit(storage: Any, heartbeat: bool) -> float:
    """Seconds after which a trial its worker never stamped is taken for lost."""
    if heartbeat:
        interval = getattr(storage, "heartbeat_interval", None) or 10
        grace = getattr(storage, "grace_period", None) or 2 * interval
        return float(grace)
    return 60.0
