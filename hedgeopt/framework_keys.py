"""The framework's top-level config keys, listed once; every other key belongs to the objective.

The parent logs the settings as params and the rest as the domain's params, the search space
refuses to tune any of them, the worker cache key and the study identity leave some out.
"""

from __future__ import annotations

#: Scalar framework settings, in the order the parent run logs them as params.
SETTINGS_KEYS = (
    "study_name",
    "n_trials",
    "n_jobs",
    "timeout",
    "seed",
    "workdir",
    "storage",
    "max_failures",
    "heartbeat_interval",
    "grace_period",
    "export_dir",
    "progress",
    "metrics",
    "directions",
    "replay",
    "deterministic",
    "resume",
)

#: Framework config groups (the parent logs the sampler's, pruner's and objective's targets).
GROUP_KEYS = ("sampler", "pruner", "objective", "search_space", "mlflow")

#: Every framework key: none can be tuned, none is a param of the domain.
FRAMEWORK_KEYS = frozenset(SETTINGS_KEYS + GROUP_KEYS)

#: Framework keys that change what a trial's value means: the study's identity is built from these
#: (and from every key of the objective's own).
IDENTITY_KEYS = frozenset({"seed", "metrics", "directions", "objective", "search_space"})

#: Framework keys that do not change what a trial's value means (not in the study's identity).
NOT_IDENTITY = FRAMEWORK_KEYS - IDENTITY_KEYS

#: Settings outside the identity that stay in a worker's cache key (the study's name, failure and
#: heartbeat limits, run mode): a worker process reused by another study with other such settings
#: builds its objective afresh rather than share one keyed only by the domain.
_WORKER_SETTINGS = frozenset(
    {"study_name", "max_failures", "heartbeat_interval", "grace_period", "deterministic", "resume"}
)

#: Framework keys that do not change how a worker builds its objective (not in its cache key).
NOT_OBJECTIVE_SETUP = NOT_IDENTITY - _WORKER_SETTINGS
