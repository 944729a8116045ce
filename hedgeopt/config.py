"""Composing a study's config with Hydra's compose API.

hedgeopt composes with ``hydra.compose`` rather than ``@hydra.main`` so that it controls
every byte written: a config error prints one line and leaves the working directory untouched
(no ``outputs/`` folder, no log file), and paths stay relative to where the user ran the command.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

#: Extra folders (``os.pathsep``-separated) searched for config groups, e.g. a user's own
#: ``study/`` files or the test-only studies under ``tests/conf``.
CONFIG_PATH_ENV = "HEDGEOPT_CONFIG_PATH"


class ConfigError(ValueError):
    """A usage or config error: reported as one ``hedgeopt: error:`` line, exit status 2."""


def config_dir() -> Path:
    """The shipped ``conf/`` folder (beside the installed packages, at the repository root)."""
    return (Path(__file__).resolve().parent.parent / "conf").resolve()


def extra_search_paths() -> list[Path]:
    """Folders named by ``HEDGEOPT_CONFIG_PATH``, resolved against the working directory."""
    raw = os.environ.get(CONFIG_PATH_ENV, "")
    return [Path(p).resolve() for p in raw.split(os.pathsep) if p.strip()]


def available_studies() -> list[str]:
    """Names of the studies found in ``conf/study`` and every extra search path."""
    names: set[str] = set()
    for root in [config_dir(), *extra_search_paths()]:
        folder = root / "study"
        if folder.is_dir():
            names.update(p.stem for p in folder.glob("*.yaml"))
    return sorted(names)


def compose_config(overrides: Sequence[str]) -> DictConfig:
    """Compose ``conf/config.yaml`` with command-line style ``overrides`` (Hydra syntax).

    Raises :class:`ConfigError` with a one-line message on any Hydra or OmegaConf error.
    """
    overrides = list(overrides)
    extra = extra_search_paths()
    if extra:
        paths = ",".join(f"file://{p}" for p in extra)
        overrides = [f"hydra.searchpath=[{paths}]", *overrides]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            cfg = hydra_compose(config_name="config", overrides=overrides)
    except Exception as exc:  # Hydra raises several types; all are usage errors here
        raise ConfigError(_one_line(exc)) from exc
    finally:
        GlobalHydra.instance().clear()
    return cfg


def compose(overrides: Sequence[str]) -> dict[str, Any]:
    """The composed config as a plain, fully resolved ``dict`` (what objectives receive)."""
    from hedgeopt.overlay import compose_overlaid  # +overlay=PATH applies a config file

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
    lines = [l.strip() for l in text.splitlines() if l.strip() and not l.startswith((" ", "\t"))]
    return " ".join(lines)[:400]
