"""One invocation of a study: workers search, the parent logs, then export and report.

The parent process never runs trials. It starts the executor (loky here, or a Dask cluster,
whose workers it first probes), creates (or loads) the Optuna study, opens the MLflow parent
run, starts the worker processes through the executor, and while they work it
polls the storage: every trial its workers finish becomes a nested MLflow run, and the
progress bar moves. When the workers stop it scores the best config out-of-sample, collects
baselines and plots (in the same worker processes, whose objectives are already built),
writes the export and prints the summary.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
import yaml

from hedgeopt.config.search_space import SearchSpace
from hedgeopt.config.settings import StudySettings
from hedgeopt.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, ConfigError
from hedgeopt.execution.executors import build_executor, current, use
from hedgeopt.execution.lost_workers import fail_running, probe
from hedgeopt.execution.worker import WorkerTask
from hedgeopt.execution.worker_pool import (
    WorkerPlan,
    describe_dataset,
    prewarm_workers,
    run_worker_pool,
    start_early_tasks,
    worker_plan,
)
from hedgeopt.framework_keys import FRAMEWORK_KEYS, SETTINGS_KEYS
from hedgeopt.names import ATTR_ORDINALS, TAG_ADOPTED, TAG_STORAGE, TAG_STUDY, stamped
from hedgeopt.protocol import flatten
from hedgeopt.results.figures import preload_plotting
from hedgeopt.seeds import worker_sampler_seed
from hedgeopt.storages.opening import open_storage
from hedgeopt.storages.slot_locks import slot_lock
from hedgeopt.storages.trial_bookkeeping import count_trials, reap_orphans
from hedgeopt.study.fingerprint import identify_study
from hedgeopt.study.finish import StudyFailed, finish_study
from hedgeopt.study.invocation import Invocation, masked_config, say
from hedgeopt.study.phases import PhaseClock
from hedgeopt.study.warm_start import enqueue_warm_start
from hedgeopt.tracking.parent_run import log_search_space
from hedgeopt.tracking.staging import RemoteStaging
from hedgeopt.tracking.tracker import Tracker
from hedgeopt.workdir import staging_dir


def _create_study(settings: StudySettings, cfg: Mapping[str, Any] | None = None) -> optuna.Study:
    storage = open_storage(settings.storage)
    try:  # loading first: a journal would record even a failed create
        study = optuna.load_study(study_name=settings.study_name, storage=storage)
    except KeyError:
        study = optuna.create_study(
            study_name=settings.study_name,
            storage=storage,
            directions=list(settings.directions),
            load_if_exists=True,
        )
    existing = [d.name.lower() for d in study.directions]
    if existing != list(settings.directions):
        raise ConfigError(
            f"study {settings.study_name!r} already exists in "
            f"{settings.storage.masked} with directions {existing}, not "
            f"{list(settings.directions)}; choose another study_name"
        )
    if cfg is not None:
        identify_study(study, cfg, settings, say)
    return study


def run_study(
    cfg: dict[str, Any],
    settings: StudySettings,
    space: SearchSpace,
    warm_start: Mapping[str, Any] | None = None,
) -> int:
    """Start the executor, then search, log, export. Returns the exit status.

    ``warm_start``: the ``+overlay=`` files' values (``{dotted key: value}``), replayed as the
    first trial of a new study.
    """
    clock = PhaseClock("imports and config")
    with use(build_executor(settings)) as executor:
        if executor.kind != "local":  # a remote worker must reach the storage and the staging folder
            shared = settings.executor.staging == "shared"
            probe(executor, settings.storage, staging_dir(settings.workdir) if shared else None)
            clock.mark("executor started, a worker probed")
        return _run_study(cfg, settings, space, clock, warm_start or {})


def _run_study(
    cfg: dict[str, Any],
    settings: StudySettings,
    space: SearchSpace,
    clock: PhaseClock,
    warm_start: Mapping[str, Any],
) -> int:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for note in space.notes:
        say(f"hedgeopt: note: {note}")
    study = _create_study(settings, cfg)
    enqueue_warm_start(study, settings, space, warm_start, say)
    clock.mark("optuna storage")
    inv = Invocation(cfg, settings, space)
    inv.clock = clock
    tracker = _open_tracking(study, inv)
    invocation = tracker.start_parent(
        f"{settings.study_name}-{time.strftime('%Y%m%d-%H%M%S')}",
        parent_params(cfg, settings, space),
        {TAG_STUDY: settings.study_name, TAG_STORAGE: settings.storage.masked},
    )
    tracker.log_text(invocation, yaml.safe_dump(masked_config(cfg), sort_keys=False), "config.yaml")
    log_search_space(tracker, invocation, space, cfg.get("search_space"))
    staging = staging_dir(settings.workdir, invocation)
    staging.mkdir(parents=True, exist_ok=True)
    status = "FAILED"
    try:
        status = _search_and_finish(study, tracker, inv, invocation, staging)
        return EXIT_OK if status == "FINISHED" else EXIT_FAILED
    except KeyboardInterrupt:
        status = "KILLED"
        return _interrupted(study, tracker, inv, invocation, staging)
    except StudyFailed as exc:
        say(f"hedgeopt: error: {exc}")
        return EXIT_FAILED
    finally:
        if inv.early is not None:
            inv.early.close(kill=True)
        if current().kind != "local":  # remote workers stop before their staging folder goes
            current().stop_workers()
        tracker.finish(invocation, status)
        shutil.rmtree(staging, ignore_errors=True)
        if inv.remote is not None:
            inv.remote.remove(invocation)
        clock.mark("export and artifact upload")
        clock.dump()


def _open_tracking(study: optuna.Study, inv: Invocation) -> Tracker:
    """Open the MLflow store while the workers start and the baselines' worker begins."""
    settings = inv.settings
    plan = worker_plan(settings, count_trials(study)[0])
    warm = prewarm_workers(inv, plan)  # worker start-up overlaps MLflow's
    inv.early = start_early_tasks(inv, plan)  # so does the baselines' worker
    try:
        tracker = Tracker(
            settings.tracking_uri,
            settings.study_name,
            settings.artifact_location,
            settings.workdir,
            description=inv.cfg.get("description"),
        )
        inv.clock.mark("mlflow store")
        warm.join()
        inv.remote = _remote_staging(tracker, settings, plan.n_workers)  # probed on a warm worker
    except BaseException:
        if inv.early is not None:
            inv.early.close(kill=True)
        raise
    tracker.dataset = describe_dataset(inv, plan)
    inv.clock.mark("workers started, objectives built")
    return tracker


