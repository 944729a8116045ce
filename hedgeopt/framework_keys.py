"""The framework's top-level config keys, listed once; every other key belongs to the objective.

The parent logs the settings as params and the rest as the domain's params, the search space
refuses to tune any of them, objectives are built without them (``hedgeopt.execution.objective_builder``)
and the study identity leaves some out.
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
    "code_dir",
)

#: Framework config groups (the parent logs the sampler's, pruner's and objective's targets and the
#: executor's kind).
GROUP_KEYS = ("sampler", "pruner", "objective", "search_space", "mlflow", "executor")

#: Words about the study for its readers (``description``: the MLflow experiment's description).
TEXT_KEYS = ("description",)

#: Every framework key: none can be tuned, none is a param of the domain.
FRAMEWORK_KEYS = frozenset(SETTINGS_KEYS + GROUP_KEYS + TEXT_KEYS)

#: Framework keys that change what a trial's value means: the study's identity is built from these
#: (and from every key of the objective's own).
IDENTITY_KEYS = frozenset({"seed", "metrics", "directions", "objective", "search_space"})

#: Framework keys that do not change what a trial's value means (not in the study's identity).
NOT_IDENTITY = FRAMEWORK_KEYS - IDENTITY_KEYS
