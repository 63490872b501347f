"""The camera calibration's details (JSON block) and HTML report: per-view error, extrinsics,
suspect views, and how much of the image the board's corners covered.

The intrinsics file written by ``igcs camera-calibration`` is
:class:`~registration.camera_intrinsics.CameraIntrinsics`'s (readers ignore extra keys) plus::

    "calibration": {
      "board": {kind, squares [c, r], inner_corners [c, r], square_mm},
      "gate": {quantity: "rms_reprojection_px", threshold_px, value_px, passed},
      "views": [{name, rms_px, corners, suspect, camera_from_board (4x4 row-major, mm),
                 distance_mm, tilt_deg}],        (tilt: camera axis to the board normal)
      "rejected_images": [...], "suspect_rule": text,
      "board_frame_ambiguous": bool,   (a chessboard symmetric under a 180 deg turn)
      "coverage": {grid [columns, rows], covered_cells, fraction},
      "warnings": [...]}

Coverage: the image is cut into a grid of ``COVERAGE_GRID`` cells and a cell counts when any
used view put a corner in it. Corners only in the centre leave the distortion at the edges to
extrapolation (Zhang 2000; OpenCV's calibration tutorial asks for corners near the edges).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from registration.camera_calibration import SUSPECT_FACTOR, CalibrationBoard, CameraCalibration
from registration.core.checks import Float64Array
from registration.reports.page import (
    ReportFigure,
    figure_png,
    table,
    verdict,
    warnings_html,
    write_report_folder,
)

#: (columns, rows) of the coverage grid over the image.
COVERAGE_GRID = (16, 12)
#: Below this share of covered cells the calibration carries a warning.
MIN_COVERAGE = 0.5


def coverage_cells(
    corners_px: tuple[Float64Array, ...], image_size_px: tuple[int, int]
) -> np.ndarray:
    """(rows, columns) int: how many corners of all views fall in each grid cell."""
    columns, rows = COVERAGE_GRID
    width, height = image_size_px
    counts = np.zeros((rows, columns), dtype=int)
    if corners_px:
        points = np.concatenate(corners_px)
        i = np.clip((points[:, 0] + 0.5) / width * columns, 0, columns - 1).astype(int)
        j = np.clip((points[:, 1] + 0.5) / height * rows, 0, rows - 1).astype(int)
        np.add.at(counts, (j, i), 1)
    return counts


def calibration_warnings(result: CameraCalibration, board: CalibrationBoard) -> list[str]:
    """Suspect views, an ambiguous board frame and poor coverage, in words."""
    notes = [
        f"view {name} is suspect (RMS {rms:.2f} px, more than {SUSPECT_FACTOR:g} x the median "
        "view and above the gate): remove it and calibrate again"
        for name, rms in zip(result.image_names, result.per_image_rms_px, strict=True)
        if name in result.suspect_images
    ]
    counts = coverage_cells(result.corners_px, result.intrinsics.image_size_px)
    fraction = float((counts > 0).mean())
    if board.looks_the_same_turned:
        columns, rows = board.squares
        notes.append(
            f"a {columns} x {rows} chessboard looks the same turned 180 deg, so each view's board "
            "frame (camera_from_board) may be turned by 180 deg about the board normal (the "
            "intrinsics are not affected); for extrinsics or hand-eye use a board with an odd "
            "total of squares (e.g. 15 x 10) or ChArUco"
        )
    if fraction < MIN_COVERAGE:
        notes.append(
            f"the corners cover {fraction:.0%} of the image ({COVERAGE_GRID[0]} x "
            f"{COVERAGE_GRID[1]} grid, at least {MIN_COVERAGE:.0%} advised): the distortion near "
            "the edges is extrapolated; add photos with the board near the image edges and corners"
        )
    return notes


def calibration_block(result: CameraCalibration, board: CalibrationBoard) -> dict[str, Any]:
    """The ``calibration`` block of the intrinsics JSON (see the module docstring)."""
    counts = coverage_cells(result.corners_px, result.intrinsics.image_size_px)
    centre = board.corners_in_board().mean(axis=0)
    views = []
    for k, name in enumerate(result.image_names):
        pose = result.camera_from_board[k]
        normal = pose[:3, 2]  # board z axis in the camera frame
        views.append(
            {
                "name": name,
                "rms_px": float(result.per_image_rms_px[k]),
                "corners": len(result.corners_px[k]) if result.corners_px else None,
                "suspect": name in result.suspect_images,
                "camera_from_board": pose.tolist(),
                "distance_mm": float(np.linalg.norm(pose[:3, :3] @ centre + pose[:3, 3])),
                "tilt_deg": float(np.degrees(np.arccos(min(1.0, abs(float(normal[2])))))),
            }
        )
    return {
        "board": {
            "kind": board.kind,
            "squares": list(board.squares),
            "inner_corners": list(board.inner_corners),
            "square_mm": board.square_mm,
        },
        "gate": {
            "quantity": "rms_reprojection_px",
            "threshold_px": result.gate_px,
            "value_px": result.rms_reprojection_px,
            "passed": result.passed,
        },
        "views": views,
        "rejected_images": list(result.rejected_images),
        "suspect_rule": f"view RMS > {SUSPECT_FACTOR:g} x the median view's and > the gate",
        "coverage": {
            "grid": list(COVERAGE_GRID),
            "covered_cells": int((counts > 0).sum()),
            "fraction": float((counts > 0).mean()),
        },
        "board_frame_ambiguous": board.looks_the_same_turned,
        "warnings": calibration_warnings(result, board),
    }


def coverage_figure(result: CameraCalibration) -> bytes:
    """Every used view's corners over the image frame, uncovered grid cells shaded."""
    width, height = result.intrinsics.image_size_px
    columns, rows = COVERAGE_GRID
    counts = coverage_cells(result.corners_px, (width, height))
    figure = Figure(figsize=(7.5, 7.5 * height / width + 0.6))
    axes = figure.add_subplot()
    for j in range(rows):
        for i in range(columns):
            if counts[j, i] == 0:
                axes.add_patch(
                    _rectangle(
                        i * width / columns, j * height / rows, width / columns, height / rows
                    )
                )
    for k, (name, corners) in enumerate(zip(result.image_names, result.corners_px, strict=True)):
        marker = "x" if name in result.suspect_images else "."
        axes.plot(corners[:, 0], corners[:, 1], marker, ms=3, color=f"C{k % 10}", label=name)
    for i in range(1, columns):
        axes.axvline(i * width / columns, color="#bbb", lw=0.5)
    for j in range(1, rows):
        axes.axhline(j * height / rows, color="#bbb", lw=0.5)
    axes.set_xlim(-0.5, width - 0.5)
    axes.set_ylim(height - 0.5, -0.5)
    axes.set_aspect("equal")
    fraction = float((counts > 0).mean())
    axes.set_title(f"corners of {len(result.image_names)} views; {fraction:.0%} of the cells")
    axes.set_xlabel("u (px)")
    axes.set_ylabel("v (px)")
    if len(result.image_names) <= 20:
        axes.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return figure_png(figure)


