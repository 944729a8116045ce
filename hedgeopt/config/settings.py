"""Validating the composed config into :class:`StudySettings` before anything runs.

Every check here raises :class:`~hedgeopt.config.compose.ConfigError` with a one-line message naming
the key, so a bad command line exits 2 having written nothing.
"""

from __future__ import annotations

import importlib
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hydra.utils import get_class

from hedgeopt.config.code_path import add_to_path, code_dirs
from hedgeopt.config.executor import ExecutorSettings, first_line, validate_executor
from hedgeopt.config.samplers import build_pruner, build_sampler, is_grid, is_nop
from hedgeopt.config.search_space import SearchSpace, SearchSpaceError
from hedgeopt.errors import ConfigError
from hedgeopt.protocol import Objective, get_path
from hedgeopt.storages.opening import _with_driver, resolve_storage
from hedgeopt.storages.spec import StorageSpec

# The whole string (\A...\Z: "$" would let a trailing newline through) and short enough that
# every file named after the study (journal, its locks and backups, the export folder's
# temporary files) stays within a file system's 255-byte name limit.
_NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.\-]*\Z")
MAX_NAME_LENGTH = 100


@dataclass(frozen=True)
class StudySettings:
    """The validated framework keys of one invocation."""

    study_name: str
    n_trials: int
    n_jobs: int
    timeout: float | None
    seed: int
    workdir: str
    storage: StorageSpec
    tracking_uri: str
    artifact_location: str | None
    export_dir: str
    max_failures: int
    metrics: tuple[str, ...]
    directions: tuple[str, ...]
    objective_target: str
    progress: bool
    replay: str | None
    #: ``auto`` (refuse a changed study) or ``force`` (resume anyway).
    resume: str = "auto"
    #: Optuna heartbeat settings (seconds) for RDB storages.
    heartbeat_interval: int = 60
    grace_period: int = 120
    #: Trials asked in batches of ``n_jobs`` by the parent (``deterministic=true``).
    deterministic: bool = False
    #: The sampler and pruner config groups (``_target_`` and keyword arguments), as composed.
    sampler: Mapping[str, Any] = field(default_factory=dict)
    pruner: Mapping[str, Any] = field(default_factory=dict)

    @property
    def sampler_target(self) -> str:
        return str(self.sampler.get("_target_", ""))

    @property
    def pruner_target(self) -> str:
        return str(self.pruner.get("_target_", ""))

    executor: ExecutorSettings = ExecutorSettings()
    #: Absolute folders the study's own code imports from (``code_dir``; put on every ``sys.path``).
    code_dir: tuple[str, ...] = ()

    @property
    def multi_objective(self) -> bool:
        return len(self.metrics) > 1

    def objective_class(self) -> type[Objective]:
        """The study's objective class (validated importable and an ``Objective``)."""
        return get_class(self.objective_target)

    def workers(self, slots: int | None = None) -> int:
        """Worker processes for this invocation (``-1``: one per core, or every one of the
        executor's ``slots`` when it says how many it has)."""
        cores = slots or os.cpu_count() or 1
        n = cores if self.n_jobs == -1 else self.n_jobs
        return max(1, n)


def _int(cfg: Mapping[str, Any], key: str, *, minimum: int | None = None) -> int:
    v = cfg.get(key)
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(f"{key} must be an integer, got {v!r}")
    if minimum is not None and v < minimum:
        raise ConfigError(f"{key} must be >= {minimum}, got {v}")
    return v


