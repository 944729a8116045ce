"""Journal storage I/O: a write lock queued by the kernel, and a trial's attributes in one append.

Optuna's ``JournalFileOpenLock`` creates a lock file with ``O_EXCL`` and, when another process
holds it, sleeps 1, 2, 4 ... ms (up to a second) before it looks again. Two workers that each
append a dozen records a trial collide all the time, and the waiter oversleeps the few
milliseconds the holder needed: with a 1 ms objective most of a search was spent asleep.

:class:`QueuedJournalLock` first takes an ``flock`` on the journal file, so hedgeopt's processes wait
in the kernel's queue and wake as soon as the holder lets go; it then takes Optuna's own lock
file as before, which is free by then unless a process outside hedgeopt (plain Optuna on the
same journal) holds it, and so stays exclusive against those processes too.

:func:`set_user_attrs` writes a trial's attributes (its metrics, per-sample values, the
worker's stamp) as one append of one record per attribute: the records Optuna's own
``set_user_attr`` writes, under one lock and one ``fsync`` instead of one each. Storages other
than a journal get ``set_user_attr`` per attribute.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Mapping
from typing import Any

from optuna.storages.journal import JournalFileOpenLock, JournalStorage


class QueuedJournalLock(JournalFileOpenLock):
    """``JournalFileOpenLock`` behind a blocking ``flock`` (see the module doc)."""

    def __init__(self, filepath: str, grace_period: int | None = 30) -> None:
        super().__init__(filepath, grace_period)
        self._journal_path = filepath
        self._queue_fd: int | None = None

    def acquire(self) -> bool:
        try:  # the journal itself is the queue: no file is created beside it
            fd = os.open(self._journal_path, os.O_RDONLY)
        except OSError:  # not there yet: Optuna's lock alone
            return super().acquire()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            got = super().acquire()
        except BaseException:
            os.close(fd)  # closing drops the flock
            raise
        self._queue_fd = fd
        return got

    def release(self) -> None:
        try:
            super().release()
        finally:
            fd, self._queue_fd = self._queue_fd, None
            if fd is not None:
                os.close(fd)


def set_user_attrs(trial: Any, attrs: Mapping[str, Any]) -> None:
    """``trial.set_user_attr(k, v)`` for every item, in one journal append where possible."""
    if not attrs:
        return
    storage = trial.storage
    writer = _journal_writer(storage)
    if writer is None:
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        return
    from optuna.storages.journal._storage import JournalOperation

    worker_id = storage._replay_result.worker_id
    logs = [
        {
            "op_code": JournalOperation.SET_TRIAL_USER_ATTR,
            "worker_id": worker_id,
            "trial_id": trial._trial_id,
            "user_attr": {key: value},
        }
        for key, value in attrs.items()
    ]
    with storage._thread_lock:
        writer(logs)
        storage._sync_with_backend()
    trial._cached_frozen_trial.user_attrs.update(attrs)


def _journal_writer(storage: Any) -> Any:
    """The journal backend's ``append_logs``, or None if ``storage`` is not a journal we know."""
    if not isinstance(storage, JournalStorage):
        return None
    needed = ("_backend", "_thread_lock", "_replay_result", "_sync_with_backend")
    if not all(hasattr(storage, name) for name in needed):
        return None
    return getattr(storage._backend, "append_logs", None)
