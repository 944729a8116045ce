"""MLflow entities beyond runs: source tags, the dataset input, and the results table."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hedgeopt.names import MLFLOW_GIT_COMMIT, MLFLOW_SOURCE_NAME, MLFLOW_SOURCE_TYPE, MLFLOW_USER, TAG_VERSION


def source_tags() -> dict[str, str]:
    """MLflow's source tags: the command line, and the git commit when hedgeopt runs from a checkout."""
    import shlex
    import subprocess
    import sys

    argv = [a for a in sys.argv[1:] if "://" not in a]  # no URL (and no password) in a tag
    tags = {MLFLOW_SOURCE_NAME: shlex.join(["hedgeopt", *argv])[:500], MLFLOW_SOURCE_TYPE: "LOCAL"}
    try:
        import getpass

        tags[MLFLOW_USER] = getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        tags[MLFLOW_USER] = "unknown"
    root = Path(__file__).resolve().parents[2]  # the checkout holding hedgeopt/tracking/
    if (root / ".git").exists():
        try:
            sha = subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5, check=True
            ).stdout.strip()
            if sha:
                tags[MLFLOW_GIT_COMMIT] = sha
        except (OSError, subprocess.SubprocessError):
            pass
    from hedgeopt import __version__

    tags[TAG_VERSION] = __version__
    return tags


def mlflow_dataset(desc: Mapping[str, Any]) -> Any:
    """An ``mlflow.entities.Dataset`` from an objective's :meth:`~hedgeopt.protocol.Objective.dataset`.

    A file is a ``local`` source (its path) with the digest of its bytes; simulated paths are a
    ``code`` source whose digest covers the generator's settings. The profile carries rows and
    the date range or settings, which the UI shows beside the dataset.
    """
    import json

    from mlflow.entities import Dataset

    simulated = "settings" in desc
    source = (
        {"tags": {"settings": json.dumps(desc["settings"], default=str)[:4000]}}
        if simulated
        else {"uri": str(desc.get("source", ""))}
    )
    profile = {k: desc[k] for k in ("rows", "date_range") if desc.get(k) is not None}
    if simulated:
        profile["settings"] = desc["settings"]
    schema = (
        json.dumps({"mlflow_colspec": [{**c, "required": True} for c in desc["schema"]]})
        if desc.get("schema")
        else None
    )  # the UI's Dataset panel shows the columns and their types
    return Dataset(
        name=str(desc.get("name", "data")),
        digest=str(desc.get("digest", ""))[:36],
        source_type="code" if simulated else "local",
        source=json.dumps(source),
        schema=schema,
        profile=json.dumps(profile, default=str)[:60000],
    )


def results_table(
    in_sample: Mapping[str, float],
    out_of_sample: Mapping[str, float],
    baselines: Mapping[str, Mapping[str, Mapping[str, float]]],
) -> Any:
    """Every metric of the tuned config and of each baseline, in- and out-of-sample, as one table.

    Rows: ``tuned`` then the baselines; columns: ``(split, metric)``. This is where the parent
    run keeps the figures that would otherwise be dozens of one-bar metric charts.
    """
    import pandas as pd

    rows = {"tuned": {("in_sample", k): v for k, v in in_sample.items()}}
    rows["tuned"].update({("out_of_sample", k): v for k, v in out_of_sample.items()})
    for name, splits in baselines.items():
        rows[name] = {(split, k): v for split, ms in splits.items() for k, v in (ms or {}).items()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.columns = pd.MultiIndex.from_tuples(table.columns, names=["split", "metric"])
    return table.sort_index(axis=1, level=0, sort_remaining=False)