def validate(cfg: Mapping[str, Any]) -> tuple[StudySettings, SearchSpace]:
    """Check the composed config; returns the settings and the parsed search space.

    Called once, in the parent: worker processes receive both (they pickle) and never
    validate again.
    """
    name = cfg.get("study_name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(f"study_name must be a name of letters, digits, '_', '-' or '.', got {name!r}")
    if len(name) > MAX_NAME_LENGTH:
        raise ConfigError(f"study_name must be at most {MAX_NAME_LENGTH} characters, got {len(name)}")
    n_trials = _int(cfg, "n_trials", minimum=1)
    n_jobs = _int(cfg, "n_jobs", minimum=-1)
    if n_jobs == 0:
        raise ConfigError("n_jobs must be a positive number of workers or -1 (one per core)")
    timeout = _timeout(cfg)
    seed = _int(cfg, "seed", minimum=0)
    max_failures = _int(cfg, "max_failures", minimum=1)
    heartbeat_interval = _int(cfg, "heartbeat_interval", minimum=1)
    grace_period = _int(cfg, "grace_period", minimum=1)
    workdir = _folder(cfg, "workdir")
    storage = _storage(cfg, name, workdir)
    tracking_uri = _tracking_uri(cfg)
    export_dir = _folder(cfg, "export_dir")
    metrics, directions = _metrics(cfg)
    code = code_dirs(cfg)
    add_to_path(code)  # before the objective is imported: a study's own module may live there
    target, cls = _objective_class(cfg, code)
    try:
        space = SearchSpace.from_config(cfg.get("search_space"), cfg)
    except SearchSpaceError as exc:
        raise ConfigError(str(exc)) from exc
    _check_tunable(space, cls, target)
    _check_upper_bounds(space, cls, target, cfg)
    n_trials = _check_sampling(cfg, space, seed, len(metrics), n_trials)
    settings = StudySettings(
        study_name=name,
        n_trials=n_trials,
        n_jobs=n_jobs,
        timeout=timeout,
        seed=seed,
        workdir=workdir,
        storage=storage,
        tracking_uri=tracking_uri,
        artifact_location=cfg["mlflow"].get("artifact_location"),
        export_dir=export_dir,
        max_failures=max_failures,
        metrics=metrics,
        directions=directions,
        objective_target=target,
        progress=bool(cfg.get("progress", True)),
        replay=_replay(cfg),
        resume=_resume(cfg),
        heartbeat_interval=heartbeat_interval,
        grace_period=grace_period,
        deterministic=_deterministic(cfg),
        sampler=dict(cfg["sampler"]),
        pruner=dict(cfg["pruner"]),
        executor=validate_executor(cfg),
        code_dir=code,
    )
    return settings, space


RESUME_MODES = ("auto", "force")
#: Pruners whose decision depends only on the trials the study shows them (so a view of the
#: earlier batches makes them deterministic). Hyperband builds its own view of the storage.
DETERMINISTIC_PRUNERS = (
    "NopPruner",
    "MedianPruner",
    "PercentilePruner",
    "SuccessiveHalvingPruner",
    "ThresholdPruner",
)


def _resume(cfg: Mapping[str, Any]) -> str:
    """``resume``: ``auto`` (refuse a changed study) or ``force``."""
    mode = cfg.get("resume", "auto")
    if mode not in RESUME_MODES:
        raise ConfigError(f"resume must be auto or force, got {mode!r}")
    return str(mode)


def _deterministic(cfg: Mapping[str, Any]) -> bool:
    """``deterministic``: a boolean, and only with a pruner that can be made deterministic."""
    value = cfg.get("deterministic", False)
    if not isinstance(value, bool):
        raise ConfigError(f"deterministic must be true or false, got {value!r}")
    if value:
        pruner = str((cfg.get("pruner") or {}).get("_target_", ""))
        if pruner.rsplit(".", 1)[-1] not in DETERMINISTIC_PRUNERS:
            raise ConfigError(
                f"deterministic=true cannot make pruner {pruner!r} deterministic; "
                "use pruner=none or pruner=median"
            )
    return value


def _timeout(cfg: Mapping[str, Any]) -> float | None:
    timeout = cfg.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise ConfigError(f"timeout must be a positive number of seconds or null, got {timeout!r}")
    return None if timeout is None else float(timeout)


def _folder(cfg: Mapping[str, Any], key: str) -> str:
    value = cfg.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key} must be a folder path")
    return value


