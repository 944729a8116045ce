"""Exporting the best config: best.yaml, overlay.yaml and best.json, always in agreement.

An export folder ``{export_dir}/{study_name}/`` holds three files:

- ``best.yaml``: the best params nested under the same keys as the study config, plus the
  reserved blocks ``metadata`` (study, values, trial counts by state, date, code version,
  MLflow run ids, fingerprint), ``performance`` (in-sample and out-of-sample metrics of the best
  config, baselines, how sure: verdict, intervals, overfitting; with several metrics
  ``chosen_point``: the rule that picked the exported front point and every baseline beside it
  on the same axes) and ``pareto_front``: what a
  reader opens to judge the result.
The params are the best trial's plus the keys pinned (not searched: ``metadata.pinned``), so
that a replay or a warm start from the export runs the config that was scored.

- ``overlay.yaml``: the best params only, marked ``# @package _global_``: a drop-in Hydra config
  (``+overlay=PATH``, or a file in any config group) that a struct-mode merge accepts.
- ``best.json``: the same document as ``best.yaml``, for programs.

Reading an export back for ``+replay`` or ``+overlay`` is :mod:`hedgeopt.results.replay_file`.
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from hedgeopt.protocol import nest
from hedgeopt.results.export_order import export_lock, kept_back, superseded

RESERVED_BLOCKS = ("metadata", "performance", "pareto_front")
OVERLAY_NAME = "overlay.yaml"
#: overlay.yaml has no metadata block (Hydra merges every key), so its pinned keys, which may
#: lie outside the searched range, are named on this comment line, which replay reads
PINNED_COMMENT = "# pinned (not searched): "


def code_version() -> str:
    """The git commit of the code (with ``-dirty`` when it has local changes), or the package version."""
    try:
        sha = _git("rev-parse", "--short", "HEAD", check=True)
        dirty = _git("status", "--porcelain", "--untracked-files=no", check=False)
        return sha + ("-dirty" if dirty else "")
    except Exception:
        from importlib.metadata import version

        try:
            return "hedgeopt " + version("hedgeopt")
        except Exception:
            return "unknown"


def _git(*args: str, check: bool) -> str:
    """The output of ``git ARGS`` run in the code's own folder."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=5, check=check)
    return done.stdout.strip()


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


