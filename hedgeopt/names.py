"""Every name hedgeopt writes into, or reads from, an Optuna storage or an MLflow store.

Journals, RDB storages and MLflow stores on disk hold these names, and earlier invocations
wrote them: a value here never changes (``tests/hedgeopt/test_names.py`` pins each one).
Anything that writes or reads one of them imports it from here; a trial's record (its metrics,
per-sample values, statistic and steps) is written and read by :mod:`hedgeopt.storages.trial_record` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# --------------------------------------------------------------------- Optuna trial attrs
# User attrs of one trial, written by the process that runs (or asks) it.
# Who runs the trial, one record: {"invocation", "host", "pid"[, "sampler_seed", "worker"]} (read by stamp()).
ATTR_STAMP = "hedgeopt.stamp"
# Journals written before ATTR_STAMP hold its fields as these five attrs, one record each.
ATTR_INVOCATION = "hedgeopt.study.invocation"  # the parent run id of the invocation that ran the trial
ATTR_HOST = "hedgeopt.host"  # the host of the process that runs the trial
ATTR_PID = "hedgeopt.pid"  # that process's id (a dead one marks a lost trial)
ATTR_WORKER = "hedgeopt.worker"  # the executor's name of that worker (Dask: its address), if it has one
ATTR_SAMPLER_SEED = "hedgeopt.sampler_seed"  # the seed of the sampler that proposed the trial's params
ATTR_COUNTED = "hedgeopt.counted"  # an objective failure, which counts toward n_trials
ATTR_FAIL_REASON = "hedgeopt.fail_reason"  # why a FAIL trial failed, one line
ATTR_STEPS = "hedgeopt.steps"  # intermediate values, rows [metric, step, value]
ATTR_BATCH = "hedgeopt.batch"  # deterministic mode: the batch that asked the trial
ATTR_SLOT = "hedgeopt.slot"  # deterministic mode: the trial's slot in its batch
ATTR_METRIC_PREFIX = "metric."  # + a metric's name: a metric the objective returned
ATTR_SAMPLES_PREFIX = "samples."  # + a metric's name: per-sample values, in journals written before the file
ATTR_SAMPLES_FILE = "hedgeopt.samples_file"  # {"path", "sha256"}: older journals' .npz of per-sample values
ATTR_RECORD = "hedgeopt.record"  # the digest of the .npz holding a trial's metrics, steps and samples
ATTR_STATISTIC_PREFIX = "statistic."  # + a metric's name: the statistic of those in-sample values
#: The attrs that belong to one run of a trial, not to its params: a retry starts without them.
RUN_ATTRS = (
    ATTR_COUNTED,
    ATTR_FAIL_REASON,
    ATTR_INVOCATION,
    ATTR_HOST,
    ATTR_PID,
    ATTR_STEPS,
    ATTR_SAMPLES_FILE,
    ATTR_RECORD,
    ATTR_WORKER,
    ATTR_SAMPLER_SEED,
    ATTR_STAMP,
)
RUN_ATTR_PREFIXES = (ATTR_METRIC_PREFIX, ATTR_SAMPLES_PREFIX, ATTR_STATISTIC_PREFIX)
_STAMP_FIELDS = {
    "invocation": ATTR_INVOCATION,
    "host": ATTR_HOST,
    "pid": ATTR_PID,
    "sampler_seed": ATTR_SAMPLER_SEED,
    "worker": ATTR_WORKER,
}


def stamp(user_attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Who ran a trial (``invocation``, ``host``, ``pid``, ``sampler_seed``, ``worker``; the ones
    written): :data:`ATTR_STAMP`, or the separate attrs of a journal written before it.

    One attr of five fields is one journal record a trial instead of five (issue 28).
    """
    fields = {field: user_attrs[attr] for field, attr in _STAMP_FIELDS.items() if attr in user_attrs}
    fields.update(user_attrs.get(ATTR_STAMP) or {})
    return fields


def stamped(user_attrs: Mapping[str, Any], field: str) -> Any:
    """One field of :func:`stamp` (None where it was not written)."""
    if field not in _STAMP_FIELDS:
        raise KeyError(field)
    return stamp(user_attrs).get(field)


# Optuna's own system attr (its retry callback writes it): the number of the trial retried.
OPTUNA_FAILED_TRIAL = "failed_trial"

