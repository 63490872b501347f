"""The hand-eye calibration's details (JSON block) and HTML report: held-out errors per view, the
other methods' answers, the chain's corners drawn over a held-out photo.

The hand-eye file written by ``igcs hand-eye`` is :class:`~registration.hand_eye.HandEye`'s
(readers ignore extra keys) plus::

    "calibration": {
      "gate": {quantity: "validation_rms_mm", threshold_mm, value_mm,
               threshold_px | null, value_px, passed},
      "calibration_views": [...], "skipped_views": [...],
      "validation_views": [{name, rms_px, rms_mm}],
      "tracker_from_board": 4x4 (mm, as estimated or given),
      "methods": [{method, rotation_difference_deg, translation_difference_mm}],
      "warnings": [...]}

Validation error definitions (held-out views, :func:`registration.hand_eye.validate_hand_eye`):
``rms_px`` is the RMS distance between the detected corners and the corners projected through
tracker -> camera marker -> camera; ``rms_mm`` the RMS distance on the board plane between each
corner and where its detected pixel's viewing ray meets the board placed by the same chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from numpy.typing import NDArray

from registration.hand_eye import HandEyeCalibration
from registration.reports.page import (
    ReportFigure,
    figure_png,
    table,
    verdict,
    warnings_html,
    write_report_folder,
)

#: Other methods further than this from the result are worth a warning (deg, mm).
METHOD_SPREAD_WARNING = (0.5, 2.0)


def hand_eye_gate(
    result: HandEyeCalibration, gate_mm: float, gate_px: float | None
) -> dict[str, Any]:
    """The gate on the held-out errors: mm on the board (always), px (when given)."""
    validation = result.validation
    passed = validation.rms_mm <= gate_mm and (gate_px is None or validation.rms_px <= gate_px)
    return {
        "quantity": "validation_rms_mm",
        "threshold_mm": gate_mm,
        "value_mm": validation.rms_mm,
        "threshold_px": gate_px,
        "value_px": validation.rms_px,
        "passed": bool(passed),
    }


def hand_eye_warnings(result: HandEyeCalibration) -> list[str]:
    """Other methods far from the result, in words."""
    rotation_limit, translation_limit = METHOD_SPREAD_WARNING
    far = {
        m: d
        for m, d in result.method_differences.items()
        if d[0] > rotation_limit or d[1] > translation_limit
    }
    if not far:
        return []
    listed = ", ".join(f"{m} {d[0]:.2f} deg / {d[1]:.1f} mm" for m, d in far.items())
    return [
        f"the hand-eye methods disagree ({listed} from {result.hand_eye.method}); the views "
        "constrain the camera poorly: add views with larger rotations about different axes"
    ]


def hand_eye_block(result: HandEyeCalibration, gate: dict[str, Any]) -> dict[str, Any]:
    """The ``calibration`` block of the hand-eye JSON (see the module docstring)."""
    validation = result.validation
    return {
        "gate": gate,
        "calibration_views": list(result.calibration_views),
        "skipped_views": list(result.skipped_views),
        "validation_views": [
            {"name": name, "rms_px": float(px), "rms_mm": float(mm)}
            for name, px, mm in zip(
                result.validation_views,
                validation.per_view_rms_px,
                validation.per_view_rms_mm,
                strict=True,
            )
        ],
        "tracker_from_board": result.tracker_from_board.tolist(),
        "methods": [
            {"method": m, "rotation_difference_deg": d[0], "translation_difference_mm": d[1]}
            for m, d in result.method_differences.items()
        ],
        "warnings": hand_eye_warnings(result),
    }


def overlay_picture(
    photo: NDArray[Any], detected_px: NDArray[np.float64], projected_px: NDArray[np.float64]
) -> bytes:
    """A held-out photo with the detected corners (green) and where the tracked chain puts
    them (red), joined by lines."""
    height, width = photo.shape[:2]
    figure = Figure(figsize=(8, 8 * height / width))
    axes = figure.add_axes((0, 0, 1, 1))
    axes.imshow(photo, cmap="gray", vmin=0, vmax=255)
    for (u0, v0), (u1, v1) in zip(detected_px, projected_px, strict=True):
        axes.plot([u0, u1], [v0, v1], color="yellow", lw=0.8)
    axes.plot(detected_px[:, 0], detected_px[:, 1], "o", ms=3, mfc="none", color="#0c0")
    axes.plot(projected_px[:, 0], projected_px[:, 1], "+", ms=4, color="#f00")
    axes.set_xlim(-0.5, width - 0.5)
    axes.set_ylim(height - 0.5, -0.5)
    axes.axis("off")
    return figure_png(figure)


def per_view_figure(result: HandEyeCalibration, gate: dict[str, Any]) -> bytes:
    """Held-out views' RMS errors, px and mm, with the gates."""
    validation = result.validation
    figure = Figure(figsize=(9, 3.4))
    for column, (values, unit, threshold) in enumerate(
        (
            (validation.per_view_rms_px, "px", gate["threshold_px"]),
            (validation.per_view_rms_mm, "mm on the board", gate["threshold_mm"]),
        )
    ):
        axes = figure.add_subplot(1, 2, column + 1)
        axes.bar(range(len(values)), values, color="#3182bd")
        if threshold is not None:
            axes.axhline(threshold, color="#c00", ls="--", label=f"gate {threshold:g}")
            axes.legend(fontsize=8)
        axes.set_xticks(range(len(values)))
        axes.set_xticklabels(result.validation_views, rotation=60, ha="right", fontsize=7)
        axes.set_ylabel(f"held-out RMS ({unit})")
    return figure_png(figure)


