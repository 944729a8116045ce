"""Optuna storages: resolving the ``storage`` key, masking secrets, and trial slots.

``storage`` is either an Optuna RDB URL (``sqlite:///...``, ``postgresql://...``,
``mysql://...``), a Redis URL (``redis://host:port/db``, a Redis journal), or a file path
(a journal file). ``null`` means the embedded default ``mlruns/optuna/<study_name>.journal``.

Exact trial counts: Optuna creates a trial before it runs it, so workers that each check
"enough trials yet?" and then ask race each other and overshoot. hedgeopt serialises the
check-and-ask step behind a *slot lock* shared by every process that uses the storage: a
file lock beside a journal or SQLite file, a PostgreSQL advisory lock, a Redis lock. The
trial itself runs outside the lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalRedisBackend
from optuna.trial import TrialState

_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*:)(?P<pw>[^@\s]+)(?P<at>@)")

#: Trial attributes hedgeopt writes (Optuna user attrs).
ATTR_COUNTED = "hedgeopt.counted"        # an objective failure that counts toward n_trials
ATTR_FAIL_REASON = "hedgeopt.fail_reason"
ATTR_INVOCATION = "hedgeopt.invocation"  # the parent run id of the invocation that ran it
ATTR_HOST = "hedgeopt.host"
ATTR_PID = "hedgeopt.pid"
ATTR_METRIC_PREFIX = "metric."


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

    url: str          # the RDB / redis URL, or the journal file path
    kind: str         # rdb | redis | journal
    heartbeat_interval: int | None = None
    grace_period: int | None = None

    @property
    def masked(self) -> str:
        return str(mask_url(self.url))


def resolve_storage(storage: str | None, study_name: str, *, heartbeat_interval: int | None = None,
                    grace_period: int | None = None) -> StorageSpec:
    """Turn the ``storage`` config value into a :class:`StorageSpec` (does not open it)."""
    if storage is None or str(storage).strip() == "":
        path = Path("mlruns") / "optuna" / f"{study_name}.journal"
        return StorageSpec(str(path), "journal")
    url = str(storage).strip()
    if has_scheme(url):
        scheme = url.split("://", 1)[0].lower()
        if scheme in ("redis", "rediss"):
            return StorageSpec(url, "redis")
        if scheme.split("+")[0] in ("sqlite", "postgresql", "postgres", "mysql", "oracle", "mssql"):
            hb = heartbeat_interval if scheme != "sqlite" else heartbeat_interval
            return StorageSpec(url, "rdb", heartbeat_interval=hb, grace_period=grace_period)
        if scheme == "file":
            return StorageSpec(url.split("://", 1)[1], "journal")
        raise ValueError(f"storage: unsupported URL scheme {scheme!r} in {mask_url(url)}")
    return StorageSpec(url, "journal")


def open_storage(spec: StorageSpec) -> optuna.storages.BaseStorage:
    """Open the storage (creating the journal folder or the RDB tables as needed)."""
    if spec.kind == "journal":
        path = Path(spec.url)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = optuna.storages.journal.JournalFileOpenLock(str(path))
        return JournalStorage(JournalFileBackend(str(path), lock_obj=lock))
    if spec.kind == "redis":
        return JournalStorage(JournalRedisBackend(spec.url))
    kwargs: dict[str, Any] = {}
    if spec.url.startswith("sqlite"):
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    if spec.heartbeat_interval:
        kwargs["heartbeat_interval"] = int(spec.heartbeat_interval)
        kwargs["grace_period"] = int(spec.grace_period or 2 * spec.heartbeat_interval)
        kwargs["failed_trial_callback"] = _record_stale
    return RDBStorage(spec.url, **kwargs)


def _record_stale(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Optuna's heartbeat failed a stale trial: say why, so it is logged and not counted."""
    study._storage.set_trial_user_attr(  # noqa: SLF001 - the trial is already FAIL
        trial._trial_id, ATTR_FAIL_REASON, "worker lost: no heartbeat within the grace period")


