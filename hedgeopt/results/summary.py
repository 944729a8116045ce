"""The console summary printed at the end of an invocation, and its plain-text tables."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class StudyOutcome:
    """What an invocation's end reports: built once by the finish step, read by :func:`study_summary`."""

    study_name: str
    counts: Mapping[str, int]  # trials by state
    best_params: Mapping[str, Any]
    in_sample: Mapping[str, float]  # the best trial's metrics
    out_of_sample: Mapping[str, float]
    baselines: Mapping[str, Mapping[str, Mapping[str, float]]]  # name -> split -> metrics
    metrics: Sequence[str]  # the optimised metrics
    export_paths: Sequence[Path]
    ui_command: str  # how to browse the trials
    experiment_id: str
    confidence: Sequence[str] = ()  # the confidence statistics, one line each
    held_out_name: Callable[[str], str] | None = None  # the objective's out-of-sample metric names


def study_summary(o: StudyOutcome) -> str:
    """The end-of-study console report."""
    oos, held_out = o.out_of_sample, o.held_out_name
    parts = [f"\nStudy {o.study_name}: " + ", ".join(f"{k.lower()} {v}" for k, v in o.counts.items())]
    parts.append(table([(k, v) for k, v in o.best_params.items()], ["best param", "value"]))
    every = list(dict.fromkeys([*o.metrics, *o.in_sample.keys()]))
    keys = every[:MAX_ROWS]
    rows = [(k, o.in_sample.get(k, ""), counterpart(oos, k, held_out)) for k in keys]
    paired = {oos_name(oos, k, held_out) for k in every}
    unpaired = [(k, "", v) for k, v in oos.items() if k not in paired]  # e.g. p-values
    rows += unpaired[:MAX_UNPAIRED]
    metric_table = table(rows, ["metric", "in-sample", "out-of-sample"])
    left_out = len(every) - len(keys) + max(0, len(unpaired) - MAX_UNPAIRED)
    if left_out:
        metric_table += (
            f"\n... {left_out} more metric row{'s' if left_out > 1 else ''} not shown: every metric is in "
            "the parent run's results.csv / results.html and in the export's performance block"
        )
    parts.append(metric_table)
    if o.baselines:
        brow = []
        for name, res in o.baselines.items():
            ins, b_oos = res.get("in_sample", {}), res.get("out_of_sample", {})
            for m in o.metrics:
                brow.append((name, m, ins.get(m, ""), counterpart(b_oos, m, held_out)))
        parts.append(table(brow, ["baseline", "metric", "in-sample", "out-of-sample"]))
    if o.confidence:
        parts.append("\n".join(o.confidence))
    parts.append("Exported: " + ", ".join(str(p) for p in o.export_paths))
    browse = f"Browse every trial: {o.ui_command}   (experiment {o.study_name}, id {o.experiment_id})"
    if o.ui_command.startswith("mlflow ui"):  # MLflow 3's UI opens on GenAI pages unless told
        browse += (
            f"\n  then open http://127.0.0.1:5000/#/experiments/{o.experiment_id}/runs"
            "?workflowType=machine_learning"
        )
    parts.append(browse)
    return "\n\n".join(parts) + "\n"
