"""Building Optuna samplers and pruners from their config groups (``_target_`` + kwargs)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import optuna
from hydra.utils import get_class

from hedgeopt.config.search_space import SearchSpace

_SEEDED = (
    "TPESampler",
    "RandomSampler",
    "GridSampler",
    "CmaEsSampler",
    "QMCSampler",
    "NSGAIISampler",
    "NSGAIIISampler",
    "GPSampler",
    "BruteForceSampler",
)


def _split(cfg: Mapping[str, Any], group: str) -> tuple[type, dict[str, Any]]:
    if not isinstance(cfg, Mapping) or "_target_" not in cfg:
        raise ValueError(f"{group}: needs a _target_ naming an Optuna {group} class")
    target = str(cfg["_target_"])
    try:
        cls = get_class(target)
    except Exception as exc:
        raise ValueError(f"{group}._target_: cannot import {target!r}") from exc
    kwargs = {k: v for k, v in cfg.items() if k != "_target_"}
    return cls, kwargs


def build_sampler(
    cfg: Mapping[str, Any],
    space: SearchSpace,
    seed: int | None,
) -> optuna.samplers.BaseSampler:
    """The sampler named by the ``sampler`` group, seeded; the grid comes from ``grid:`` lists."""
    cls, kwargs = _split(cfg, "sampler")
    if not issubclass(cls, optuna.samplers.BaseSampler):
        raise ValueError(f"sampler._target_: {cls.__name__} is not an Optuna sampler")
    if cls.__name__ == "GridSampler":
        kwargs["search_space"] = space.grid()
    if cls.__name__ in _SEEDED and seed is not None:
        kwargs["seed"] = seed
    try:
        with warnings.catch_warnings():  # a sampler picked on purpose: its "experimental" note is noise
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"sampler: {exc}") from exc


def build_pruner(cfg: Mapping[str, Any]) -> optuna.pruners.BasePruner:
    """The pruner named by the ``pruner`` group."""
    cls, kwargs = _split(cfg, "pruner")
    if not issubclass(cls, optuna.pruners.BasePruner):
        raise ValueError(f"pruner._target_: {cls.__name__} is not an Optuna pruner")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"pruner: {exc}") from exc


def is_nop(pruner_cfg: Mapping[str, Any]) -> bool:
    return str(pruner_cfg.get("_target_", "")).endswith("NopPruner")


def is_grid(sampler_cfg: Mapping[str, Any]) -> bool:
    return str(sampler_cfg.get("_target_", "")).endswith("GridSampler")
