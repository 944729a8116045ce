"""The executor protocol: where an invocation's worker processes run, and what runs inside them.

An :class:`Executor` starts one worker loop per slot (:meth:`Executor.run_loops`), maps tasks
onto its workers (:meth:`Executor.map`, never in the parent), says which workers are alive
(:meth:`Executor.alive_workers`, for trials whose worker was lost) and stops them
(:meth:`Executor.stop_workers`, :meth:`Executor.close`). The functions at the bottom run inside
a worker process, whatever the executor: they must work in a thread that is not the main one
(a Dask worker runs its tasks in a thread pool).
"""

from __future__ import annotations

import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


class Executor(ABC):
    """Where worker processes run: ``local`` (loky, this host) or ``dask`` (a cluster)."""

    kind = "?"

    @abstractmethod
    def slots(self) -> int:
        """Worker slots (``n_jobs=-1`` uses them all): cores here, a cluster's worker threads."""

    @abstractmethod
    def map(self, fn: Callable[..., T], calls: Sequence[tuple[Any, ...]], n_jobs: int) -> list[T]:
        """``[fn(*args) for args in calls]``, each in a worker process; results in order."""

    @abstractmethod
    def run_loops(self, fn: Callable[[Any], Any], tasks: list[Any], watch: Callable[[], Any]) -> None:
        """Run ``fn(task)`` (a worker loop) once per task, each on a slot of its own, until all
        return. ``watch`` is called now and then (where :meth:`alive_workers` says anything), so
        the parent fails and retries the trials of lost workers; a lost loop runs again with a
        fresh sampler seed."""

    @abstractmethod
    def is_worker_lost(self, exc: BaseException) -> bool:
        """Whether ``exc`` says that a worker process died under its task."""

    def alive_workers(self) -> set[str] | None:
        """The names (:func:`worker_identity`) of the live workers; None where the executor
        finds lost workers by host and process id instead."""
        return None

    def stop_flag(self) -> Any:
        """A picklable flag with ``is_set()`` that a worker loop checks before asking for a
        trial, or None where stopping kills the workers."""
        return None

    @abstractmethod
    def stop_workers(self) -> None:
        """Stop the running work now (Ctrl-C, a lost pool): the caller then reaps its trials."""

    def restart_after_loss(self) -> bool:
        """Whether a lost worker takes the others down with it (loky's pools do)."""
        return True

    def close(self) -> None:  # noqa: B027 - most executors hold nothing
        """Release what the executor holds (clients, clusters it created)."""


# --------------------------------------------------------------------------- inside a worker


def ignore_sigint() -> None:
    """Leave Ctrl-C to the parent (it stops the workers and records their trials as interrupted).

    Only the main thread may set signal handlers; a Dask worker runs tasks in other threads,
    where Ctrl-C never arrives anyway.
    """
    if threading.current_thread() is threading.main_thread():
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)


def worker_identity() -> str | None:
    """The executor's name of the worker this code runs in (Dask: the worker's address)."""
    if "distributed" not in sys.modules:
        return None
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):  # not inside a Dask worker
        return None


def local_inner_threads() -> int:
    """Inner threads for this worker from its host's cores: ``cores // worker threads on the host``.

    Used where the parent cannot know the worker's host (``inner_threads`` 0 in a task).
    """
    import os

    cores = os.cpu_count() or 1
    if "distributed" not in sys.modules:
        return cores
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return cores
    cached = getattr(worker, "_hedgeopt_inner", None)
    if cached is None:
        try:
            info = worker.client.scheduler_info(n_workers=-1)["workers"].values()
            on_host = sum(int(w.get("nthreads", 1)) for w in info if w.get("host") == worker.ip)
        except Exception:  # noqa: BLE001 - a guess beats no limit
            on_host = worker.state.nthreads
        cached = max(1, cores // max(1, on_host))
        worker._hedgeopt_inner = cached
    return cached


#: A worker's exit status when its invocation's process is gone (``kill -9`` of the parent).
EXIT_PARENT_GONE = 3
_WATCHED: list[int] = []  # the pid this worker process watches, once a watch has started


def _parent_alive(pid: int, ppid: int) -> bool:
    import os

    from hedgeopt.processes import pid_alive

    if ppid == pid:  # our own parent: a changed ppid is certain (no pid reuse to fool it)
        return os.getppid() == pid
    return os.getppid() == ppid and pid_alive(pid)


def watch_parent(pid: int | None = None, period: float = 0.5) -> None:
    """End this worker process within ``period`` seconds of its invocation's process ending.

    A parent killed with SIGKILL cleans nothing up, and loky's workers, busy in a worker loop or
    idle on their call queue, never hear of it: they went on searching forever. A daemon thread
    polls ``pid`` (default: this process's parent) and ends the process (``os._exit``) once it is gone;
    the trial it was running stays RUNNING under this worker's pid and the next invocation reaps
    it as lost and retries it. Started once per process; a Dask worker (whose parent is its
    nanny, not the invocation) is not watched.
    """
    import os
    import time

    if _WATCHED or worker_identity() is not None:
        return
    ppid = os.getppid()
    pid = ppid if pid is None else int(pid)
    if not _parent_alive(pid, ppid):
        os._exit(EXIT_PARENT_GONE)
    _WATCHED.extend((pid, ppid))

    def watch() -> None:
        while _parent_alive(pid, ppid):
            time.sleep(period)
        os._exit(EXIT_PARENT_GONE)  # the flock of a slot lock goes with the process

    threading.Thread(target=watch, daemon=True, name="hedgeopt-parent-watch").start()


def parent_gone() -> bool:
    """Whether the process :func:`watch_parent` watches has ended (False when none is watched)."""
    return bool(_WATCHED) and not _parent_alive(_WATCHED[0], _WATCHED[1])
