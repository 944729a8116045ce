"""Exporting the best config and reading it back for ``+replay``.

An export folder ``{export_dir}/{study_name}/`` holds three files:

- ``best.yaml``: the best params nested under the same keys as the study config, and nothing
  else, marked ``# @package _global_``: a drop-in Hydra config (``+overlay=PATH``, or a file in
  any config group) that a struct-mode merge accepts.
- ``report.yaml``: the reserved blocks ``metadata`` (study, values, trial counts by state, date,
  code version, MLflow run ids, fingerprint), ``performance`` (in-sample and out-of-sample
  metrics of the best config, baselines, how sure) and ``pareto_front``.
- ``best.json``: both in one document, for programs.

Replay reads values only, with ``yaml.safe_load``; it never imports or instantiates anything
named in the file.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import subprocess
from pathlib import Path
from typing import Any, Mapping

import yaml

from hedgeopt.search_space import SearchSpace, SearchSpaceError
from hedgeopt.tracking import flatten, nest

RESERVED_BLOCKS = ("metadata", "performance", "pareto_front")
REPORT_NAME = "report.yaml"


class ReplayError(ValueError):
    """An export that cannot be replayed against this study."""


def code_version() -> str:
    """The git commit of the code (with ``-dirty`` when it has local changes), or the package version."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except Exception:
        from importlib.metadata import version

        try:
            return "hedgeopt " + version("hedgeopt")
        except Exception:
            return "unknown"


def _plain(v: Any) -> Any:
    """Numbers as plain Python (numpy scalars and non-finite floats made YAML/JSON friendly)."""
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        try:
            v = v.item()
        except Exception:
            pass
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def build_export(params: Mapping[str, Any], metadata: Mapping[str, Any],
                 in_sample: Mapping[str, float], out_of_sample: Mapping[str, float],
                 baselines: Mapping[str, Any], pareto_front: list[Mapping[str, Any]] | None = None,
                 confidence: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The export document; ``confidence`` is :func:`hedgeopt.assessment.assess_study`'s result."""
    doc: dict[str, Any] = nest(dict(params))
    doc["metadata"] = dict(metadata)
    doc["performance"] = {"in_sample": dict(in_sample), "out_of_sample": dict(out_of_sample),
                          "baselines": dict(baselines)}
    if confidence:
        doc["performance"]["verdict"] = confidence["verdict"]
        doc["performance"]["intervals"] = confidence["metrics"]
        doc["performance"]["overfitting"] = confidence["overfitting"]
    if pareto_front:
        doc["pareto_front"] = list(pareto_front)
    return _plain(doc)


def split_export(doc: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(overlay, report)``: the config keys, and the reserved blocks."""
    overlay = {k: v for k, v in doc.items() if k not in RESERVED_BLOCKS}
    report = {k: doc[k] for k in RESERVED_BLOCKS if k in doc}
    return overlay, report


def write_export(doc: Mapping[str, Any], export_dir: str | Path,
                 study_name: str) -> tuple[Path, Path, Path]:
    """Write ``best.yaml`` (overlay), ``report.yaml`` and ``best.json`` atomically."""
    folder = Path(export_dir) / study_name
    folder.mkdir(parents=True, exist_ok=True)
    ypath, jpath, rpath = folder / "best.yaml", folder / "best.json", folder / REPORT_NAME
    overlay, report = split_export(doc)
    header = (f"# @package _global_\n"
              f"# hedgeopt export of study {study_name!r}: its best config as a global overlay.\n"
              f"# Apply to a run:  python -m hedgeopt +study=<study> +overlay={ypath}\n"
              f"# Replay:          python -m hedgeopt +study=<study> +replay={ypath}\n"
              f"# Metadata and expected performance: {rpath}\n")
    rheader = f"# hedgeopt report of study {study_name!r}; the config itself is {ypath}\n"
    for path, text in ((ypath, header + yaml.safe_dump(overlay, sort_keys=False)),
                       (rpath, rheader + yaml.safe_dump(report, sort_keys=False)),
                       (jpath, json.dumps(doc, indent=2))):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return ypath, jpath, rpath


def read_replay(path: str | Path, space: SearchSpace) -> dict[str, Any]:
    """The params of an export, validated against the study's search space.

    Reads ``best.yaml`` (overlay only), ``best.json`` or an export of the earlier one-file
    layout (overlay plus reserved blocks, which are skipped). Only keys of the search space
    are accepted; a ``_target_`` anywhere is refused, since a replayed file must never choose
    what code runs.
    """
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        raise ReplayError(f"replay: {path} is not valid YAML ({str(exc).splitlines()[0]})") from exc
    except OSError as exc:
        raise ReplayError(f"replay: cannot read {path}: {exc.strerror}") from exc
    if not isinstance(doc, Mapping):
        raise ReplayError(f"replay: {path} does not hold a config mapping")
    overlay = {k: v for k, v in doc.items() if k not in RESERVED_BLOCKS}
    flat = flatten(overlay)
    for key in flat:
        if "_target_" in key.split(".") or key.endswith("_target_"):
            raise ReplayError(f"replay: {path} sets {key}; replay never instantiates code from a file")
    if not flat:
        raise ReplayError(f"replay: {path} holds no params")
    try:
        space.check_values(flat)
    except SearchSpaceError as exc:
        raise ReplayError(f"replay: {exc}") from exc
    return flat


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
