"""Opening Optuna storages: resolving the ``storage`` key, masking secrets, repairing journals.

``storage`` is either an Optuna RDB URL (``sqlite:///...``, ``postgresql://...``,
``mysql://...``), a Redis URL (``redis://host:port/db``, a Redis journal), or a file path
(a journal file). ``null`` means the embedded default ``{workdir}/optuna/<study_name>.journal``.
What happens to the trials inside a storage is :mod:`hedgeopt.storages.trial_bookkeeping`'s business.
"""

from __future__ import annotations

import re
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalRedisBackend

from hedgeopt.masking import mask
from hedgeopt.storages.journal_io import FreshLineJournalBackend, QueuedJournalLock
from hedgeopt.storages.journal_repair import repair_journal as _repair
from hedgeopt.storages.slot_locks import PostgresSlotLock
from hedgeopt.storages.spec import StorageSpec
from hedgeopt.storages.trial_bookkeeping import MAX_RETRY, RetryStaleTrial
from hedgeopt.workdir import journal_path, sqlite_file

__all__ = ["StorageSpec", "open_storage", "repair_journal", "resolve_storage"]


def has_scheme(url: str) -> bool:
    return re.match(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://", url) is not None


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
        raise ValueError(f"storage: unsupported URL scheme {scheme!r} in {mask(url)}")
    return StorageSpec(url, "journal")


def _with_driver(url: str) -> str:
    """``postgres[ql]://`` with the PostgreSQL driver that is installed.

    SQLAlchemy 2.1 reads a bare ``postgresql://`` as psycopg (3), a dependency of hedgeopt, so
    hedgeopt, ``optuna studies`` and ``mlflow server`` open the same URL with the same driver;
    a machine that has only psycopg2 would fail on it, so then the scheme names psycopg2.
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
        return JournalStorage(FreshLineJournalBackend(str(path), lock_obj=lock))
    if spec.kind == "redis":
        with warnings.catch_warnings():  # "experimental" in Optuna
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return JournalStorage(JournalRedisBackend(spec.url))
    kwargs: dict[str, Any] = {}
    if spec.url.startswith("sqlite"):
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
        db = sqlite_file(spec.url)
        if db is not None:  # the checks allow a folder that does not exist yet
            db.parent.mkdir(parents=True, exist_ok=True)
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

    Says on stderr what was dropped; raises :class:`~hedgeopt.storages.journal_repair.JournalDamaged`
    for a file that is not a journal that can be repaired. Returns whether anything was dropped.
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
