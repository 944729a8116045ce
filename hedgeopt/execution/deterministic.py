"""Deterministic mode (``deterministic=true``): the same seed gives the same study.

Asynchronous parallel search depends on the order in which trials finish: what the sampler
proposes next depends on which trials are done. Here the parent process asks trials in
batches of ``n_jobs`` (under the slot lock), each proposal made by a sampler seeded from
``(seed, batch, slot)``, where ``batch`` is the number of trials the study held when the
batch was asked; the workers run the batch and tell every trial; the next batch is asked
only once the whole batch is told. Proposals then depend only on the study's history, never
on timing, so a rerun gives the same trials, best config and export, whatever worker ran
which trial. Pruning decisions look only at trials of earlier batches, for the same reason.

The cost: a batch waits for its slowest trial, so workers idle when trial times vary.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import Any

from hedgeopt.execution.executors import current, map_in_workers
from hedgeopt.execution.loky_pool import WORKER_LOST, WorkerRestarts
from hedgeopt.names import ATTR_BATCH, ATTR_SLOT, ATTR_STAMP

_STUDIES: dict[str, Any] = {}  # per worker process: the invocation's study, by invocation


class EarlierBatches:
    """A read-only view of a study that shows a pruner only the trials numbered below ``limit``."""

    def __init__(self, study: Any, limit: int) -> None:
        self._study, self._limit = study, limit

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[Any]:
        return [t for t in self._study.get_trials(deepcopy=deepcopy, states=states) if t.number < self._limit]

    def _get_trials(self, deepcopy: bool = True, states: Any = None, use_cache: bool = False) -> list[Any]:
        return self.get_trials(deepcopy=deepcopy, states=states)

    @property
    def trials(self) -> list[Any]:
        return self.get_trials()


def run_asked(task: Any, trial_id: int, params: dict[str, Any], batch: int) -> str:
    """In a worker: run one trial the parent asked, and tell it. Returns its final state."""
    from hedgeopt.execution.executors.base import ignore_sigint, watch_parent

    ignore_sigint()
    watch_parent(getattr(task, "parent_pid", None))
    import optuna
    from optuna.storages._heartbeat import get_heartbeat_thread
    from optuna.trial import TrialState

    from hedgeopt.config.samplers import build_pruner
    from hedgeopt.execution.trial import execute_trial
    from hedgeopt.execution.worker import get_objective, limit_threads
    from hedgeopt.storages.opening import open_storage

    cfg, settings = task.config, task.settings  # validated by the parent
    study = _STUDIES.get(task.invocation)
    if study is None:  # once per process: the objective, the study
        limit_threads(task.inner_threads)
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        get_objective(cfg, task.config_key)
        limit_threads(task.inner_threads)
        study = optuna.load_study(
            study_name=settings.study_name,
            storage=open_storage(settings.storage),
            pruner=build_pruner(settings.pruner),
        )
        _STUDIES.clear()
        _STUDIES[task.invocation] = study
    objective = get_objective(cfg, task.config_key)
    trial = optuna.Trial(study, trial_id)
    view = EarlierBatches(study, batch)

    def should_prune() -> bool:
        frozen = study._storage.get_trial(trial_id)  # noqa: SLF001
        return bool(study.pruner.prune(view, frozen))

    done = {"complete": 0, "pruned": 0, "failed": 0}
    with get_heartbeat_thread(trial_id, study._storage):  # noqa: SLF001
        try:
            values = execute_trial(trial, lambda _t: dict(params), objective, task, done, should_prune)
        except optuna.TrialPruned:
            study.tell(trial, state=TrialState.PRUNED)
            return "PRUNED"
        except Exception:
            study.tell(trial, state=TrialState.FAIL)
            return "FAIL"
    study.tell(trial, values)
    return "COMPLETE"


def _ask_batch(study: Any, task: Any, size: int) -> tuple[int, list[tuple[int, dict[str, Any]]]]:
    """Ask ``size`` trials of ``task``'s invocation, each from a sampler seeded by (seed, batch,
    slot), and sample their params here; returns ``(batch, [(trial id, params)])``."""
    from hedgeopt.config.samplers import build_sampler, is_grid
    from hedgeopt.seeds import batch_sampler_seed, sampler_seed

    settings, space, invocation = task.settings, task.space, task.invocation

    batch = len(study.get_trials(deepcopy=False))
    asked = []
    for slot in range(size):
        derived = batch_sampler_seed(settings.seed, batch, slot)
        seed = sampler_seed(settings.seed, derived, grid=is_grid(settings.sampler))
        study.sampler = build_sampler(settings.sampler, space, seed)
        trial = study.ask()
        # the parent owns the trial until a worker stamps it with its own process
        for k, v in (
            (ATTR_STAMP, {"invocation": invocation, "host": socket.gethostname(), "pid": os.getpid()}),
            (ATTR_BATCH, batch),
            (ATTR_SLOT, slot),
        ):
            trial.set_user_attr(k, v)
        asked.append((trial._trial_id, space.suggest(trial)))  # noqa: SLF001
    return batch, asked


def run_batches(study: Any, tasks: list[Any], say: Callable[[str], None]) -> None:
    """The parent's loop: ask a batch, let the workers run and tell it, repeat; the config,
    settings, space and invocation are the worker tasks' (one per worker)."""
    from hedgeopt.storages.slot_locks import slot_lock
    from hedgeopt.storages.trial_bookkeeping import count_trials, fail_and_retry, invocation_failures

    task, n_workers = tasks[0], len(tasks)
    settings, invocation = task.settings, task.invocation
    lock = slot_lock(settings.storage, settings.study_name, settings.workdir)
    executor = current()
    restarts = WorkerRestarts(settings.max_failures, say, executor.stop_workers)
    try:
        while True:
            if task.deadline is not None and time.time() >= task.deadline:
                return
            if len(invocation_failures(study, invocation)) >= settings.max_failures:
                return
            lock.acquire()
            try:
                n_counted, _ = count_trials(study)
                size = min(n_workers, settings.n_trials - n_counted)
                if size <= 0:
                    return
                batch, asked = _ask_batch(study, task, size)
            finally:
                lock.release()
            try:
                # always n_workers: loky then keeps the same processes (and their objectives)
                map_in_workers(run_asked, [(task, tid, params, batch) for tid, params in asked], n_workers)
            except Exception as exc:
                if not executor.is_worker_lost(exc):
                    raise
                lost_ids = [tid for tid, _ in asked]
                restarts.after_loss(exc, lambda ids=lost_ids: fail_and_retry(study, ids, WORKER_LOST))
    finally:
        lock.close()
