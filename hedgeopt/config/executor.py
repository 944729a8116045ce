"""The ``executor`` group (conf/executor/): where the worker processes run, validated once."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hydra.utils import get_class

from hedgeopt.errors import ConfigError

#: Executors (``executor=NAME``, conf/executor/) and the staging choices they offer.
EXECUTORS = ("local", "dask")
STAGINGS = ("shared", "mlflow")


@dataclass(frozen=True)
class ExecutorSettings:
    """Where the worker processes run (the validated ``executor`` group).

    ``local``: loky processes on this host. ``dask``: one worker loop per slot of a Dask cluster,
    reached at ``address`` (a running scheduler), or built from ``cluster`` (a ``_target_``
    cluster class and its kwargs, scaled to ``scale`` workers), else a LocalCluster of
    ``n_jobs`` single-threaded worker processes. ``staging`` says how trial artifacts reach the
    parent (``shared``: the workdir is a path every host mounts; ``mlflow``: each worker uploads
    its trial folders through MLflow's artifact repository, see
    :mod:`hedgeopt.tracking.staging`); ``stop_grace``: seconds the
    parent waits for remote workers to stop before failing their trials as interrupted.
    """

    kind: str = "local"
    address: str | None = None
    cluster: dict[str, Any] | None = None
    scale: int | None = None
    staging: str = "shared"
    stop_grace: float = 10.0


def validate_executor(cfg: Mapping[str, Any]) -> ExecutorSettings:
    """The ``executor`` group: which executor, and for ``dask`` where its cluster is."""
    ex = cfg.get("executor") or {"kind": "local"}
    if not isinstance(ex, Mapping) or ex.get("kind") not in EXECUTORS:
        kind = ex.get("kind") if isinstance(ex, Mapping) else ex
        raise ConfigError(f"executor must be one of {', '.join(EXECUTORS)} (executor=NAME), got {kind!r}")
    staging = ex.get("staging", "shared")
    if staging not in STAGINGS:
        raise ConfigError(f"executor.staging must be one of {', '.join(STAGINGS)}, got {staging!r}")
    grace = ex.get("stop_grace", 10.0)
    if isinstance(grace, bool) or not isinstance(grace, (int, float)) or not grace >= 0:
        raise ConfigError(f"executor.stop_grace must be a number of seconds >= 0, got {grace!r}")
    if ex["kind"] == "local":
        return ExecutorSettings(staging=staging, stop_grace=float(grace))
    if importlib.util.find_spec("distributed") is None:
        raise ConfigError("executor=dask needs the distributed package: pip install 'hedgeopt[dask]'")
    address, cluster, scale = ex.get("address"), ex.get("cluster"), ex.get("scale")
    if address is not None and (not isinstance(address, str) or not address.strip()):
        raise ConfigError(f"executor.address must be a scheduler address (tcp://host:8786), got {address!r}")
    if cluster is not None:
        if not isinstance(cluster, Mapping) or not isinstance(cluster.get("_target_"), str):
            raise ConfigError("executor.cluster must be a mapping with the _target_ of a cluster class")
        if address is not None:
            raise ConfigError("executor: give address (a running scheduler) or cluster, not both")
        try:
            get_class(cluster["_target_"])
        except Exception as exc:
            target = cluster["_target_"]
            raise ConfigError(
                f"executor.cluster._target_: cannot import {target!r}: {first_line(exc)}"
            ) from exc
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, int) or scale < 1):
        raise ConfigError(f"executor.scale must be a positive number of workers or null, got {scale!r}")
    return ExecutorSettings(
        kind="dask",
        address=address.strip() if address else None,
        cluster=dict(cluster) if cluster is not None else None,
        scale=scale,
        staging=staging,
        stop_grace=float(grace),
    )


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type when it has none)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