def per_view_figure(result: CameraCalibration) -> bytes:
    """Each view's RMS reprojection error with the gate and the suspect threshold."""
    figure = Figure(figsize=(8, 3.6))
    axes = figure.add_subplot()
    colours = ["#c00" if n in result.suspect_images else "#3182bd" for n in result.image_names]
    axes.bar(range(len(result.image_names)), result.per_image_rms_px, color=colours)
    axes.axhline(result.gate_px, color="#c00", ls="--", label=f"gate {result.gate_px:g} px")
    axes.axhline(
        result.rms_reprojection_px, color="k", label=f"overall {result.rms_reprojection_px:.3f} px"
    )
    axes.set_xticks(range(len(result.image_names)))
    axes.set_xticklabels(result.image_names, rotation=60, ha="right", fontsize=7)
    axes.set_ylabel("RMS reprojection error (px)")
    axes.legend(fontsize=8)
    return figure_png(figure)


def residual_figure(result: CameraCalibration) -> bytes:
    """Reprojection residuals of all corners (reprojected minus detected), px."""
    figure = Figure(figsize=(5, 5))
    axes = figure.add_subplot()
    for k, residual in enumerate(result.residuals_px):
        axes.plot(residual[:, 0], residual[:, 1], ".", ms=2, color=f"C{k % 10}")
    limit = max(1.0, float(np.max([np.abs(r).max() for r in result.residuals_px])) * 1.1)
    axes.set_xlim(-limit, limit)
    axes.set_ylim(limit, -limit)
    axes.set_aspect("equal")
    axes.axhline(0, color="k", lw=0.5)
    axes.axvline(0, color="k", lw=0.5)
    axes.set_xlabel("du (px)")
    axes.set_ylabel("dv (px)")
    return figure_png(figure)


def write_camera_report(
    out_dir: str | Path, result: CameraCalibration, board: CalibrationBoard
) -> dict[str, Path]:
    """Write the camera calibration report folder (report.html and figures)."""
    block = calibration_block(result, board)
    k = result.intrinsics.camera_matrix
    intrinsic_rows = [
        ["fx", float(k[0, 0])],
        ["fy", float(k[1, 1])],
        ["cx", float(k[0, 2])],
        ["cy", float(k[1, 2])],
        *[
            [n, float(v)]
            for n, v in zip(
                ("k1", "k2", "p1", "p2", "k3"), result.intrinsics.distortion, strict=True
            )
        ],
    ]
    view_rows = [
        [v["name"], v["corners"], v["rms_px"], v["distance_mm"], v["tilt_deg"],
         "SUSPECT" if v["suspect"] else ""]
        for v in block["views"]
    ]  # fmt: skip
    body = (
        f"<h1>Camera calibration</h1><p>{board.describe()}; board found in "
        f"{len(result.image_names)} of {len(result.image_names) + len(result.rejected_images)} "
        f"images; image {result.intrinsics.image_size_px[0]} x "
        f"{result.intrinsics.image_size_px[1]} px. Calibration: OpenCV calibrateCamera (Zhang "
        "2000), 5-coefficient distortion.</p>"
        + verdict(
            result.passed,
            f"RMS reprojection {result.rms_reprojection_px:.3f} px vs gate {result.gate_px:g} px",
        )
        + warnings_html(block["warnings"])
        + "<h2>Intrinsics</h2>"
        + table(["parameter", "value (px; distortion unitless)"], intrinsic_rows)
        + "<h2>Views</h2>"
        + table(["view", "corners", "RMS (px)", "distance (mm)", "tilt (deg)", ""], view_rows)
        + (
            "<p>Board not found in: " + ", ".join(result.rejected_images) + "</p>"
            if result.rejected_images
            else ""
        )
        + f"<p>Suspect rule: {block['suspect_rule']}.</p>"
    )
    figures = [
        ReportFigure(
            "camera_coverage.png", "Image coverage by the corners", coverage_figure(result)
        ),
        ReportFigure("camera_per_view.png", "Error per view", per_view_figure(result)),
        ReportFigure("camera_residuals.png", "Reprojection residuals", residual_figure(result)),
    ]
    return write_report_folder(out_dir, "igcs camera calibration report", body, figures)


def _rectangle(x: float, y: float, width: float, height: float) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.5, y - 0.5), width, height, color="#fde0dd", zorder=0)
