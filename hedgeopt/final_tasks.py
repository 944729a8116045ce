"""Running the end-of-study tasks (out-of-sample score, baselines, plots) so a lost worker is retried.

The baselines do not depend on the search, so :class:`EarlyTasks` starts them in a process of
its own beside the search; the same process then scores the best config and draws the
objective's plots, reusing the out-of-sample data it has already built (simulated paths, for
one), where the search's workers would each build it again.

These tasks run in loky worker processes like the trials (never in the parent, even with
one worker). A worker that dies (killed, out of
memory) fails the whole pool with ``TerminatedWorkerError``; the tasks are pure functions of
the config and the best params, so they are simply run again in a fresh pool. After
``retries`` such deaths the invocation ends with one error line; the study's trials are all in
the storage, and the same command exports them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

from joblib import Parallel, delayed

from hedgeopt.errors import HedgeoptError
from hedgeopt.worker import run_task

#: Fresh pools tried after the first one lost a worker.
RETRIES = 2


def timed_task(config: dict[str, Any], config_key: str, inner_threads: int, method: str,
               args: tuple[Any, ...]) -> tuple[Any, float]:
    """``run_task``'s result and the seconds it took inside the worker."""
    t0 = time.perf_counter()
    return run_task(config, config_key, inner_threads, method, args), time.perf_counter() - t0


#: The early worker's ``nice`` increment: while the search runs, its workers go first.
EARLY_NICENESS = 5


def _early_worker_init() -> None:
    import os
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        os.nice(EARLY_NICENESS)
    except OSError:  # a platform without nice runs it at normal priority
        pass


class EarlyTasks:
    """A worker process for the end-of-study tasks, started with ``methods`` (argument-free
    objective methods, the baselines) while the search runs, at a lower CPU priority."""

    def __init__(self, cfg: dict[str, Any], key: str, inner: int,
                 methods: Sequence[str] = ("baselines",)) -> None:
        from joblib.externals.loky import ProcessPoolExecutor

        self.cfg, self.key, self.inner = cfg, key, inner
        self._executor = ProcessPoolExecutor(max_workers=1, initializer=_early_worker_init)
        self._futures = {m: self._executor.submit(timed_task, cfg, key, inner, m, ()) for m in methods}

    def run(self, jobs: Sequence[tuple[str, tuple[Any, ...]]]) -> list[tuple[Any, float]]:
        """The jobs' ``(result, seconds)``: started ones awaited, the others run in order."""
        futures = [self._futures[m] if m in self._futures and not a else
                   self._executor.submit(timed_task, self.cfg, self.key, self.inner, m, a)
                   for m, a in jobs]
        return [f.result() for f in futures]

    def close(self, kill: bool = False) -> None:
        self._executor.shutdown(wait=not kill, kill_workers=kill)


def run_final_tasks(cfg: dict[str, Any], key: str, inner: int,
                    jobs: Sequence[tuple[str, tuple[Any, ...]]], n_jobs: int,
                    retries: int = RETRIES, timings: dict[str, float] | None = None,
                    early: EarlyTasks | None = None) -> list[Any]:
    """``[run_task(cfg, key, inner, method, args) for method, args in jobs]`` in ``n_jobs`` workers.

    With ``early``, in its process (a lost one counts as the first of the tries).
    ``timings``, if given, receives each method's seconds inside its worker.
    """
    out = None
    if early is not None:
        from joblib.externals.loky.process_executor import BrokenProcessPool

        try:
            out = early.run(jobs)
        except BrokenProcessPool:  # TerminatedWorkerError included
            early.close(kill=True)
            if retries == 0:
                raise HedgeoptError(
                    "a worker process died while scoring the best config; every trial is kept "
                    "in the storage: run the same command again to export") from None
            print(f"hedgeopt: warning: a worker process died while scoring the best config; "
                  f"retrying (1 of {retries})", file=sys.stderr, flush=True)
    if out is None:
        out = _run(cfg, key, inner, jobs, n_jobs, retries, first=0 if early is None else 1)
    if timings is not None:
        timings.update({m: seconds for (m, _), (_, seconds) in zip(jobs, out)})
    return [result for result, _ in out]


def _run(cfg: dict[str, Any], key: str, inner: int, jobs: Sequence[tuple[str, tuple[Any, ...]]],
         n_jobs: int, retries: int, first: int = 0) -> list[tuple[Any, float]]:
    from joblib.externals.loky import get_reusable_executor
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    for attempt in range(first, retries + 1):
        try:
            if n_jobs > 1:  # the search's workers, whose objectives are already built
                return Parallel(n_jobs=n_jobs, backend="loky")(
                    delayed(timed_task)(cfg, key, inner, m, a) for m, a in jobs)
            # joblib runs n_jobs=1 in this process, where a crash would end the invocation
            executor = get_reusable_executor(max_workers=1)
            futures = [executor.submit(timed_task, cfg, key, inner, m, a) for m, a in jobs]
            return [f.result() for f in futures]
        except TerminatedWorkerError:
            try:
                get_reusable_executor().shutdown(wait=True, kill_workers=True)
            except Exception:  # noqa: BLE001, S110 - the pool is being discarded anyway
                pass
            if attempt == retries:
                raise HedgeoptError(
                    f"a worker process died while scoring the best config ({retries + 1} times); "
                    "every trial is kept in the storage: run the same command again to export"
                ) from None
            print(f"hedgeopt: warning: a worker process died while scoring the best config; "
                  f"retrying ({attempt + 1} of {retries})", file=sys.stderr, flush=True)
    raise AssertionError("unreachable")
