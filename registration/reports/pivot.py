"""The pivot calibration's JSON payload and HTML report (per-pose residual plots).

JSON (``schema`` "igcs-pivot-calibration", ``schema_version`` 2)::

    {method, tip_in_tool_mm, pivot_in_tracker_mm, tool_from_tip (4x4 row-major, PLUS's
     StylusTipToStylus), pose_count, inlier_count,
     residuals: {rms_mm, per_axis_rms_mm [x, y, z], component_rms_mm, mean_mm, median_mm,
                 max_mm},                        (over the inliers; definitions below)
     definitions: {key: text},                   (registration.pivot_residuals)
     reference_conventions: {"scikit-surgerycalibration residual_error": component_rms_mm,
                             "PLUS PivotCalibrationErrorMm": mean_mm},
     gate: {quantity: "residuals.rms_mm", threshold_mm, value_mm, passed},
     rms_error_mm, mean_error_mm, max_error_mm, gate_mm, passed,   (version 1 names, kept)
     rotation_spread_deg, weak_axis_in_tool, recommended_spread_deg,
     other_method: {method, tip_in_tool_mm, pivot_in_tracker_mm, rms_error_mm,
                    tip_difference_mm, pivot_difference_mm} | null,
     ransac: {threshold_mm} | null, warnings: [...],
     poses: [{index, error_mm, residual_mm [x, y, z], inlier}]}
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from registration.pivot_calibration import RECOMMENDED_SPREAD_DEG, PivotCalibration
from registration.pivot_residuals import RESIDUAL_DEFINITIONS
from registration.reports.page import (
    ReportFigure,
    definitions,
    figure_png,
    table,
    verdict,
    warnings_html,
    write_report_folder,
)

PIVOT_SCHEMA = "igcs-pivot-calibration"
PIVOT_SCHEMA_VERSION = 2


def pivot_payload(result: PivotCalibration, *, source: str | None = None) -> dict[str, Any]:
    """The JSON-ready result (see the module docstring)."""
    residuals = result.residuals
    other = result.other_method
    payload: dict[str, Any] = {
        "schema": PIVOT_SCHEMA,
        "schema_version": PIVOT_SCHEMA_VERSION,
        "source": source,
        "method": result.method,
        "tip_in_tool_mm": result.tip_in_tool.tolist(),
        "pivot_in_tracker_mm": result.pivot_in_tracker.tolist(),
        "tool_from_tip": result.tool_from_tip.tolist(),
        "pose_count": len(residuals.errors_mm),
        "inlier_count": int(result.inliers.sum()),
        "residuals": residuals.summary(),
        "definitions": dict(RESIDUAL_DEFINITIONS),
        "reference_conventions": {
            "scikit-surgerycalibration residual_error": residuals.component_rms_mm,
            "PLUS PivotCalibrationErrorMm": residuals.mean_mm,
        },
        "gate": {
            "quantity": "residuals.rms_mm",
            "threshold_mm": result.gate_mm,
            "value_mm": residuals.rms_mm,
            "passed": result.passed,
        },
        "rms_error_mm": residuals.rms_mm,
        "mean_error_mm": residuals.mean_mm,
        "max_error_mm": residuals.max_mm,
        "gate_mm": result.gate_mm,
        "passed": result.passed,
        "rotation_spread_deg": result.rotation_spread_deg,
        "weak_axis_in_tool": result.weak_axis_in_tool.tolist(),
        "recommended_spread_deg": RECOMMENDED_SPREAD_DEG,
        "other_method": None
        if other is None
        else {
            "method": other.method,
            "tip_in_tool_mm": other.tip_in_tool.tolist(),
            "pivot_in_tracker_mm": other.pivot_in_tracker.tolist(),
            "rms_error_mm": other.rms_error_mm,
            "tip_difference_mm": other.tip_difference_mm,
            "pivot_difference_mm": other.pivot_difference_mm,
        },
        "ransac": None
        if result.ransac_threshold_mm is None
        else {"threshold_mm": result.ransac_threshold_mm},
        "warnings": list(result.warnings),
        "poses": [
            {
                "index": i,
                "error_mm": float(residuals.errors_mm[i]),
                "residual_mm": residuals.residuals_mm[i].tolist(),
                "inlier": bool(result.inliers[i]),
            }
            for i in range(len(residuals.errors_mm))
        ],
    }
    return payload


def residual_figures(result: PivotCalibration) -> list[ReportFigure]:
    """Per-pose tip error over the recording, its components, and its histogram."""
    residuals = result.residuals
    index = np.arange(len(residuals.errors_mm))
    inliers = result.inliers
    figure = Figure(figsize=(9, 3.6))
    axes = figure.add_subplot()
    axes.plot(index[inliers], residuals.errors_mm[inliers], ".", ms=3, label="pose (used)")
    if (~inliers).any():
        axes.plot(
            index[~inliers], residuals.errors_mm[~inliers], "x", ms=4, color="#c00",
            label="RANSAC outlier",
        )  # fmt: skip
    axes.axhline(residuals.rms_mm, color="k", label=f"3-D RMS {residuals.rms_mm:.3f} mm")
    axes.axhline(residuals.mean_mm, color="k", ls=":", label=f"mean {residuals.mean_mm:.3f} mm")
    axes.axhline(result.gate_mm, color="#c00", ls="--", label=f"gate {result.gate_mm:g} mm")
    axes.set_xlabel("pose (recording order)")
    axes.set_ylabel("|e_i| tip distance from pivot (mm)")
    axes.legend(loc="upper right", fontsize=8)
    errors_png = figure_png(figure)

    figure = Figure(figsize=(9, 3.6))
    axes = figure.add_subplot()
    for axis, name in enumerate("xyz"):
        rms = residuals.per_axis_rms_mm[axis]
        axes.plot(
            index, residuals.residuals_mm[:, axis], lw=0.8, label=f"e_{name} (RMS {rms:.3f} mm)"
        )
    axes.axhline(0.0, color="k", lw=0.5)
    axes.set_xlabel("pose (recording order)")
    axes.set_ylabel("residual component (mm, tracker axes)")
    axes.legend(loc="upper right", fontsize=8)
    components_png = figure_png(figure)

    figure = Figure(figsize=(6, 3.6))
    axes = figure.add_subplot()
    axes.hist(residuals.errors_mm[inliers], bins=50, color="#9ecae1")
    axes.axvline(result.gate_mm, color="#c00", ls="--", label=f"gate {result.gate_mm:g} mm")
    axes.set_xlabel("|e_i| (mm)")
    axes.set_ylabel("poses")
    axes.legend(fontsize=8)
    histogram_png = figure_png(figure)
    return [
        ReportFigure("pivot_residuals.png", "Tip error per pose", errors_png),
        ReportFigure("pivot_components.png", "Residual components per pose", components_png),
        ReportFigure("pivot_histogram.png", "Distribution of the tip error", histogram_png),
    ]


def write_pivot_report(
    out_dir: str | Path, result: PivotCalibration, *, source: str | None = None
) -> dict[str, Path]:
    """Write the pivot report folder (report.html and the PNG figures)."""
    residuals = result.residuals
    tip, pivot = result.tip_in_tool, result.pivot_in_tracker
    rows: list[list[Any]] = [
        ["3-D RMS (gated)", residuals.rms_mm, "rms_mm"],
        ["per-axis RMS x", float(residuals.per_axis_rms_mm[0]), "per_axis_rms_mm"],
        ["per-axis RMS y", float(residuals.per_axis_rms_mm[1]), "per_axis_rms_mm"],
        ["per-axis RMS z", float(residuals.per_axis_rms_mm[2]), "per_axis_rms_mm"],
        ["component RMS (scikit-surgery)", residuals.component_rms_mm, "component_rms_mm"],
        ["mean (PLUS)", residuals.mean_mm, "mean_mm"],
        ["median", residuals.median_mm, ""],
        ["max", residuals.max_mm, "max_mm"],
    ]
    intro = (
        f"<p>Source: {html.escape(source or '-')}. Method: <b>{result.method}</b>; "
        f"{int(result.inliers.sum())} of {len(residuals.errors_mm)} poses used"
        + (
            f" (RANSAC, inlier distance {result.ransac_threshold_mm:g} mm)"
            if result.ransac_threshold_mm is not None
            else ""
        )
        + ".</p>"
        f"<p>Tip in the pointer frame: {np.round(tip, 3).tolist()} mm; pivot in the tracker: "
        f"{np.round(pivot, 3).tolist()} mm. Rotation spread {result.rotation_spread_deg:.1f} "
        f"deg RMS about {np.round(result.weak_axis_in_tool, 2).tolist()} (pointer frame; "
        f"recommended at least {RECOMMENDED_SPREAD_DEG:g} deg).</p>"
    )
    body = (
        f"<h1>Pivot calibration</h1>{intro}"
        + verdict(
            result.passed,
            f"3-D RMS tip error {residuals.rms_mm:.3f} mm vs gate {result.gate_mm:g} mm",
        )
        + warnings_html(result.warnings)
        + "<h2>Residual figures (mm)</h2>"
        + table(["figure", "value (mm)", "definition key"], rows)
        + definitions(RESIDUAL_DEFINITIONS)
    )
    other = result.other_method
    if other is not None:
        body += "<h2>Second method</h2>" + table(
            ["method", "tip x", "tip y", "tip z", "3-D RMS", "tip difference", "pivot difference"],
            [
                [result.method, *map(float, tip), residuals.rms_mm, 0.0, 0.0],
                [
                    other.method,
                    *map(float, other.tip_in_tool),
                    other.rms_error_mm,
                    other.tip_difference_mm,
                    other.pivot_difference_mm,
                ],
            ],
        )
    return write_report_folder(out_dir, "igcs pivot report", body, residual_figures(result))
