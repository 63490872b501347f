"""The dwells' JSON summary and HTML report (speed over time, positions, the dwell table).

JSON (``schema`` "igcs-dwells", ``schema_version`` 1)::

    {recording, tool, frame, max_speed_mm_s, min_duration_s, max_spread_mm,
     dwells: [{number, kept, name, start_s, end_s, samples, position_mm [x, y, z],
               spread_mm, max_deviation_mm}],
     gate: {expected_count, kept_count, max_spread_mm, worst_spread_mm, passed},
     markups: path of the Slicer markups written}
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from navigation.tracking.dwells import RecordedDwell
from registration.core.checks import Float64Array
from registration.reports.page import (
    ReportFigure,
    figure_png,
    table,
    verdict,
    write_report_folder,
)

DWELLS_SCHEMA = "igcs-dwells"
DWELL_COLUMNS = ("dwell", "name", "start (s)", "duration (s)", "samples", "x", "y", "z",
                 "spread (mm)", "max dev. (mm)")  # fmt: skip


def dwells_payload(
    dwells: Sequence[RecordedDwell],
    kept: dict[int, str],
    *,
    recording: str,
    tool: str,
    frame: str,
    settings: dict[str, float],
    gate: dict[str, Any],
    markups: str | None,
) -> dict[str, Any]:
    """The JSON summary; ``kept`` maps kept dwell numbers to their names."""
    return {
        "schema": DWELLS_SCHEMA,
        "schema_version": 1,
        "recording": recording,
        "tool": tool,
        "frame": frame,
        **settings,
        "dwells": [
            {
                "number": d.number,
                "kept": d.number in kept,
                "name": kept.get(d.number),
                "start_s": d.start_s,
                "end_s": d.end_s,
                "samples": d.sample_count,
                "position_mm": d.position_mm.tolist(),
                "spread_mm": d.spread_mm,
                "max_deviation_mm": d.max_deviation_mm,
            }
            for d in dwells
        ],
        "gate": gate,
        "markups": markups,
    }


def dwell_figures(
    timestamps_s: Float64Array,
    positions_mm: Float64Array,
    dwells: Sequence[RecordedDwell],
    kept: dict[int, str],
    max_speed_mm_s: float,
) -> list[ReportFigure]:
    """Speed over time with the dwells shaded, and the positions with the dwell means."""
    times = timestamps_s - timestamps_s[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        speed = np.linalg.norm(np.gradient(positions_mm, timestamps_s, axis=0), axis=1)
    figure = Figure(figsize=(9, 3.6))
    axes = figure.add_subplot()
    axes.semilogy(times, np.maximum(speed, 1e-3), lw=0.8, color="#3182bd", label="speed")
    axes.axhline(max_speed_mm_s, color="#c00", ls="--", label=f"still below {max_speed_mm_s:g}")
    for d in dwells:
        start, end = d.start_s - timestamps_s[0], d.end_s - timestamps_s[0]
        axes.axvspan(start, end, color="#a1d99b" if d.number in kept else "#ddd", alpha=0.6)
        axes.text(0.5 * (start + end), max_speed_mm_s * 3, str(d.number), ha="center", fontsize=8)
    axes.set_xlabel("time (s from the first sample)")
    axes.set_ylabel("tip speed (mm/s)")
    axes.legend(loc="upper right", fontsize=8)
    speed_png = figure_png(figure)

    figure = Figure(figsize=(9, 4.2))
    for column, (a, b) in enumerate(((0, 1), (0, 2))):
        axes = figure.add_subplot(1, 2, column + 1)
        axes.plot(positions_mm[:, a], positions_mm[:, b], lw=0.5, color="#bbb")
        for d in dwells:
            colour = "#31a354" if d.number in kept else "#888"
            axes.plot(*d.position_mm[[a, b]], "o", color=colour, ms=5)
            label = kept.get(d.number, str(d.number))
            where = (float(d.position_mm[a]), float(d.position_mm[b]))
            axes.annotate(label, where, fontsize=8, xytext=(3, 3), textcoords="offset points")
        axes.set_xlabel(f"{'xyz'[a]} (mm)")
        axes.set_ylabel(f"{'xyz'[b]} (mm)")
        axes.set_aspect("equal", adjustable="datalim")
    positions_png = figure_png(figure)
    return [
        ReportFigure("dwell_speed.png", "Tip speed and the dwells", speed_png),
        ReportFigure("dwell_positions.png", "Tip path and the dwell points", positions_png),
    ]


def write_dwell_report(
    out_dir: str | Path,
    payload: dict[str, Any],
    figures: list[ReportFigure],
) -> dict[str, Path]:
    """Write report.html and the figures into ``out_dir``."""
    gate = payload["gate"]
    rows = [
        [
            d["number"],
            d["name"] or "-",
            d["start_s"],
            d["end_s"] - d["start_s"],
            d["samples"],
            *[float(v) for v in d["position_mm"]],
            d["spread_mm"],
            d["max_deviation_mm"],
        ]
        for d in payload["dwells"]
    ]
    expected = gate["expected_count"]
    body = (
        f"<h1>Dwells</h1><p>Recording {html.escape(payload['recording'])}; tool "
        f"<b>{html.escape(payload['tool'])}</b> (positions in the {html.escape(payload['frame'])}"
        f" frame, mm). A dwell: speed at most {payload['max_speed_mm_s']:g} mm/s for at least "
        f"{payload['min_duration_s']:g} s; its point is the mean position, its spread the RMS "
        "distance from it.</p>"
        + verdict(
            gate["passed"],
            f"{gate['kept_count']} dwells kept"
            + (f" (expected {expected})" if expected is not None else "")
            + f", largest spread {gate['worst_spread_mm']:.3f} mm vs {gate['max_spread_mm']:g} mm",
        )
        + table(DWELL_COLUMNS, rows)
    )
    return write_report_folder(out_dir, "igcs dwells report", body, figures)
