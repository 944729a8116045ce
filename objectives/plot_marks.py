"""Marks every study's figures share: the best trial drawn the same way in each."""

from __future__ import annotations

from typing import Any


def mark_best(ax: Any, x: float, y: float, label: str) -> None:
    """A gold star at ``(x, y)`` above the other points, named ``label`` in the legend."""
    ax.scatter([x], [y], s=220, marker="*", color="gold", edgecolor="k", zorder=5, label=label)
    ax.legend(loc="best", fontsize=8)
