"""What the parent run says at a glance: the verdict in words, the search space, the description."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hedgeopt.names import (
    MLFLOW_NOTE,
    TAG_BEST_BASELINE,
    TAG_SEARCH_SPACE,
    TAG_VERDICT,
    TAG_VERDICT_TEXT,
)

MAX_TAG = 5000  # MLflow's tag values hold 8,000 characters; a one-line tag stays well below


def _num(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1e5 else f"{v:.4g}"


def verdict_line(verdict: Mapping[str, Any]) -> str:
    """The verdict in one line, e.g. ``ties whalley_wilmott: +2.5 [-9.4, 14.2]; prefer the baseline``.

    The difference is tuned minus baseline, out of sample, with its 95% interval; a verdict
    without an interval (point figures only, several metrics) is its own first sentence.
    """
    outcome = str(verdict.get("outcome") or "not assessed")
    ref = verdict.get("best_baseline")
    d = verdict.get("difference") or {}
    finite = all(
        isinstance(d.get(k), (int, float)) and math.isfinite(float(d[k])) for k in ("value", "low", "high")
    )
    if outcome in ("wins", "ties", "loses") and ref and finite:
        line = (
            f"{outcome} {ref}: {float(d['value']):+.3g} [{_num(float(d['low']))}, {_num(float(d['high']))}]"
        )
    elif outcome in ("wins", "ties", "loses") and ref:
        line = f"{outcome} {ref}"
    else:
        text = str(verdict.get("text") or outcome).split(". ")[0].rstrip(".")
        if verdict.get("prefer"):  # several metrics: a baseline dominates on the point figures
            text += f"; prefer the baseline {verdict['prefer']}"
        return text[:MAX_TAG]
    if verdict.get("prefer"):
        line += (
            f"; prefer the baseline {verdict['prefer']}"
            if verdict["prefer"] != ref
            else "; prefer the baseline"
        )
    elif outcome == "wins":
        line += "; prefer the tuned config"
    return line


def search_space_line(space: Any) -> str:
    """The tuned keys and their ranges, ``key [low, high] log; key {a, b}; ...``, cut to a tag's size."""
    parts = []
    for p in space.params:
        if p.kind == "categorical":
            part = f"{p.name} {{{', '.join(str(c) for c in p.choices)}}}"
        else:
            part = (
                f"{p.name} [{p.low}, {p.high}]"
                + (" log" if p.log else "")
                + (f" step {p.step}" if p.step else "")
            )
        if p.when:
            part += " when " + ", ".join(f"{k} in {list(v)}" for k, v in p.when.items())
        parts.append(part)
    line = "; ".join(parts)
    return line if len(line) <= MAX_TAG else line[: MAX_TAG - 40] + " ... (all in search_space.yaml)"


def log_search_space(tracker: Any, space: Any, raw: Mapping[str, Any] | None) -> None:
    """The search space as the parent run's ``search_space.yaml`` artifact and its one-line tag."""
    import yaml

    run_id = tracker.parent_id
    if raw:
        tracker.log_text(run_id, yaml.safe_dump(dict(raw), sort_keys=False), "search_space.yaml")
    if len(space):
        tracker.client.set_tag(run_id, TAG_SEARCH_SPACE, search_space_line(space))


def describe_parent(
    tracker: Any, verdict: Mapping[str, Any], best_number: int, best_run_id: str | None
) -> str:
    """Tag the verdict (code, baseline, words) and write the parent run's description; returns
    the line."""
    line = verdict_line(verdict)
    client, run_id = tracker.client, tracker.parent_id
    client.set_tag(run_id, TAG_VERDICT, str(verdict.get("outcome")))
    if verdict.get("best_baseline"):
        client.set_tag(run_id, TAG_BEST_BASELINE, str(verdict["best_baseline"]))
    client.set_tag(run_id, TAG_VERDICT_TEXT, line)
    best = f"trial {best_number}"
    if best_run_id is not None:
        best = f"[{best}](#/experiments/{tracker.experiment_id}/runs/{best_run_id})"
    note = (
        f"**Verdict: {line}** (tuned minus best baseline, out of sample, 95% interval)\n\n"
        f"{verdict.get('text', '')}\n\nBest trial: {best}"
    )
    client.set_tag(run_id, MLFLOW_NOTE, note)
    return line