def build_export(
    params: Mapping[str, Any],
    metadata: Mapping[str, Any],
    in_sample: Mapping[str, float],
    out_of_sample: Mapping[str, float],
    baselines: Mapping[str, Any],
    pareto_front: list[Mapping[str, Any]] | None = None,
    confidence: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The export document; ``confidence`` is :func:`hedgeopt.results.assessment.assess_study`'s result."""
    doc: dict[str, Any] = nest(dict(params))
    doc["metadata"] = dict(metadata)
    doc["performance"] = {
        "in_sample": dict(in_sample),
        "out_of_sample": dict(out_of_sample),
        "baselines": dict(baselines),
    }
    if confidence:
        doc["performance"]["verdict"] = confidence["verdict"]
        doc["performance"]["intervals"] = confidence["metrics"]
        doc["performance"]["overfitting"] = confidence["overfitting"]
        if confidence.get("chosen_point"):  # several metrics: the rule and the baselines beside it
            doc["performance"]["chosen_point"] = confidence["chosen_point"]
    if pareto_front:
        doc["pareto_front"] = list(pareto_front)
    return _plain(doc)


def split_export(doc: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(overlay, report)``: the config keys, and the reserved blocks."""
    overlay = {k: v for k, v in doc.items() if k not in RESERVED_BLOCKS}
    report = {k: doc[k] for k in RESERVED_BLOCKS if k in doc}
    return overlay, report


def write_export(doc: Mapping[str, Any], export_dir: str | Path, study_name: str) -> tuple[Path, Path, Path]:
    """Write ``best.yaml`` (the whole export), ``overlay.yaml`` (config keys only, a global
    Hydra overlay) and ``best.json`` so that the three always agree; returns their paths.

    The three files are written and fsynced in a fresh sibling folder of this writer's own
    (``.{study_name}.export-<pid>-<random>``), which then takes the export folder's place in one
    rename (an exchange on Linux): an interrupt at any point leaves the old export or the new
    one, never best.yaml of one trial beside best.json of another, and a reader always finds
    the folder. Other files a user put in the folder are carried over. An export whose
    ``metadata.trials_as_of`` is older than the standing one's is not written
    (:mod:`hedgeopt.results.export_order`).
    """
    root = Path(export_dir)
    folder = root / study_name
    ypath, opath, jpath = folder / "best.yaml", folder / OVERLAY_NAME, folder / "best.json"
    overlay, _ = split_export(doc)
    header = (
        f"# hedgeopt export of study {study_name!r}: the top-level keys other than\n"
        f"# {', '.join(RESERVED_BLOCKS)} are its best config; {opath.name} beside it holds\n"
        f"# only those keys, as a global Hydra overlay.\n"
        f"# Apply to a run:  python -m hedgeopt +study=<study> +overlay={opath}\n"
        f"# Replay:          python -m hedgeopt +study=<study> +replay={ypath}\n"
    )
    pinned = doc.get("metadata", {}).get("pinned") or ()
    oheader = (
        f"# @package _global_\n"
        f"# Best config of study {study_name!r} (metadata and performance: {ypath.name})\n"
        + (f"{PINNED_COMMENT}{', '.join(pinned)}\n" if pinned else "")
    )
    files = {
        ypath.name: header + yaml.safe_dump(dict(doc), sort_keys=False),
        opath.name: oheader + yaml.safe_dump(overlay, sort_keys=False),
        jpath.name: json.dumps(doc, indent=2),
    }
    try:
        root.mkdir(parents=True, exist_ok=True)
        with export_lock(root):
            if superseded(folder, doc.get("metadata", {}).get("trials_as_of")):
                kept_back(folder)  # another invocation read the trials later: its export stays
                return ypath, opath, jpath
            _swap_in_export(root, folder, study_name, files)
    except OSError as exc:
        raise _unwritable(folder, exc) from exc
    return ypath, opath, jpath


def _swap_in_export(root: Path, folder: Path, study_name: str, files: Mapping[str, str]) -> None:
    """The files written in a fresh sibling folder, then swapped in for ``folder``."""
    _remove_stale_folders(root, study_name)
    fresh = Path(tempfile.mkdtemp(prefix=f"{_STAGING_PREFIX.format(study_name)}{os.getpid()}-", dir=root))
    try:
        os.chmod(fresh, 0o755)
        for name, text in files.items():
            _write_synced(fresh / name, text)
        _carry_over(folder, fresh, set(files))
        _swap_in(fresh, folder)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)  # the old export after an exchange, or a failed one


_STAGING_PREFIX = ".{}.export-"


def _unwritable(folder: Path, exc: OSError) -> Exception:
    """A failed write as one line naming the folder (a full disk's error names no file)."""
    from hedgeopt.errors import HedgeoptError

    return HedgeoptError(f"cannot write the export to {folder}: {exc.strerror or exc}")


_RENAME_EXCHANGE = 2  # linux/fs.h


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(path, 0o644)


def _carry_over(folder: Path, fresh: Path, ours: set[str]) -> None:
    """Copy what else the old export folder holds (a user's notes) into the new one."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry.name in ours or entry.name.startswith("."):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.copytree(entry, fresh / entry.name, symlinks=True)
            else:
                shutil.copy2(entry, fresh / entry.name, follow_symlinks=False)
        except FileNotFoundError:  # another writer swapped the folder out meanwhile
            continue


def _swap_in(fresh: Path, folder: Path) -> None:
    """Put ``fresh`` at ``folder`` in one step; the old folder (if any) ends up at ``fresh``."""
    for _ in range(100):  # another writer may create or swap the folder in between
        try:
            os.rename(fresh, folder)  # no folder yet (or an empty one)
            return
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
        if _exchange(fresh, folder):
            return
    raise OSError(errno.EBUSY, "the export folder kept changing", str(folder))


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False when ``b`` is gone.

    Elsewhere the old folder is renamed away first: a reader may then miss the folder for a
    moment, but never finds the files of two exports side by side.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        renameat2 = None
    if renameat2 is not None:
        at_fdcwd = -100
        if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
            return True
        err = ctypes.get_errno()
        if err == errno.ENOENT:
            return False
        if err not in (errno.EINVAL, errno.ENOSYS):  # a file system without exchange: fall back
            raise OSError(err, os.strerror(err), str(b))
    aside = a.with_name(a.name + ".old")
    try:
        os.rename(b, aside)
    except FileNotFoundError:
        return False
    os.rename(a, b)
    os.rename(aside, a)
    return True


def _remove_stale_folders(root: Path, study_name: str) -> None:
    """Remove the staging folders of writers that died on this host (killed before cleaning up)."""
    from hedgeopt.processes import pid_alive

    for entry in root.glob(_STAGING_PREFIX.format(study_name) + "*"):
        pid = entry.name[len(_STAGING_PREFIX.format(study_name)) :].split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
