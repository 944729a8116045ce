"""The console summary printed at the end of an invocation, and its plain-text tables."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hedgeopt.results.assessment import counterpart as oos_name

MAX_ROWS = 14  # metric rows the console shows; the rest are counted and pointed to
MAX_UNPAIRED = 8  # out-of-sample-only rows (p-values and the like)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if v != 0 and (abs(v) >= 1e6 or abs(v) < 1e-3):
            return f"{v:.4g}"
        return f"{v:,.4f}"
    return str(v)


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """A plain-text table."""
    cells = [[str(h) for h in header]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def counterpart(
    out_of_sample: Mapping[str, float], name: str, held_out_name: Callable[[str], str] | None = None
) -> Any:
    """The out-of-sample value of a search metric (its own name or the objective's held-out one)."""
    key = oos_name(out_of_sample, name, held_out_name)
    return "" if key is None else out_of_sample[key]


def study_summary(
    study_name: str,
    counts: Mapping[str, int],
    best_params: Mapping[str, Any],
    in_sample: Mapping[str, float],
    out_of_sample: Mapping[str, float],
    baselines: Mapping[str, Mapping[str, Mapping[str, float]]],
    metrics: Sequence[str],
    export_paths: Sequence[Path],
    ui_command: str,
    experiment_id: str,
    confidence: Sequence[str] = (),
    held_out_name: Callable[[str], str] | None = None,
) -> str:
    """The end-of-study console report."""
    parts = [f"\nStudy {study_name}: " + ", ".join(f"{k.lower()} {v}" for k, v in counts.items())]
    parts.append(table([(k, v) for k, v in best_params.items()], ["best param", "value"]))
    every = list(dict.fromkeys([*metrics, *in_sample.keys()]))
    keys = every[:MAX_ROWS]
    rows = [(k, in_sample.get(k, ""), counterpart(out_of_sample, k, held_out_name)) for k in keys]
    paired = {oos_name(out_of_sample, k, held_out_name) for k in every}
    unpaired = [(k, "", v) for k, v in out_of_sample.items() if k not in paired]  # e.g. p-values
    rows += unpaired[:MAX_UNPAIRED]
    metric_table = table(rows, ["metric", "in-sample", "out-of-sample"])
    left_out = len(every) - len(keys) + max(0, len(unpaired) - MAX_UNPAIRED)
    if left_out:
        metric_table += (
            f"\n... {left_out} more metric row{'s' if left_out > 1 else ''} not shown: every metric is in "
            "the parent run's results.csv / results.html and in the export's performance block"
        )
    parts.append(metric_table)
    if baselines:
        brow = []
        for name, res in baselines.items():
            ins, oos = res.get("in_sample", {}), res.get("out_of_sample", {})
            for m in metrics:
                brow.append((name, m, ins.get(m, ""), counterpart(oos, m, held_out_name)))
        parts.append(table(brow, ["baseline", "metric", "in-sample", "out-of-sample"]))
    if confidence:
        parts.append("\n".join(confidence))
    parts.append("Exported: " + ", ".join(str(p) for p in export_paths))
    browse = f"Browse every trial: {ui_command}   (experiment {study_name}, id {experiment_id})"
    if ui_command.startswith("mlflow ui"):  # MLflow 3's UI opens on GenAI pages unless told
        browse += (
            f"\n  then open http://127.0.0.1:5000/#/experiments/{experiment_id}/runs"
            "?workflowType=machine_learning"
        )
    parts.append(browse)
    return "\n\n".join(parts) + "\n"
