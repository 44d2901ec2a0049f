"""Usage over time drawn with matplotlib (Agg backend, no display): one line per group.

Imported only by ``cloudctl usage report --plot``, so the rest of the CLI
starts without loading matplotlib.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: never look for a display

import matplotlib.dates as mdates  # noqa: E402 - after the backend is chosen
import matplotlib.pyplot as plt  # noqa: E402

from cloudctl.accounting import METRIC_LABELS, label  # noqa: E402

PLOT_FORMATS = {".png": "png", ".svg": "svg"}
MAX_LEGEND = 25  # beyond this many groups the legend would hide the plot
LINE_GID = "usage-line-"  # each group's line carries this id prefix in SVG output


def plot_format(path: str) -> str:
    """Return the file format named by ``path``'s extension (png or svg); raises ValueError."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in PLOT_FORMATS:
        raise ValueError(f"cannot draw {path!r}: name a .png or .svg file")
    return PLOT_FORMATS[ext]


def draw(path: str, groups: Sequence[Mapping[str, Any]], metric: str, header: Mapping[str, Any],
         tree: bool = False) -> None:
    """Write the plot of ``metric`` per group over each series' period_start to ``path``.

    Raises ValueError for an extension other than .png or .svg, OSError if the file cannot be written.
    """
    fmt = plot_format(path)
    quantity, unit = METRIC_LABELS[metric]
    granularity = header.get("granularity") or "period"
    fig, ax = plt.subplots(figsize=(10, 5.5), layout="constrained")
    try:
        for group in groups:
            points = group["series"]
            name = ("  " * int(group.get("depth") or 0) if tree else "") + label(group)
            (line,) = ax.plot([p["period_start"] for p in points], [p[metric] for p in points],
                              marker="." if len(points) < 50 else None, label=name)
            line.set_gid(f"{LINE_GID}{group['key']}")
        ax.set_xlabel(f"period start (UTC, per {granularity})")
        ax.set_ylabel(f"{quantity} ({unit} per {granularity})")
        by = "project subtree" if tree else header.get("group_by") or "group"
        ax.set_title(f"{quantity} by {by}, {header.get('start')} to {header.get('end')}")
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        if groups and len(groups) <= MAX_LEGEND:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
        fig.savefig(path, format=fmt)
    finally:
        plt.close(fig)
