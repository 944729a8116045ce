"""Running the end-of-study tasks (out-of-sample score, baselines, plots) so a lost worker is retried.

The baselines do not depend on the search, so :class:`EarlyTasks` starts them in a process of
its own beside the search; the same process then scores the best config and draws the
objective's plots, reusing the out-of-sample data it has already built (simulated paths, for
one), where the search's workers would each build it again.

These tasks run in the executor's worker processes like the trials (never in the parent, even
with one worker); the early worker is loky's, so only the local executor has one. A worker that
dies (killed, out of memory) fails the whole pool with ``TerminatedWorkerError``; the tasks are
pure functions of the config and the best params, so they are simply run again in a fresh pool. After
``retries`` such deaths the invocation ends with one error line; the study's trials are all in
the storage, and the same command exports them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hedgeopt.errors import HedgeoptError
from hedgeopt.execution.executors import current
from hedgeopt.execution.loky_pool import WorkerRestarts
from hedgeopt.execution.worker import run_task
from hedgeopt.results.figures import preload_plotting

#: Fresh pools tried after the first one lost a worker.
RETRIES = 2


def _warn(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def final_restarts(stop: Callable[[], None] | None = None, count: int = 0) -> WorkerRestarts:
    """The end-of-study tasks' restart policy: :data:`RETRIES` fresh pools, a warning before each,
    then one error line. ``stop``: what to kill after a loss (the executor's workers if None);
    ``count``: the losses already met."""
    return WorkerRestarts(
        RETRIES,
        _warn,
        stop or current().stop_workers,
        retrying=lambda n, limit, _lost: (
            "hedgeopt: warning: a worker process died while scoring the best config; "
            f"retrying ({n} of {limit})"
        ),
        exhausted=lambda n: HedgeoptError(
            f"a worker process died while scoring the best config ({n} times); "
            "every trial is kept in the storage: run the same command again to export"
        ),
        count=count,
    )


def timed_task(
    config: dict[str, Any], config_key: str, inner_threads: int, method: str, args: tuple[Any, ...]
) -> tuple[Any, float]:
    """``run_task``'s result and the seconds it took inside the worker."""
    t0 = time.perf_counter()
    return run_task(config, config_key, inner_threads, method, args), time.perf_counter() - t0


def relayed_task(
    relay: tuple[str, str, str],
    config: dict[str, Any],
    config_key: str,
    inner_threads: int,
    method: str,
    args: tuple[Any, ...],
) -> tuple[Any, float]:
    """:func:`timed_task` on a worker that may not see the parent's folder (``executor.staging=
    mlflow``): ``relay`` is ``(the parent's folder, its staged URI, tracking URI)``. The task
    works in a local copy of what is staged (the best config's files, for ``model``), whose
    files go back to the staged URI; its result's paths name the parent's folder again."""
    import shutil
    import tempfile

    from hedgeopt.tracking.staging import fetch_into, relocated, repository

    parent, uri, tracking_uri = Path(relay[0]), relay[1], relay[2]
    local = Path(tempfile.mkdtemp(prefix="hedgeopt-final-"))
    try:
        fetch_into(uri, tracking_uri, local)
        result, seconds = timed_task(
            config, config_key, inner_threads, method, relocated(args, parent, local)
        )
        if any(p.is_file() for p in local.rglob("*")):
            repository(uri, tracking_uri).log_artifacts(str(local))
        return relocated(result, local, parent), seconds
    finally:
        shutil.rmtree(local, ignore_errors=True)


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

    def __init__(
        self, cfg: dict[str, Any], key: str, inner: int, methods: Sequence[str] = ("baselines",)
    ) -> None:
        from joblib.externals.loky import ProcessPoolExecutor

        self.cfg, self.key, self.inner = cfg, key, inner
        self.dead = False
        self._executor = ProcessPoolExecutor(max_workers=1, initializer=_early_worker_init)
        self._futures = {m: self._executor.submit(timed_task, cfg, key, inner, m, ()) for m in methods}
        self._executor.submit(preload_plotting)  # then, still beside the search

    def submit(self, jobs: Sequence[tuple[str, tuple[Any, ...]]]) -> list[Any]:
        """Futures of the jobs' ``(result, seconds)``: those started early, the others queued
        (a future holding the error if the worker is already gone)."""
        from concurrent.futures import Future

        from joblib.externals.loky.process_executor import BrokenProcessPool

        out = []
        for m, a in jobs:
            if m in self._futures and not a:
                out.append(self._futures[m])
                continue
            try:
                out.append(self._executor.submit(timed_task, self.cfg, self.key, self.inner, m, a))
            except BrokenProcessPool as exc:
                failed: Future = Future()
                failed.set_exception(exc)
                out.append(failed)
        return out

    def close(self, kill: bool = False) -> None:
        self._executor.shutdown(wait=not kill, kill_workers=kill)


class Pending:
    """An end-of-study task queued on the early worker; ``result()`` waits for it.

    If the early worker died, the task runs again in a fresh worker (the death counts as the
    first loss of :func:`final_restarts`; the warning is said once).
    """

    def __init__(
        self,
        early: EarlyTasks,
        method: str,
        args: tuple[Any, ...],
        future: Any,
        timings: dict[str, float] | None,
    ) -> None:
        self.early, self.method, self.args = early, method, args
        self._future, self._timings = future, timings

    def result(self) -> Any:
        from joblib.externals.loky.process_executor import BrokenProcessPool

        try:
            result, seconds = self._future.result()
        except BrokenProcessPool as exc:  # TerminatedWorkerError included
            e = self.early
            if not e.dead:
                e.dead = True
                final_restarts(lambda: e.close(kill=True)).after_loss(exc)
            jobs = [(self.method, self.args)]
            [result] = run_final_tasks(e.cfg, e.key, e.inner, jobs, 1, self._timings, lost=1)
            return result
        if self._timings is not None:
            self._timings[self.method] = seconds
        return result


def start_final_tasks(
    jobs: Sequence[tuple[str, tuple[Any, ...]]],
    early: EarlyTasks | None,
    timings: dict[str, float] | None = None,
) -> list[Pending] | None:
    """Queue ``jobs`` on the early worker, in order, to be collected later; None without one."""
    if early is None or early.dead:
        return None
    return [Pending(early, m, a, f, timings) for (m, a), f in zip(jobs, early.submit(jobs), strict=False)]


def run_final_tasks(
    cfg: dict[str, Any],
    key: str,
    inner: int,
    jobs: Sequence[tuple[str, tuple[Any, ...]]],
    n_jobs: int,
    timings: dict[str, float] | None = None,
    lost: int = 0,
    relay: tuple[str, str, str] | None = None,
) -> list[Any]:
    """``[run_task(cfg, key, inner, method, args) for method, args in jobs]`` in ``n_jobs`` workers.

    ``timings``, if given, receives each method's seconds inside its worker; ``lost`` counts the
    worker deaths already met (:func:`final_restarts` allows :data:`RETRIES`); ``relay``: the
    tasks' folder reaches the workers through MLflow's artifact store (:func:`relayed_task`), and
    is downloaded back here.
    """
    executor = current()
    fn, pre = (timed_task, ()) if relay is None else (relayed_task, (relay,))
    restarts = final_restarts(executor.stop_workers, lost)
    while True:
        try:
            out = executor.map(fn, [(*pre, cfg, key, inner, m, a) for m, a in jobs], n_jobs)
            if relay is not None:
                from hedgeopt.tracking.staging import fetch_into

                fetch_into(relay[1], relay[2], Path(relay[0]))
        except Exception as exc:
            if not executor.is_worker_lost(exc):
                raise
            restarts.after_loss(exc)
            continue
        if timings is not None:
            timings.update({m: seconds for (m, _), (_, seconds) in zip(jobs, out, strict=False)})
        return [result for result, _ in out]