def _remote_staging(tracker: Tracker, settings: StudySettings, n_workers: int) -> RemoteStaging | None:
    """With ``executor.staging=mlflow``: the experiment's staging area, which a worker has just
    written to and read back (any failure one line, exit 2, before the parent run exists)."""
    if settings.executor.staging != "mlflow":
        return None
    location = tracker.client.get_experiment(tracker.experiment_id).artifact_location
    remote = RemoteStaging(location, tracker.tracking_uri)
    probe(current(), None, None, (remote.root, tracker.tracking_uri), n_workers)
    return remote


def parent_params(
    cfg: Mapping[str, Any], settings: StudySettings, space: SearchSpace | None = None
) -> dict[str, Any]:
    """The parent run's params: the framework settings as in effect, then the domain's keys.

    The tuned keys (``space``) are left out: the end of the study logs the best config's values
    of them, so that the parent's params are the exported config, not the base one.
    """
    params = {k: getattr(settings, k) for k in SETTINGS_KEYS}  # n_trials after the grid sampler's cap
    params.update(metrics=list(settings.metrics), directions=list(settings.directions))
    params["storage"] = settings.storage.masked
    params["sampler"] = settings.sampler_target
    params["pruner"] = settings.pruner_target
    params["objective"] = settings.objective_target
    params["executor"] = settings.executor.kind
    params["workers"] = settings.workers(current().slots() if current().kind != "local" else None)
    tuned = set() if space is None else set(space.by_name)
    domain = flatten({k: v for k, v in cfg.items() if k not in FRAMEWORK_KEYS})
    params.update({k: v for k, v in domain.items() if k not in tuned})
    return params


def _search_and_finish(
    study: optuna.Study, tracker: Tracker, inv: Invocation, invocation: str, staging: Path
) -> str:
    """Adopt what killed invocations left, search, then export; the parent run's status."""
    settings = inv.settings
    reap_orphans(study)
    _adopt_unlogged(study, tracker, inv, staging.parent)  # then the folders of killed invocations
    n_counted, _ = count_trials(study)
    plan = worker_plan(settings, n_counted)
    tasks = _worker_tasks(study, inv, invocation, staging, n_counted, plan)
    if plan.remaining:
        say(
            f"hedgeopt: study {settings.study_name}: {n_counted} of {settings.n_trials} trials "
            f"done, running {plan.remaining} more on {plan.n_workers} worker(s); storage "
            f"{settings.storage.masked}"
        )
    else:
        say(
            f"hedgeopt: study {settings.study_name} already has {n_counted} trials "
            f"(n_trials={settings.n_trials}); exporting"
        )
    inv.clock.mark("parent run, adoption")
    # the parent idles while its workers search: import what the export will draw with
    threading.Thread(target=preload_plotting, daemon=True).start()
    t_search = time.perf_counter()
    _run_workers(study, tracker, inv, invocation, staging, tasks, n_counted, plan.remaining)
    if plan.remaining and inv.logged:
        # search throughput as a user sees it: workers started -> every trial logged
        search_s = time.perf_counter() - t_search
        tracker.log_metrics(
            invocation, {"search_seconds": search_s, "trials_per_s": len(inv.logged) / search_s}
        )
    if plan.remaining:  # trials of dead invocations that heartbeats failed meanwhile
        _adopt_unlogged(study, tracker, inv)
    inv.clock.mark("search")
    return finish_study(study, tracker, inv, invocation, plan.n_workers, plan.inner)


