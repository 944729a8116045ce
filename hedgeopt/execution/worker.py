"""What runs inside one worker process: build the objective once, then claim and run trials.

Each worker opens the shared storage itself, builds its own seeded sampler, limits inner
thread pools (BLAS, numba, torch) to its share of the cores, and loops: take the storage's
slot lock, stop if the study already has ``n_trials`` counted trials, otherwise let
``study.optimize(n_trials=1)`` ask a trial (the objective wrapper releases the lock as soon as
the trial exists) and run it (:func:`hedgeopt.execution.trial.execute_trial`). The loop stops at
the deadline, the executor's stop flag, the failure budget, or when the parent is gone; only the
parent logs runs (none is left open).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import Any

from hedgeopt.execution.executors.base import (
    ignore_sigint,
    local_inner_threads,
    parent_gone,
    watch_parent,
)
from hedgeopt.execution.trial import WorkerTask, execute_trial

_OBJECTIVES: dict[str, Any] = {}  # objective instances cached per worker process

THREAD_ENV = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def limit_threads(n: int) -> None:
    """Cap BLAS/OpenMP, numba and torch thread pools at ``n`` in this process (0: this worker's
    share of its host's cores)."""
    if n <= 0:
        n = local_inner_threads()
    for var in THREAD_ENV:
        if var == "NUMBA_NUM_THREADS" and "numba" in sys.modules:
            continue  # numba refuses a changed value once its threads run: set_num_threads below
        os.environ[var] = str(n)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except Exception:
        pass
    if "numba" in sys.modules:
        try:
            import numba

            numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
        except Exception:
            pass
    if "torch" in sys.modules:
        try:
            import torch

            torch.set_num_threads(n)
        except Exception:
            pass


def get_objective(config: Mapping[str, Any], key: str) -> Any:
    """The objective for ``config``, built once per process (heavy set-up happens here)."""
    obj = _OBJECTIVES.get(key)
    if obj is None:
        from hedgeopt.execution.objective_builder import build_objective

        obj = build_objective(config)
        _OBJECTIVES.clear()
        _OBJECTIVES[key] = obj
    return obj


def run_worker(task: WorkerTask) -> dict[str, int]:
    """Run trials until the study has enough, the deadline passes, failures run out or the
    executor's stop flag is set."""
    # Ctrl-C is the parent's to handle: it stops the workers and records their trials as
    # interrupted. A worker that took SIGINT itself would die mid-write with a traceback.
    ignore_sigint()
    if task.parent_pid is not None:
        watch_parent(task.parent_pid)
    import optuna

    from hedgeopt.storages.slot_locks import slot_lock
    from hedgeopt.storages.trial_bookkeeping import (
        count_trials,
        fail_stale,
        invocation_failures,
        reap_orphans,
    )

    limit_threads(task.inner_threads)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    settings = task.settings  # validated by the parent
    objective = get_objective(task.config, task.config_key)
    limit_threads(task.inner_threads)  # again: the objective may have imported torch or numba
    study = _load_study(task)
    lock = slot_lock(settings.storage, settings.study_name, settings.workdir)
    done = {"complete": 0, "pruned": 0, "failed": 0}
    stamp = {"sampler_seed": task.sampler_seed}

    def wrapped(trial: optuna.Trial) -> Any:
        lock.release()  # the trial exists: let the next worker claim a slot
        return execute_trial(trial, task.space.suggest, objective, task, done, stamp=stamp)

    try:
        while True:
            if task.deadline is not None and time.time() >= task.deadline:
                break
            if task.stop is not None and task.stop.is_set():
                break
            if parent_gone():  # nobody would log the trial; the watch ends the process anyway
                break
            if len(invocation_failures(study, task.invocation)) >= settings.max_failures:
                break
            lock.acquire()
            try:
                # Trials of lost workers: failed and retried (a WAITING copy that the next
                # ask pops), so they stop counting and their params run again.
                fail_stale(study)
                reap_orphans(study, invocation=task.invocation)
                n_counted, n_running = count_trials(study)
                if n_counted >= settings.n_trials:
                    if n_running == 0:
                        break
                    lock.release()  # a running trial may still die and need replacing
                    time.sleep(0.25)
                    continue
                try:
                    study.optimize(wrapped, n_trials=1, catch=(Exception,))
                except ValueError as exc:  # the parent failed the trial meanwhile (taken for lost)
                    if "Cannot tell a" not in str(exc):
                        raise
            finally:
                lock.release()
    finally:
        lock.close()
    return done


def _load_study(task: WorkerTask) -> Any:
    """The shared study, with this worker's seeded sampler and the study's pruner."""
    import optuna

    from hedgeopt.config.samplers import build_pruner, build_sampler, is_grid
    from hedgeopt.seeds import sampler_seed
    from hedgeopt.storages.opening import open_storage

    sampler_cfg, settings = task.settings.sampler, task.settings
    seed = sampler_seed(settings.seed, task.sampler_seed, grid=is_grid(sampler_cfg))
    return optuna.load_study(
        study_name=settings.study_name,
        storage=open_storage(settings.storage),
        sampler=build_sampler(sampler_cfg, task.space, seed),
        pruner=build_pruner(task.settings.pruner),
    )


def run_task(
    config: dict[str, Any], config_key: str, inner_threads: int, method: str, args: tuple[Any, ...]
) -> Any:
    """Run one of the objective's other methods (evaluate, baselines, plots) in a worker."""
    watch_parent()
    limit_threads(inner_threads)
    objective = get_objective(config, config_key)
    limit_threads(inner_threads)
    return getattr(objective, method)(*args)


def prewarm(config: dict[str, Any], config_key: str, inner_threads: int) -> int:
    """Build this worker's objective ahead of the search; returns the worker's pid."""
    ignore_sigint()
    watch_parent()
    limit_threads(inner_threads)
    get_objective(config, config_key)
    limit_threads(inner_threads)
    return os.getpid()
