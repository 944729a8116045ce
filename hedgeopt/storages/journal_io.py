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

:class:`FreshLineJournalBackend` never glues a record onto a cut line: a writer that died
mid-append (a full disk, a kill) leaves the file without its final newline, and Optuna's
writer appended the next record to that line, making one undecodable line of a cut record and
a whole one (the live run died on ``JSONDecodeError``, and the repair dropped the whole record
with the cut one). Under the write lock it starts its records on a fresh line when the file
does not end with one, and its reader skips a newline-ended line that is not a record, as every
other reader of the file does, so the log numbers agree and the study goes on; the next open
repairs the file (:mod:`hedgeopt.storages.journal_repair`). A repair puts a new file in place
of the old one, and a reader that sees a new file finds its records again from the start: the
byte offsets it remembered belong to the old file, and the log numbers are the same in both,
since damaged lines were never a log.

It also writes each record's ``worker_id`` as a 10-character alias (:func:`worker_alias`)
instead of Optuna's ``<uuid4>-<thread ident>`` (52 characters, on every line: a third of the
default study's journal). Optuna's replay compares a record's ``worker_id`` with its own
storage's to find the trials it created itself, so the backend remembers the aliases it wrote
and gives their records back with the full id; another process's records keep their alias,
which never equals a full id. Shortening Optuna's prefix where the storage is opened would not
do: ``JournalStorage.__setstate__`` gives every unpickled copy (a worker process's) a fresh
uuid4 prefix, while the backend does every write whoever holds it. An alias is a 60-bit digest
of the full id, so two writers of one journal collide with odds of about n²/2⁶¹; Optuna's own
reader and ``optuna trials`` read the file as before (they only compare ids for equality). A
param's distribution is written as compact JSON.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
from collections.abc import Generator, Mapping
from typing import Any

from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage
from optuna.storages.journal._file import get_lock_file


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


class FreshLineJournalBackend(JournalFileBackend):
    """Optuna's journal file whose records never merge with a cut line, with short worker ids
    (see the module doc)."""

    def __init__(self, file_path: str, lock_obj: Any = None) -> None:
        super().__init__(file_path, lock_obj)
        self._full_ids: dict[str, str] = {}  # alias written -> the worker id it stands for
        self._file_identity: tuple[int, int] | None = None  # (device, inode) the offsets are of

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        logs = [self._shortened(log) for log in logs]
        data = ("\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n").encode()
        with get_lock_file(self._lock):
            with open(self._file_path, "ab+") as f:  # appends go to the end whatever is read
                size = f.seek(0, os.SEEK_END)
                if size:
                    f.seek(size - 1)
                    if f.read(1) != b"\n":  # a writer died mid-record: leave its line alone
                        data = b"\n" + data
                f.write(data)
                f.flush()
                os.fsync(f.fileno())

    def read_logs(self, log_number_from: int) -> Generator[dict[str, Any], None, None]:
        """The records from ``log_number_from`` on; damaged lines are no log and are skipped, and
        the last line is read once its newline is written."""
        with open(self._file_path, "rb") as f:
            stat = os.fstat(f.fileno())
            if (stat.st_dev, stat.st_ino) != self._file_identity:  # a repair replaced the file
                self._file_identity = (stat.st_dev, stat.st_ino)
                self._log_number_offset = {0: 0}  # its records are found again from the start
            offsets = self._log_number_offset
            remaining = stat.st_size
            number = log_number_from if log_number_from in offsets else 0
            offset = offsets[number]
            f.seek(offset)
            remaining -= offset
            for line in f:
                remaining -= len(line)
                if remaining < 0 or not line.endswith(b"\n"):
                    break  # being written (or cut): a later read sees it whole, or skips it
                offset += len(line)
                try:
                    record = json.loads(line)
                except ValueError:  # a cut record, on a line of its own
                    continue
                if not isinstance(record, dict) or "op_code" not in record:
                    continue
                full = self._full_ids.get(record.get("worker_id"))  # type: ignore[arg-type]
                if full is not None:
                    record["worker_id"] = full
                offsets[number + 1] = offset
                if number >= log_number_from:
                    yield record
                number += 1

    def _shortened(self, log: dict[str, Any]) -> dict[str, Any]:
        """``log`` with its worker alias, and a param's distribution in compact JSON (Optuna
        writes it with a space after every ``:`` and ``,``, and parses it wherever it reads it)."""
        log = dict(log)
        full = log.get("worker_id")
        if isinstance(full, str) and len(full) > ALIAS_LENGTH:
            alias = worker_alias(full)
            self._full_ids[alias] = full
            log["worker_id"] = alias
        distribution = log.get("distribution")
        if isinstance(distribution, str):
            log["distribution"] = json.dumps(json.loads(distribution), separators=(",", ":"))
        return log


ALIAS_LENGTH = 10


def worker_alias(worker_id: str) -> str:
    """The 10-character name a journal record carries for Optuna's ``worker_id``."""
    digest = hashlib.blake2b(worker_id.encode(), digest_size=9).digest()
    return base64.urlsafe_b64encode(digest).decode()[:ALIAS_LENGTH]


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
