"""The invocation's worker processes: how many, starting them early, running and restarting them.

Workers run where the invocation's executor puts them (:mod:`hedgeopt.execution.executors`:
loky processes here by default, or a Dask cluster). They start while the parent opens the
MLflow store and build their objectives then (kept per process, by config key), so the search
finds them warm; with loky one more process computes the baselines beside the search. A loky
pool that loses a worker is started again with fresh sampler seeds, its lost trials failed and
queued for a retry; a Dask cluster keeps its other workers, the parent fails the lost worker's
trials, and the scheduler re-runs its loop, which draws a fresh seed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from hedgeopt.config.settings import StudySettings
from hedgeopt.execution.deterministic import run_batches
from hedgeopt.execution.executors import current
from hedgeopt.execution.final_tasks import EarlyTasks
from hedgeopt.execution.loky_pool import WORKER_LOST, WorkerRestarts
from hedgeopt.execution.lost_workers import reap_lost_workers
from hedgeopt.execution.trial import WorkerTask
from hedgeopt.execution.worker import prewarm, run_task, run_worker
from hedgeopt.seeds import restarted_sampler_seed
from hedgeopt.storages.trial_bookkeeping import reap_orphans
from hedgeopt.study.invocation import Invocation, say


@dataclass(frozen=True)
class WorkerPlan:
    """How this invocation searches: trials still to run, worker processes, threads in each
    (0: each worker takes its share of its own host's cores)."""

    remaining: int
    n_workers: int
    inner: int


def worker_plan(settings: StudySettings, n_counted: int) -> WorkerPlan:
    """The plan for a study that already counts ``n_counted`` trials, on the current executor."""
    remaining = max(0, settings.n_trials - n_counted)
    executor = current()
    if executor.kind == "local":
        n_workers = max(1, min(settings.workers(), remaining))
        return WorkerPlan(remaining, n_workers, max(1, (os.cpu_count() or 1) // n_workers))
    n_workers = max(1, min(settings.workers(executor.slots()), remaining))
    return WorkerPlan(remaining, n_workers, 0)


def prewarm_workers(inv: Invocation, plan: WorkerPlan) -> threading.Thread:
    """Start the worker processes and build their objectives in the background.

    Process start-up, imports and the objective's set-up take seconds, as does opening the
    MLflow store in the parent; done at once they overlap. The executor reuses the same
    workers for the search, and each worker keeps its objective (cached by config key).
    """
    executor = current()
    if executor.kind == "local":
        # joblib before the thread: the thread and the early worker's loky import would race
        # (a partially initialised joblib.externals.loky)
        import joblib.externals.loky  # noqa: F401

    def warm() -> None:
        try:
            executor.map(prewarm, [(inv.cfg, inv.key, plan.inner)] * plan.n_workers, plan.n_workers)
        except BaseException:  # the search itself reports set-up failures
            pass

    thread = threading.Thread(target=warm, daemon=True)
    thread.start()
    return thread


def describe_dataset(inv: Invocation, plan: WorkerPlan) -> Mapping[str, Any] | None:
    """``Objective.dataset()``, asked of a warm worker (the parent never builds objectives)."""
    try:
        [desc] = current().map(run_task, [(inv.cfg, inv.key, plan.inner, "dataset", ())], plan.n_workers)
    except Exception as exc:  # noqa: BLE001  (the search reports set-up failures itself)
        say(f"hedgeopt: warning: no dataset logged: {type(exc).__name__}: {exc}")
        return None
    return desc


def start_early_tasks(inv: Invocation, plan: WorkerPlan) -> EarlyTasks | None:
    """The baselines' worker, when this invocation will search (see :class:`EarlyTasks`); loky's,
    so only with the local executor (elsewhere the final tasks run on the cluster afterwards)."""
    if not plan.remaining or current().kind != "local":
        return None
    return EarlyTasks(inv.cfg, inv.key, plan.inner)


def run_worker_pool(inv: Invocation, tasks: list[WorkerTask]) -> None:
    """Run the worker loops; when a worker dies (SIGKILL, out of memory, a crash), go on.

    loky stops every worker of a pool once one of them dies, so the lost trials (the dead
    worker's and its siblings') are failed and queued for a retry with the same params, and a
    fresh pool, with fresh sampler seeds, carries on. More than ``max_failures`` such deaths
    end the invocation. On a Dask cluster the parent fails the trials of workers the scheduler
    no longer lists (``watch``), and the re-run loops draw fresh seeds themselves.
    """
    study = inv.study
    if inv.settings.deterministic:  # batches asked here, told before the next
        run_batches(study, tasks, say)
        return
    executor = current()
    stop = executor.stop_flag()
    if stop is not None:
        tasks = [replace(t, stop=stop) for t in tasks]

    def watch() -> None:
        lost = reap_lost_workers(study, inv.id, executor.alive_workers)
        if lost:
            say(f"hedgeopt: a worker left the cluster; {lost} trial(s) will be retried")

    restarts = WorkerRestarts(inv.settings.max_failures, say, executor.stop_workers)
    while True:
        try:
            executor.run_loops(run_worker, tasks, watch)
            return
        except Exception as exc:
            if not executor.is_worker_lost(exc) or not executor.restart_after_loss():
                raise
            restarts.after_loss(exc, lambda: reap_orphans(study, WORKER_LOST, inv.id))
            tasks = [
                replace(t, sampler_seed=restarted_sampler_seed(t.sampler_seed, restarts.count, t.worker))
                for t in tasks
            ]
