"""``igcs pivot POSES.txt``: pivot calibration of a tracked pointer from recorded poses.

POSES.txt holds the pointer marker's poses in the tracker frame (``tracker_from_pointer``, PLUS
``StylusToTracker``), mm: 4x4 matrices, row-major, four lines each, whitespace separated; lines
starting with ``#`` are comments (the layout of ``numpy.savetxt`` and of NDI/scikit-surgery
recordings).

Residuals. For pose i, e_i = R_i @ tip + t_i - pivot (mm, tracker frame) is where that pose
puts the tip, minus the pivot. Reported over the poses used:
  3-D RMS        sqrt(mean |e_i|^2)                 the gated figure
  per-axis RMS   sqrt(mean e_i,a^2), a = x, y, z    (tracker axes)
  component RMS  sqrt(sum |e_i|^2 / 3N) = 3-D RMS / sqrt(3), the RMS of the stacked
                 least-squares residual's 3N entries: scikit-surgerycalibration's
                 residual_error
  mean           mean |e_i|: PLUS's PivotCalibrationErrorMm
  max            max |e_i|

The other method (sphere fit or algebraic) is run as a check and its distance reported; a small
rotation spread, a disagreement over 1 mm or many RANSAC outliers print a WARNING. Exit status
0 when the 3-D RMS passes the gate, 1 when it does not (files are written either way), 2 on bad
input.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from navigation.cli import UserError
from navigation.commands.report_options import add_report_argument
from registration.core.atomic_files import write_json_atomic
from registration.pivot_calibration import DEFAULT_GATE_MM, PivotCalibration, calibrate_pivot
from registration.reports.pivot import pivot_payload, write_pivot_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("poses", type=Path, help="text file of 4x4 tracker_from_pointer matrices")
    parser.add_argument(
        "--method",
        choices=("algebraic", "sphere"),
        default="algebraic",
        help="algebraic one-step least squares (default) or sphere fit; the other one is run "
        "as a check",
    )
    parser.add_argument(
        "--gate",
        type=float,
        default=DEFAULT_GATE_MM,
        metavar="MM",
        help=f"pass/fail gate on the 3-D RMS tip error (default {DEFAULT_GATE_MM} mm)",
    )
    parser.add_argument(
        "--ransac",
        type=float,
        metavar="MM",
        help="first keep only the poses whose tip lies within MM of one pivot (RANSAC)",
    )
    parser.add_argument("--ransac-trials", type=int, default=500, help="RANSAC samples")
    parser.add_argument("--seed", type=int, default=0, help="RANSAC random seed (default 0)")
    parser.add_argument("--out", type=Path, help="write the result as JSON to this file")
    add_report_argument(parser, "the residual plots")


def read_pose_matrices(path: Path) -> np.ndarray:
    """(N, 4, 4) matrices from a text file of 4-line row-major 4x4 blocks (``#`` comments)."""
    if not path.is_file():
        raise UserError(f"pose file {path} does not exist.")
    try:
        rows = np.loadtxt(path, comments="#", ndmin=2)
    except ValueError as error:
        raise UserError(f"{path} is not a table of numbers: {error}.") from None
    if rows.shape[1] != 4 or rows.shape[0] % 4:
        raise UserError(
            f"{path} must hold 4x4 matrices as blocks of 4 rows of 4 numbers; got "
            f"{rows.shape[0]} rows of {rows.shape[1]}."
        )
    return rows.reshape(-1, 4, 4)


def print_result(result: PivotCalibration, source: Path) -> None:
    residuals = result.residuals
    tip, pivot = result.tip_in_tool, result.pivot_in_tracker
    used = int(result.inliers.sum())
    ransac = (
        f", RANSAC {result.ransac_threshold_mm:g} mm kept {used}"
        if result.ransac_threshold_mm is not None
        else ""
    )
    print(f"pivot calibration ({result.method}, {len(result.inliers)} poses from {source}{ransac})")
    print(f"  tip in pointer frame:  [{tip[0]:.3f}, {tip[1]:.3f}, {tip[2]:.3f}] mm")
    print(f"  pivot in tracker:      [{pivot[0]:.3f}, {pivot[1]:.3f}, {pivot[2]:.3f}] mm")
    print("  tip residual e_i = R_i tip + t_i - pivot over the poses used (see --help):")
    print(f"    3-D RMS              {residuals.rms_mm:.3f} mm   (gated)")
    x, y, z = residuals.per_axis_rms_mm
    print(f"    per-axis RMS x/y/z   {x:.3f} / {y:.3f} / {z:.3f} mm")
    print(
        f"    component RMS        {residuals.component_rms_mm:.3f} mm   (3-D RMS / sqrt 3; "
        "scikit-surgerycalibration's residual_error)"
    )
    print(f"    mean                 {residuals.mean_mm:.3f} mm   (PLUS's PivotCalibrationErrorMm)")
    print(f"    median / max         {residuals.median_mm:.3f} / {residuals.max_mm:.3f} mm")
    axis = np.round(result.weak_axis_in_tool, 2).tolist()
    spread = result.rotation_spread_deg
    print(f"  rotation spread {spread:.1f} deg RMS about {axis} (pointer frame)")
    other = result.other_method
    if other is not None:
        t = other.tip_in_tool
        print(
            f"  check, {other.method}: tip [{t[0]:.3f}, {t[1]:.3f}, {t[2]:.3f}] mm, "
            f"{other.tip_difference_mm:.3f} mm from this tip (3-D RMS {other.rms_error_mm:.3f} mm)"
        )
    for text in result.warnings:
        print(f"  WARNING: {text}")
    verdict = "PASS" if result.passed else "FAIL"
    print(f"  {verdict}: 3-D RMS {residuals.rms_mm:.3f} mm vs gate {result.gate_mm:.3f} mm")


def run(args: argparse.Namespace) -> int:
    if args.ransac_trials < 1:
        raise UserError(f"--ransac-trials must be at least 1; got {args.ransac_trials}.")
    poses = read_pose_matrices(args.poses)
    result = calibrate_pivot(
        poses,
        method=args.method,
        gate_mm=args.gate,
        ransac_threshold_mm=args.ransac,
        ransac_trials=args.ransac_trials,
        seed=args.seed,
    )
    print_result(result, args.poses)
    if args.out is not None:
        write_json_atomic(args.out, pivot_payload(result, source=str(args.poses)))
        print(f"  written to {args.out}")
    if args.report is not None:
        files = write_pivot_report(args.report, result, source=str(args.poses))
        print(f"  report: {files['report']}")
    return 0 if result.passed else 1