def storage_exists(spec: StorageSpec) -> bool:
    """Whether a local storage file is already there (used to avoid writing on errors)."""
    if spec.kind == "journal":
        return Path(spec.url).exists()
    return True


# --------------------------------------------------------------------------- trial slots

class SlotLock:
    """A lock shared by all processes using one storage; ``release`` is idempotent."""

    def acquire(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def release(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        self.release()


class FileSlotLock(SlotLock):
    """``flock`` on a file beside a journal or SQLite storage (one machine, or a shared FS)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)


class PostgresSlotLock(SlotLock):
    """A session-level PostgreSQL advisory lock keyed by the study name."""

    def __init__(self, url: str, study_name: str) -> None:
        import sqlalchemy

        self._engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
        digest = hashlib.sha256(f"hedgeopt:{study_name}".encode()).digest()
        self._key = int.from_bytes(digest[:8], "big", signed=True)
        self._conn: Any = None

    def acquire(self) -> None:
        import sqlalchemy

        self._conn = self._engine.connect()
        self._conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": self._key})

    def release(self) -> None:
        if self._conn is not None:
            import sqlalchemy

            conn, self._conn = self._conn, None
            try:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            finally:
                conn.close()


class RedisSlotLock(SlotLock):
    """A Redis lock (with a timeout, so a killed holder cannot block others for long)."""

    def __init__(self, url: str, study_name: str) -> None:
        import redis

        self._client = redis.Redis.from_url(url)
        self._lock = self._client.lock(f"hedgeopt:slot:{study_name}", timeout=60)
        self._held = False

    def acquire(self) -> None:
        self._lock.acquire(blocking=True)
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            try:
                self._lock.release()
            except Exception:  # expired: someone else may hold it now, nothing to undo
                pass


def slot_lock(spec: StorageSpec, study_name: str) -> SlotLock:
    """The slot lock that suits ``spec``."""
    if spec.kind == "journal":
        return FileSlotLock(Path(str(spec.url) + ".slots.lock"))
    if spec.kind == "redis":
        return RedisSlotLock(spec.url, study_name)
    scheme = spec.url.split("://", 1)[0].lower()
    if scheme.startswith("postgres"):
        return PostgresSlotLock(spec.url, study_name)
    if scheme.startswith("sqlite"):
        db = spec.url.split(":///", 1)[1] if ":///" in spec.url else "hedgeopt-sqlite"
        return FileSlotLock(Path(db + ".slots.lock"))
    # Other RDBs: serialise within this machine; across machines counts may overshoot.
    safe = hashlib.sha256(spec.url.encode()).hexdigest()[:16]
    return FileSlotLock(Path("mlruns") / "optuna" / f"{safe}.slots.lock")


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


def count_trials(study: optuna.Study) -> tuple[int, int]:
    """``(counted trials, running trials)`` of the study."""
    trials = study.get_trials(deepcopy=False)
    return sum(counted(t) for t in trials), sum(t.state == TrialState.RUNNING for t in trials)


def reap_orphans(study: optuna.Study, reason: str = "worker lost: its process is gone") -> int:
    """Fail RUNNING trials whose worker process on this host is gone (journal storages).

    RDB storages have heartbeats for this; journal files have none, so a trial left RUNNING
    by a killed invocation is recognised by its host and process id.
    """
    host = socket.gethostname()
    storage = study._storage  # noqa: SLF001
    n = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if t.user_attrs.get(ATTR_HOST) != host:
            continue
        pid = t.user_attrs.get(ATTR_PID)
        if pid is None:
            # Created but not yet stamped: give its worker a moment before judging.
            if t.datetime_start is None or time.time() - t.datetime_start.timestamp() < 30:
                continue
        elif _alive(int(pid)):
            continue
        try:
            storage.set_trial_user_attr(t._trial_id, ATTR_FAIL_REASON, reason)  # noqa: SLF001
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)  # noqa: SLF001
            n += 1
        except Exception:  # finished meanwhile
            pass
    return n


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
