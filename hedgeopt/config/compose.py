"""Composing a study's config with Hydra's compose API.

hedgeopt composes with ``hydra.compose`` rather than ``@hydra.main`` so that it controls
every byte written: a config error prints one line and leaves the working directory untouched
(no ``outputs/`` folder, no log file), and paths stay relative to where the user ran the command.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from hedgeopt.errors import ConfigError

#: Extra folders (``os.pathsep``-separated) searched for config groups, e.g. a user's own
#: ``study/`` files or the test-only studies under ``tests/conf``.
CONFIG_PATH_ENV = "HEDGEOPT_CONFIG_PATH"


def config_dir() -> Path:
    """The shipped configs: the repository's ``conf/``, or the installed ``hedgeopt_conf``.

    In a checkout (and an editable install) ``conf/`` sits beside the ``hedgeopt`` package
    that was imported; a wheel carries the same files as the data-only package
    ``hedgeopt_conf`` (pyproject maps ``conf/`` onto it), found without importing it.
    """
    beside = Path(__file__).resolve().parents[2] / "conf"
    if (beside / "config.yaml").is_file():
        return beside
    spec = importlib.util.find_spec("hedgeopt_conf")
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / "config.yaml").is_file():
            return Path(location).resolve()
    raise ConfigError(
        f"hedgeopt's configs are missing: no {beside} and no installed "
        "hedgeopt_conf package; reinstall hedgeopt"
    )


def search_roots() -> list[Path]:
    """Every config folder, in Hydra's search order: the shipped one, then the user's."""
    return [config_dir(), *extra_search_paths()]


def config_groups() -> dict[str, list[str]]:
    """``{group: [option, ...]}`` over every config folder (``study``, ``sampler``, ...)."""
    groups: dict[str, set[str]] = {}
    for root in search_roots():
        if not root.is_dir():
            continue
        for folder in root.iterdir():
            if folder.is_dir() and not folder.name.startswith(("_", ".")):
                groups.setdefault(folder.name, set()).update(p.stem for p in folder.glob("*.yaml"))
    return {g: sorted(opts) for g, opts in sorted(groups.items())}


def extra_search_paths() -> list[Path]:
    """Folders named by ``HEDGEOPT_CONFIG_PATH``, resolved against the working directory."""
    raw = os.environ.get(CONFIG_PATH_ENV, "")
    return [Path(p).resolve() for p in raw.split(os.pathsep) if p.strip()]


def available_studies() -> list[str]:
    """Names of the studies found in ``conf/study`` and every extra search path."""
    return config_groups().get("study", [])


def compose_config(overrides: Sequence[str], with_hydra: bool = False) -> DictConfig:
    """Compose ``conf/config.yaml`` with command-line style ``overrides`` (Hydra syntax).

    ``with_hydra`` keeps Hydra's own ``hydra:`` node (what ``--cfg all`` shows). Raises
    :class:`ConfigError` with a one-line message on any Hydra or OmegaConf error; unknown
    studies, groups, options and keys get a did-you-mean message instead of Hydra's.
    """
    try:
        return _compose(list(overrides), with_hydra)
    except Exception as exc:  # Hydra raises several types; all are usage errors here
        from hedgeopt.config.suggest import MULTIRUN, diagnose

        hint = diagnose(list(overrides), config_groups(), _compose_quietly)
        if not hint and "--multirun" in str(exc):  # key=a,b: Hydra says "add --multirun"
            swept = next((o for o in overrides if "," in o.partition("=")[2]), "key=a,b")
            hint = (
                f"{swept}: a comma list is a Hydra sweep (quote a list value: 'key=[a,b]'); "
                + MULTIRUN.split("; ", 1)[1]
            )
        raise ConfigError(hint or _one_line(exc)) from exc


def _compose(overrides: list[str], with_hydra: bool = False) -> DictConfig:
    extra = extra_search_paths()
    if extra:
        paths = ",".join(f"file://{p}" for p in extra)
        overrides = [f"hydra.searchpath=[{paths}]", *overrides]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            return hydra_compose(config_name="config", overrides=overrides, return_hydra_config=with_hydra)
    finally:
        GlobalHydra.instance().clear()


def _compose_quietly(overrides: list[str]) -> DictConfig | None:
    try:
        return _compose(overrides)
    except Exception:  # noqa: BLE001  (only asks whether it composes)
        return None


def compose(overrides: Sequence[str]) -> dict[str, Any]:
    """The composed config as a plain, fully resolved ``dict`` (what objectives receive)."""
    from hedgeopt.config.overlay import compose_overlaid  # +overlay=PATH applies a config file

    return compose_overlaid(overrides, lambda o: to_container(compose_config(o)))


def to_container(cfg: DictConfig) -> dict[str, Any]:
    """Resolve interpolations and convert to plain Python containers."""
    try:
        out = OmegaConf.to_container(cfg, resolve=True)
    except Exception as exc:
        raise ConfigError(_one_line(exc)) from exc
    assert isinstance(out, dict)
    return out


def _one_line(exc: BaseException) -> str:
    """Hydra's multi-line messages as one line: the unindented lines, joined."""
    text = str(exc).strip() or type(exc).__name__
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith((" ", "\t"))]
    return " ".join(lines)[:400]