def _interrupted(
    study: optuna.Study, tracker: Tracker, inv: Invocation, invocation: str, staging: Path
) -> int:
    """Ctrl-C: stop the workers, fail their trials as interrupted, log what finished.

    loky's workers are killed and their trials reaped by process id; remote workers are asked
    to stop, and what still runs after the executor's grace period is failed as interrupted.
    """
    if inv.early is not None:
        inv.early.close(kill=True)
        inv.early = None
    executor = current()
    executor.stop_workers()
    reason = "interrupted: the invocation was stopped (Ctrl-C)"
    reap_orphans(study, reason, invocation)
    if executor.alive_workers() is not None:
        fail_running(study, invocation, reason)
    try:
        inv.poll(study, tracker, invocation, staging, None)
    except Exception:
        pass
    n, _ = count_trials(study)
    say(
        f"hedgeopt: interrupted with {n} of {inv.settings.n_trials} trials done; run the same "
        "command again to resume"
    )
    return EXIT_INTERRUPTED


def _worker_tasks(
    study: optuna.Study, inv: Invocation, invocation: str, staging: Path, n_counted: int, plan: WorkerPlan
) -> list[WorkerTask]:
    """One task per worker, each with its own sampler seed."""
    settings = inv.settings
    deadline = None if settings.timeout is None else time.time() + settings.timeout
    # Invocations running at once on one study need distinct sampler seeds: each claims an
    # ordinal in the study (0 for the first), which spreads its workers' seeds apart.
    ordinal = _claim_ordinal(study, settings)
    return [
        WorkerTask(
            inv.cfg,
            inv.key,
            settings,
            inv.space,
            w,
            worker_sampler_seed(settings.seed, n_counted, ordinal, w),
            invocation,
            str(staging.resolve()),
            deadline,
            plan.inner,
            parent_pid=os.getpid() if current().kind == "local" else None,
            staging_uri=None if inv.remote is None else inv.remote.uri(invocation),
        )
        for w in range(plan.n_workers)
    ]


def _claim_ordinal(study: optuna.Study, settings: StudySettings) -> int:
    """This invocation's ordinal among those that ran on the study (under the slot lock)."""
    lock = slot_lock(settings.storage, settings.study_name, settings.workdir)
    lock.acquire()
    try:
        n = int(study.user_attrs.get(ATTR_ORDINALS, 0))
        study.set_user_attr(ATTR_ORDINALS, n + 1)
        return n
    finally:
        lock.close()


def _adopt_unlogged(
    study: optuna.Study, tracker: Tracker, inv: Invocation, clean: Path | None = None
) -> None:
    """Log finished trials that no live invocation will log, then remove the staging folders
    (under ``clean``) of invocations that have ended.

    Those of an earlier, killed invocation, and those whose worker died before stamping them
    with its invocation (reaped later as lost: no poller claims them). Under the study's slot
    lock: two invocations resuming at once both took the same trials for unlogged (each logged
    them), and the first removed the dead run's staging folder while the second uploaded it.
    """
    lock = slot_lock(inv.settings.storage, inv.settings.study_name, inv.settings.workdir)
    lock.acquire()
    try:
        _adopt_locked(study, tracker, inv)
        if clean is not None:
            tracker.clean_staging(clean)  # their trials are logged now
            if inv.remote is not None:
                inv.remote.clean(tracker.invocation_ended)
    finally:
        lock.close()


def _adopt_locked(study: optuna.Study, tracker: Tracker, inv: Invocation) -> None:
    finished = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    if not finished:
        return
    abandoned = tracker.abandoned_invocations()
    logged = tracker.logged_trial_numbers(abandoned)
    for t in finished:
        if t.number in logged:
            continue
        owner = stamped(t.user_attrs, "invocation")
        if owner is not None and owner not in abandoned:
            continue  # a live invocation elsewhere will log it
        folder = staging_dir(inv.settings.workdir, str(owner)) / str(t.number)
        inv._log_trial(tracker, t, folder, {TAG_ADOPTED: "true"})


def _run_workers(
    study: optuna.Study,
    tracker: Tracker,
    inv: Invocation,
    invocation: str,
    staging: Path,
    tasks: list[WorkerTask],
    n_counted: int,
    remaining: int,
) -> None:
    """Run the worker pool while a poller logs finished trials and moves the progress bar."""
    if not remaining:
        return
    bar = None
    if inv.settings.progress:
        from hedgeopt.console import progress_bar

        bar = progress_bar(inv.settings.n_trials, n_counted, inv.settings.study_name)
    stop = threading.Event()
    poller = threading.Thread(
        target=inv.poll_forever, args=(stop, study, tracker, invocation, staging, bar), daemon=True
    )
    poller.start()
    try:
        run_worker_pool(study, inv, invocation, tasks)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        stop.set()
        poller.join()
        inv.poll(study, tracker, invocation, staging, bar)
        raise StudyFailed(
            f"a worker failed: {type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[-1][:300]}"
        ) from exc
    finally:
        stop.set()
        poller.join()
        if bar is not None:
            try:
                inv.poll(study, tracker, invocation, staging, bar)
            finally:
                bar.close()
    inv.poll(study, tracker, invocation, staging, None)
    if inv.error is not None:
        say(f"hedgeopt: warning: MLflow logging hiccup: {inv.error}")