def _storage(cfg: Mapping[str, Any], name: str, workdir: str) -> StorageSpec:
    storage_value = cfg.get("storage")
    if storage_value is not None and not isinstance(storage_value, str):
        raise ConfigError("storage must be an Optuna storage URL, a journal file path or null")
    try:
        return resolve_storage(
            storage_value,
            name,
            workdir=workdir,
            heartbeat_interval=cfg["heartbeat_interval"],
            grace_period=cfg["grace_period"],
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def _tracking_uri(cfg: Mapping[str, Any]) -> str:
    mlflow_cfg = cfg.get("mlflow")
    if (
        not isinstance(mlflow_cfg, Mapping)
        or not isinstance(mlflow_cfg.get("tracking_uri"), str)
        or not mlflow_cfg["tracking_uri"].strip()
    ):
        raise ConfigError("mlflow.tracking_uri must be a tracking URI")
    # a bare postgresql:// names the driver that is installed, as for the storage
    tracking_uri = _with_driver(mlflow_cfg["tracking_uri"].strip())
    if "://" not in tracking_uri and not tracking_uri.startswith(("databricks",)):
        raise ConfigError(
            f"mlflow.tracking_uri must be a URI such as sqlite:///mlruns/mlflow.db, got {tracking_uri!r}"
        )
    return tracking_uri


def _metrics(cfg: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    metrics = cfg.get("metrics")
    directions = cfg.get("directions")
    if not isinstance(metrics, list) or not metrics or not all(isinstance(m, str) for m in metrics):
        raise ConfigError("metrics must be a non-empty list of the objective's metric names")
    if len(set(metrics)) != len(metrics):
        raise ConfigError(f"metrics lists a name twice: {metrics}")
    if not isinstance(directions, list) or len(directions) != len(metrics):
        raise ConfigError(f"directions must list one direction per metric ({len(metrics)})")
    for d in directions:
        if d not in ("minimize", "maximize"):
            raise ConfigError(f"directions: {d!r} is not minimize or maximize")
    return tuple(metrics), tuple(directions)


def _objective_class(cfg: Mapping[str, Any], code: tuple[str, ...] = ()) -> tuple[str, type]:
    objective = cfg.get("objective")
    if not isinstance(objective, Mapping) or not isinstance(objective.get("_target_"), str):
        raise ConfigError("objective._target_ must name the study's objective class")
    target = objective["_target_"]
    module, _, name = target.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name) if module else get_class(target)
    except Exception as exc:
        where = f"code is imported from {', '.join(code)} and sys.path" if code else "no code_dir is set"
        raise ConfigError(
            f"objective._target_: cannot import {target!r}: {type(exc).__name__}: {first_line(exc)} "
            f"({where}; put the module in the --config-dir folder or name its folder in code_dir=...)"
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, Objective)):
        raise ConfigError(f"objective._target_: {target!r} is not a hedgeopt Objective")
    return target, cls


def _check_sampling(
    cfg: Mapping[str, Any], space: SearchSpace, seed: int, n_metrics: int, n_trials: int
) -> int:
    """Check the sampler and pruner; returns ``n_trials``, capped at the grid's size for a grid.

    The sampler is built here only to check its arguments (they are the class's own); each
    worker builds the one it uses, with its own seed.
    """
    sampler_cfg, pruner_cfg = cfg.get("sampler"), cfg.get("pruner")
    try:
        build_sampler(sampler_cfg or {}, space, seed)
        build_pruner(pruner_cfg or {})
    except (ValueError, SearchSpaceError) as exc:
        raise ConfigError(str(exc)) from exc
    if n_metrics > 1 and not is_nop(pruner_cfg or {}):
        raise ConfigError("pruner: Optuna's pruners do not support multi-objective studies; use pruner=none")
    if is_grid(sampler_cfg or {}):
        # The grid sampler visits each point once; more trials than points would repeat them.
        return min(n_trials, space.grid_size())
    return n_trials


def _replay(cfg: Mapping[str, Any]) -> str | None:
    replay = cfg.get("replay")
    if replay is not None and not isinstance(replay, str):
        raise ConfigError("replay must be the path of an exported best.yaml")
    if replay is not None and os.path.isdir(replay):
        raise ConfigError(f"replay: {replay!r} is a folder; give the path of an exported best.yaml")
    if replay is not None and not os.path.isfile(replay):
        raise ConfigError(f"replay: no such file {replay!r}")
    return replay


def _check_tunable(space: SearchSpace, cls: type, target: str) -> None:
    """Refuse search-space keys that the objective declares it never reads from a trial."""
    fixed = tuple(getattr(cls, "fixed_keys", ()) or ())
    for p in space.params:
        for prefix in fixed:
            if p.name == prefix or p.name.startswith(prefix + "."):
                raise ConfigError(
                    f"search_space.{p.name}: {target} reads {prefix!r} from the study config, not "
                    "from the trial, so tuning it would change nothing; set it in the study config"
                )


def _check_upper_bounds(space: SearchSpace, cls: type, target: str, cfg: Mapping[str, Any]) -> None:
    """Refuse search-space values past a base-config key that the objective says bounds them."""
    for name, bound_key in (getattr(cls, "upper_bounds", None) or {}).items():
        param = next((p for p in space.params if p.name == name), None)
        if param is None:
            continue
        bound = get_path(cfg, bound_key)
        if isinstance(bound, bool) or not isinstance(bound, (int, float)):
            raise ConfigError(f"{bound_key} must be a number: {target} bounds search_space.{name} by it")
        values = [param.high] if param.kind != "categorical" else list(param.choices)
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if numbers and max(numbers) > bound:
            raise ConfigError(
                f"search_space.{name} reaches {max(numbers)}, past {bound_key} = {bound} (its upper "
                f"bound in {target}); raise {bound_key} or lower the range"
            )