# --------------------------------------------------------------------- Optuna study attrs
ATTR_FINGERPRINT = "hedgeopt.study.fingerprint"  # user attr: the digest of what the study's results depend on
ATTR_FORCED = "hedgeopt.fingerprint_forced"  # user attr: the changes resumed past with resume=force
ATTR_IDENTITY = "hedgeopt.identity"  # system attr: the settings the fingerprint digests
ATTR_ORDINALS = "hedgeopt.invocations"  # user attr: how many invocations have run on the study

# --------------------------------------------------------------------- MLflow run tags
TAG_ROLE = "hedgeopt.role"  # what a run is: one of the ROLE_* values below
ROLE_STUDY = "study"  # an invocation's parent run
ROLE_TRIAL = "trial"  # one trial's nested run
ROLE_REPLAY = "replay"  # a +replay evaluation
TAG_STUDY = "hedgeopt.study"  # parent and replay runs: the study name
TAG_STORAGE = "hedgeopt.storage"  # parent run: the Optuna storage, its password masked
TAG_HOST = "hedgeopt.host"  # parent run: the host of the invocation's process
TAG_PID = "hedgeopt.pid"  # parent run: that process's id (a dead one marks an abandoned run)
TAG_VERSION = "hedgeopt.version"  # every run: the hedgeopt version that wrote it
TAG_REPLAY_OF = "hedgeopt.replay_of"  # replay run: the export file replayed
TAG_TRIAL_NUMBER = "hedgeopt.trial_number"  # trial run: the Optuna trial number
TAG_TRIAL_STATE = "hedgeopt.trial_state"  # trial run: COMPLETE, PRUNED or FAIL
TAG_FAIL_REASON = "hedgeopt.fail_reason"  # trial run: why a FAIL trial failed
TAG_RETRY_OF = "hedgeopt.retry_of"  # trial run: the number of the lost trial this one retries
TAG_OPTUNA_TRIAL_ID = "hedgeopt.optuna_trial_id"  # trial run: Optuna's internal trial id
TAG_ADOPTED = "hedgeopt.adopted"  # trial run: logged by a later invocation than the one that ran it
TAG_BEST = "hedgeopt.best"  # trial run: "true" on the study's best trial, "false" on an earlier best
TAG_BEST_TRIAL = "hedgeopt.best_trial"  # parent run: the best trial's number
TAG_BEST_TRIAL_RUN_ID = "hedgeopt.best_trial_run_id"  # parent run: the best trial's run id
TAG_VERDICT = "hedgeopt.verdict"  # parent run: wins, ties or loses against the best baseline
TAG_BEST_BASELINE = "hedgeopt.best_baseline"  # parent run: the baseline the verdict compares with
TAG_VERDICT_TEXT = "hedgeopt.verdict_text"  # parent run: the verdict in words, one line
TAG_SEARCH_SPACE = "hedgeopt.search_space"  # parent run: the tuned keys and their ranges, one line
TAG_TRIAL_COUNTS = "hedgeopt.trial_counts"  # parent run: complete/pruned/fail counts, one line
BEST_RUN_SUFFIX = " (best)"  # the best trial's run name: its trial-NNNN name + this
# MLflow's own tags and input tags that hedgeopt writes or reads
MLFLOW_PARENT = "mlflow.parentRunId"  # a nested run's parent run id
MLFLOW_RUN_NAME = "mlflow.runName"  # the run's name in the UI
MLFLOW_USER = "mlflow.user"  # who ran it
MLFLOW_SOURCE_NAME = "mlflow.source.name"  # the command line that ran it
MLFLOW_SOURCE_TYPE = "mlflow.source.type"  # LOCAL
MLFLOW_GIT_COMMIT = "mlflow.source.git.commit"  # the checkout's commit, when run from one
MLFLOW_NOTE = "mlflow.note.content"  # the run's description (markdown) in the UI
MLFLOW_EXPERIMENT_KIND = "mlflow.experimentKind"  # experiment tag: which overview the UI opens
MLFLOW_DATA_CONTEXT = "mlflow.data.context"  # dataset input tag: training or evaluation

# --------------------------------------------------------------------- MLflow metric names
OBJECTIVE_METRIC_PREFIX = "objective."  # + a metric's name: a trial's optimised value(s)
STEP_METRIC_SUFFIX = "_by_step"  # a metric's name + this: its intermediate values, by step
