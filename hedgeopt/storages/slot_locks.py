"""Slot locks: one lock per study shared by every process using its storage.

Workers that each check "enough trials yet?" and then ask race each other and overshoot;
the check-and-ask step runs behind this lock (a file lock beside a journal or SQLite file, a
PostgreSQL advisory lock, a Redis lock).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hedgeopt.workdir import slot_lock_path, sqlite_file

if TYPE_CHECKING:
    from hedgeopt.storages.spec import StorageSpec


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
    """A Redis lock; it expires after 30 s, so a killed holder blocks the others at most that long."""

    def __init__(self, url: str, study_name: str) -> None:
        import redis

        self._client = redis.Redis.from_url(url)
        self._lock = self._client.lock(f"hedgeopt:slot:{study_name}", timeout=30)
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


def slot_lock(spec: StorageSpec, study_name: str, workdir: str | Path) -> SlotLock:
    """The slot lock that suits ``spec`` (a lock file of its own goes under ``workdir``)."""
    if spec.kind == "journal":
        return FileSlotLock(Path(str(spec.url) + ".slots.lock"))
    if spec.kind == "redis":
        return RedisSlotLock(spec.url, study_name)
    scheme = spec.url.split("://", 1)[0].lower()
    if scheme.startswith("postgres"):
        return PostgresSlotLock(spec.url, study_name)
    if scheme.startswith("sqlite"):
        db = sqlite_file(spec.url)
        return FileSlotLock(Path(f"{db or 'hedgeopt-sqlite'}.slots.lock"))
    # Other RDBs: serialise within this machine; across machines counts may overshoot.
    safe = hashlib.sha256(spec.url.encode()).hexdigest()[:16]
    return FileSlotLock(slot_lock_path(workdir, safe))
