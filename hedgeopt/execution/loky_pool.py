"""The one owner of the loky pool: run work in worker processes, stop them, restart after a loss.

Every place that runs work in worker processes goes through :func:`map_in_workers`, which never
runs a task in the parent (joblib runs ``Parallel(n_jobs=1)`` inline, where a crash or a
signal would hit the invocation itself), and every place that survives a lost worker follows
:class:`WorkerRestarts`: count the loss, kill the rest of the pool, let the caller fail and
queue the lost trials, and go on with a fresh pool until the failure budget is spent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

# imported here, in the main thread: a first import from the prewarm thread while the main thread
# imports loky too leaves a partially initialised module ("cannot import name ...")
from joblib import Parallel, delayed
from joblib.externals.loky import get_reusable_executor, reusable_executor
from joblib.externals.loky.process_executor import BrokenProcessPool

T = TypeVar("T")

#: The fail reason of a trial whose worker process died under it.
WORKER_LOST = "worker lost: its process died during the trial"


def map_in_workers(fn: Callable[..., T], calls: Sequence[tuple[Any, ...]], n_jobs: int) -> list[T]:
    """``[fn(*args) for args in calls]``, each in a worker process of the reusable loky pool.

    ``n_jobs`` worker processes; the results come back in order. Several go through joblib's
    ``Parallel``, whose pool (and the objectives its workers built) the next call reuses; one
    goes to a one-process loky executor, since ``Parallel(n_jobs=1)`` would run in the parent.
    A worker that dies raises loky's ``TerminatedWorkerError`` here (see :func:`is_worker_lost`).
    """
    if n_jobs > 1:
        _drop_plain_pool()
        return Parallel(n_jobs=n_jobs, backend="loky")(delayed(fn)(*args) for args in calls)
    executor = get_reusable_executor(max_workers=1)
    futures = [executor.submit(fn, *args) for args in calls]
    return [f.result() for f in futures]


def _drop_plain_pool() -> None:
    """Shut down an idle one-process pool made by loky before joblib's ``Parallel`` reuses it.

    joblib reuses loky's global executor but expects its own subclass (with a temporary-folder
    manager); given loky's plain one it fails with an AttributeError. Calls here are synchronous,
    so the pool is idle and only the objectives its one worker built are lost.
    """
    from joblib.executor import MemmappingExecutor

    with reusable_executor._executor_lock:
        executor = reusable_executor._executor
    if executor is not None and not isinstance(executor, MemmappingExecutor):
        executor.shutdown(wait=True)


def is_worker_lost(exc: BaseException) -> bool:
    """Whether ``exc`` says a worker process of the pool died (killed, out of memory, a crash)."""
    return isinstance(exc, BrokenProcessPool)  # TerminatedWorkerError included


def stop_workers() -> None:
    """Kill this invocation's worker processes (their trials are then reaped as interrupted).

    The pool in use, as it is: ``get_reusable_executor()`` with no size would first resize it to
    one worker per core, and loky waits for the running trials to end before resizing (a
    Ctrl-C with ``n_jobs=1`` ran the study to its end before it stopped).
    """
    with reusable_executor._executor_lock:
        executor = reusable_executor._executor
    if executor is None:
        return
    try:
        executor.shutdown(wait=True, kill_workers=True)
    except Exception:  # noqa: BLE001, S110 - the pool is being discarded anyway
        pass


def restarting_the_search(count: int, limit: int, lost: int) -> str:
    """What the search says when it restarts its workers after the ``count``-th loss."""
    return (
        f"hedgeopt: a worker process died; {lost} trial(s) will be retried, restarting "
        f"the workers ({count} of at most {limit})"
    )


class WorkerRestarts:
    """The restart-after-a-lost-worker policy: at most ``limit`` restarts in one invocation.

    loky stops every worker of a pool once one of them dies, so after each loss the whole pool
    is killed (``stop``), the caller's ``reap`` fails the lost work (the search: the dead worker's
    and its siblings' trials, queued for a retry with the same params), ``say`` tells what
    ``retrying(count, limit, lost)`` words, and a fresh pool carries on. Past the limit the loss
    itself is raised, or ``exhausted(count)``'s error where given (one line for the user).
    ``count``: the losses already met (another policy's, handed on).
    """

    def __init__(
        self,
        limit: int,
        say: Callable[[str], None],
        stop: Callable[[], None] | None = None,
        retrying: Callable[[int, int, int], str] = restarting_the_search,
        exhausted: Callable[[int], BaseException] | None = None,
        count: int = 0,
    ) -> None:
        self.limit, self.say, self.count = limit, say, count
        self.stop = stop or stop_workers  # the executor's, where it is not loky
        self.retrying, self.exhausted = retrying, exhausted

    def after_loss(self, exc: BaseException, reap: Callable[[], int] = lambda: 0) -> None:
        """Count the loss of ``exc``, stop the pool and reap; raise past the limit, else say so."""
        self.count += 1
        self.stop()
        lost = reap()
        if self.count > self.limit:
            if self.exhausted is None:
                raise exc
            raise self.exhausted(self.count) from None
        self.say(self.retrying(self.count, self.limit, lost))
