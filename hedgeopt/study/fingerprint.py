"""Study identity: what defines a study, recorded when it is created and compared on resume.

Trials of one study must answer one question. The *identity* of a study is every config key
that changes what a trial's value means: the objective, the search space, the optimised
metrics and their directions, the seed (it fixes the in-sample paths) and the objective's own
config, plus a digest of every data file that config names. Framework knobs that only change
how the search runs (trial counts, workers, timeout, storage, tracking, export folder,
failure budget, sampler, pruner, deterministic mode) are not part of it: changing them
resumes the study as before.

The study user attr ``hedgeopt.study.fingerprint`` holds its digest (short, so ``optuna studies``
stays readable); the identity itself, flat (``{dotted key: value}``), is a study system attr
``hedgeopt.identity``, so a mismatch can name what changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hedgeopt.errors import ConfigError
from hedgeopt.framework_keys import NOT_IDENTITY
from hedgeopt.names import ATTR_FINGERPRINT, ATTR_FORCED, ATTR_IDENTITY

#: Suffixes of the data files whose contents are part of the identity (not logs or markers).
DATA_SUFFIXES = (
    ".csv",
    ".tsv",
    ".parquet",
    ".pq",
    ".feather",
    ".arrow",
    ".h5",
    ".hdf5",
    ".npy",
    ".npz",
    ".xlsx",
    ".xls",
    ".gz",
    ".zip",
)


def _flat(node: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(node, Mapping) and node:
        for k, v in node.items():
            _flat(v, f"{prefix}.{k}" if prefix else str(k), out)
    else:
        out[prefix] = node


def data_dirs(cfg: Mapping[str, Any]) -> tuple[Path, ...]:
    """The objective's own folders for bare data-file names (``Objective.data_dirs``)."""
    from hydra.utils import get_class  # only where a study is identified (hydra is loaded there)

    try:
        return tuple(get_class(cfg["objective"]["_target_"]).data_dirs)
    except Exception:  # noqa: BLE001 - an objective that cannot be imported has no data folders
        return ()


def _data_file(value: str, dirs: tuple[Path, ...] = ()) -> Path | None:
    if (
        not value
        or len(value) > 4096
        or "\n" in value
        or "://" in value
        or not value.lower().endswith(DATA_SUFFIXES)
    ):
        return None
    # only a bare name (no folder part as written: "./x.csv" is the user's) may be embedded data
    bare = "/" not in value and "\\" not in value and not Path(value).is_absolute()
    candidates = [Path(value)] + [d / value for d in dirs if bare]
    for path in candidates:
        try:
            if path.is_file():
                return path
        except OSError:
            continue
    return None


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def identity(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The study's identity, flat: ``{dotted key: value}`` plus ``data:<key>`` file digests."""
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        if key not in NOT_IDENTITY:
            _flat(value, str(key), out)
    files: dict[str, Any] = {}
    dirs = data_dirs(cfg)
    for key, value in out.items():
        if isinstance(value, str) and not key.startswith(("objective.", "search_space.")):
            path = _data_file(value, dirs)
            if path is not None:
                files[f"data:{key}"] = file_digest(path)[:16]
    out.update(files)
    return json.loads(json.dumps(out, sort_keys=True, default=str))


def digest(ident: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


def fingerprint(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """What a study stores at creation: ``{"digest": ..., "identity": {...}}``."""
    ident = identity(cfg)
    return {"digest": digest(ident), "identity": ident}


def changes(stored: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """One phrase per differing key: ``'seed changed 7 -> 8'``, ``'x.y added (= 1)'``."""
    out: list[str] = []
    for key in sorted(set(stored) | set(current)):
        if key not in current:
            out.append(f"{key} removed (was {_show(stored[key])})")
        elif key not in stored:
            out.append(f"{key} added (= {_show(current[key])})")
        elif stored[key] != current[key]:
            what = (
                "contents changed"
                if key.startswith("data:")
                else f"changed {_show(stored[key])} -> {_show(current[key])}"
            )
            out.append(f"{key} {what}")
    return out


def _show(v: Any) -> str:
    text = json.dumps(v) if not isinstance(v, str) else v
    return text if len(text) <= 60 else text[:57] + "..."


def check(study: Any, cfg: Mapping[str, Any], study_name: str, where: str, mode: str = "auto") -> list[str]:
    """Record the fingerprint on a new study; on an existing one compare it.

    Returns notes for the user. A changed identity raises :class:`ConfigError` naming the
    change, unless ``resume=force``, which records the new fingerprint (and the forced
    change in ``hedgeopt.fingerprint_forced``) and goes on. Call it under the slot lock, so
    that concurrent invocations creating one study agree.
    """
    current = fingerprint(cfg)
    storage, study_id = study._storage, study._study_id  # noqa: SLF001
    stored_digest = study.user_attrs.get(ATTR_FINGERPRINT)

    def record() -> None:
        storage.set_study_system_attr(study_id, ATTR_IDENTITY, current["identity"])
        study.set_user_attr(ATTR_FINGERPRINT, current["digest"])

    if stored_digest is None:
        record()
        if study.get_trials(deepcopy=False):
            return [f"study {study_name} had no fingerprint (an older hedgeopt); recorded the current one"]
        return []
    if stored_digest == current["digest"]:
        return []
    stored = storage.get_study_system_attrs(study_id).get(ATTR_IDENTITY, {})
    diff = changes(stored, current["identity"]) or ["the fingerprint digest changed"]
    head = "; ".join(diff[:3]) + (f" (and {len(diff) - 3} more)" if len(diff) > 3 else "")
    if mode != "force" and not _any_complete(study):
        # nothing was learnt under the old definition (its set-up failed, or every trial did):
        # the corrected command redefines the study rather than being refused
        record()
        return [f"study {study_name} had no completed trial; redefined it: {head}"]
    if mode != "force":
        raise ConfigError(
            f"study {study_name!r} in {where} was defined differently: {head}. Its trials would "
            f"mix two experiments: give a new study_name=..., or resume=force to add to it anyway"
        )
    forced = list(study.user_attrs.get(ATTR_FORCED, []))
    forced.append({"from": stored_digest, "to": current["digest"], "changes": diff[:20]})
    study.set_user_attr(ATTR_FORCED, forced)
    record()
    return [f"resume=force: study {study_name} continues with a changed definition: {head}"]


def _any_complete(study: Any) -> bool:
    import optuna

    return bool(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))


def identify_study(study: Any, cfg: Mapping[str, Any], settings: Any, say: Callable[[str], None]) -> None:
    """Check (or record) the study's fingerprint under the slot lock, and name its metrics.

    Metric names let optuna-dashboard and the ``optuna`` CLI show ``loss`` rather than
    "Objective 0".
    """
    import warnings

    from hedgeopt.storages.slot_locks import slot_lock

    lock = slot_lock(settings.storage, settings.study_name, settings.workdir)
    lock.acquire()
    try:
        notes = check(study, cfg, settings.study_name, settings.storage.masked, settings.resume)
        if study.metric_names != list(settings.metrics):
            with warnings.catch_warnings():  # set_metric_names is marked experimental
                warnings.simplefilter("ignore")
                study.set_metric_names(list(settings.metrics))
    finally:
        lock.close()
    for note in notes:
        say(f"hedgeopt: note: {note}")
