"""The objective protocol: the only part of hedgeopt that objectives see.

An objective is built once per worker process from the composed study config (a plain,
resolved ``dict``); heavy set-up (data, simulated paths, caches, compiled kernels) belongs in
``__init__``. It is then called once per trial with that trial's params, keyed by the dotted
config path they set (``"hedge.delta_threshold"``), and a :class:`Reporter`. It returns a
mapping of named, finite metrics; the study config names which of them are optimised.

This module imports nothing from Optuna, MLflow or Hydra, so objectives stay plain numerics.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence


class TrialPruned(Exception):
    """Raised by an objective when its reporter says the trial should stop early."""


class Reporter(Protocol):
    """What a running trial may tell the framework.

    ``artifact_dir`` is a folder for this trial's own files (a training curve, weights);
    everything left there is logged as the trial run's artifacts.
    """

    artifact_dir: Path

    def report(self, value: float, step: int) -> None:
        """Record an intermediate value of the first optimised metric at ``step``."""

    def should_prune(self) -> bool:
        """True when the pruner wants this trial stopped; raise :class:`TrialPruned` then."""


class NullReporter:
    """A reporter that records intermediate values and never prunes (replay, baselines, tests)."""

    def __init__(self, artifact_dir: Path | None = None) -> None:
        self.artifact_dir = Path(artifact_dir) if artifact_dir is not None else Path(".")
        self.values: list[tuple[int, float]] = []

    def report(self, value: float, step: int) -> None:
        self.values.append((int(step), float(value)))

    def should_prune(self) -> bool:
        return False


Metrics = Mapping[str, float]


class Objective(ABC):
    """Base class of every study objective.

    Subclasses implement :meth:`__call__` (in-sample metrics of one trial) and
    :meth:`evaluate` (out-of-sample metrics of given params, used for the export and for
    ``+replay``). :meth:`baselines` and :meth:`plots` are optional.
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config: dict[str, Any] = copy.deepcopy(dict(config))

    def configure(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The study config with ``params`` (dotted paths) applied: one trial's full config."""
        return apply_params(self.config, params)

    @abstractmethod
    def __call__(self, params: Mapping[str, Any], reporter: Reporter) -> Metrics:
        """Run one trial in-sample and return its metrics."""

    @abstractmethod
    def evaluate(self, params: Mapping[str, Any], reporter: Reporter | None = None) -> Metrics:
        """Metrics of ``params`` on held-out data the search never saw."""

    def baselines(self) -> Mapping[str, Mapping[str, Metrics]]:
        """Reference strategies: ``{name: {"in_sample": metrics, "out_of_sample": metrics}}``."""
        return {}

    def plots(
        self,
        best_params: Mapping[str, Any],
        trials: Sequence[Mapping[str, Any]],
        out_dir: Path,
    ) -> list[Path]:
        """Figures for the best config, written under ``out_dir``; returns their paths.

        ``trials`` holds one mapping per finished trial: ``number``, ``state``, ``params``
        and ``metrics``.
        """
        return []


def apply_params(config: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``config`` with each dotted-path key of ``params`` set to its value."""
    out = copy.deepcopy(dict(config))
    for dotted, value in params.items():
        node = out
        parts = dotted.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return out


def get_path(config: Mapping[str, Any], dotted: str, default: Any = None) -> Any:
    """The value at a dotted path of a nested mapping, or ``default``."""
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node