def write_hand_eye_report(
    out_dir: str | Path,
    result: HandEyeCalibration,
    gate: dict[str, Any],
    overlays: Sequence[tuple[str, bytes]] = (),
) -> dict[str, Path]:
    """Write the hand-eye report folder; ``overlays`` are (view name, PNG) pictures."""
    x = result.hand_eye.cameramarker_from_camera
    validation = result.validation
    body = (
        f"<h1>Hand-eye calibration</h1><p>OpenCV calibrateHandEye, method "
        f"<b>{result.hand_eye.method}</b>; {len(result.calibration_views)} calibration views, "
        f"{len(result.validation_views)} held out"
        + (f", board not found in {len(result.skipped_views)}" if result.skipped_views else "")
        + ".</p>"
        + verdict(
            bool(gate["passed"]),
            f"held-out RMS {validation.rms_mm:.3f} mm on the board vs gate "
            f"{gate['threshold_mm']:g} mm; {validation.rms_px:.2f} px"
            + (f" vs gate {gate['threshold_px']:g} px" if gate["threshold_px"] is not None else ""),
        )
        + warnings_html(hand_eye_warnings(result))
        + "<h2>cameramarker_from_camera (mm)</h2>"
        + table(["", "x", "y", "z", "t"], [[f"row {i}", *map(float, x[i])] for i in range(4)])
        + "<h2>Held-out views</h2>"
        + table(
            ["view", "RMS (px)", "RMS (mm on the board)"],
            [
                [n, float(p), float(m)]
                for n, p, m in zip(
                    result.validation_views,
                    validation.per_view_rms_px,
                    validation.per_view_rms_mm,
                    strict=True,
                )
            ],
        )
        + "<h2>Other methods on the same views</h2>"
        + table(
            ["method", "rotation difference (deg)", "translation difference (mm)"],
            [[m, d[0], d[1]] for m, d in result.method_differences.items()],
        )
    )
    figures = [
        ReportFigure("hand_eye_per_view.png", "Held-out errors", per_view_figure(result, gate))
    ]
    figures += [
        ReportFigure(
            f"hand_eye_overlay_{i}.png",
            f"Held-out view {name}: detected (green) and tracked-chain (red) corners",
            png,
        )
        for i, (name, png) in enumerate(overlays)
    ]
    return write_report_folder(out_dir, "igcs hand-eye report", body, figures)
