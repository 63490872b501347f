"""``igcs pivot POSES.txt``: pivot calibration of a tracked pointer from recorded poses.

POSES.txt holds the pointer marker's poses in the tracker frame (``tracker_from_pointer``, PLUS
``StylusToTracker``), mm: 4x4 matrices, row-major, four lines each, whitespace separated; lines
starting with ``#`` are comments (the layout of ``numpy.savetxt`` and of NDI/scikit-surgery
recordings). Exit status 0 when the RMS error passes the gate, 1 when it does not, 2 on bad input.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from navigation.cli import UserError
from registration.atomic_files import write_json_atomic
from registration.pivot_calibration import DEFAULT_GATE_MM, PivotCalibration, calibrate_pivot

PIVOT_SCHEMA = "igcs-pivot-calibration"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("poses", type=Path, help="text file of 4x4 tracker_from_pointer matrices")
    parser.add_argument(
        "--method",
        choices=("algebraic", "sphere"),
        default="algebraic",
        help="algebraic one-step least squares (default) or sphere fit",
    )
    parser.add_argument(
        "--gate",
        type=float,
        default=DEFAULT_GATE_MM,
        metavar="MM",
        help=f"pass/fail gate on the RMS tip error (default {DEFAULT_GATE_MM} mm)",
    )
    parser.add_argument("--out", type=Path, help="write the result as JSON to this file")


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


def result_to_dict(result: PivotCalibration) -> dict[str, object]:
    return {
        "schema": PIVOT_SCHEMA,
        "schema_version": 1,
        "method": result.method,
        "tip_in_tool_mm": result.tip_in_tool.tolist(),
        "pivot_in_tracker_mm": result.pivot_in_tracker.tolist(),
        "rms_error_mm": result.rms_error_mm,
        "mean_error_mm": result.mean_error_mm,
        "max_error_mm": result.max_error_mm,
        "gate_mm": result.gate_mm,
        "passed": result.passed,
        "pose_count": len(result.errors_mm),
        "rotation_spread_deg": result.rotation_spread_deg,
    }


def run(args: argparse.Namespace) -> int:
    poses = read_pose_matrices(args.poses)
    result = calibrate_pivot(poses, method=args.method, gate_mm=args.gate)
    tip, pivot = result.tip_in_tool, result.pivot_in_tracker
    verdict = "PASS" if result.passed else "FAIL"
    print(f"pivot calibration ({result.method}, {len(poses)} poses from {args.poses})")
    print(f"  tip in pointer frame:  [{tip[0]:.3f}, {tip[1]:.3f}, {tip[2]:.3f}] mm")
    print(f"  pivot in tracker:      [{pivot[0]:.3f}, {pivot[1]:.3f}, {pivot[2]:.3f}] mm")
    print(
        f"  tip error: RMS {result.rms_error_mm:.3f} mm, mean {result.mean_error_mm:.3f} mm, "
        f"max {result.max_error_mm:.3f} mm; rotation spread {result.rotation_spread_deg:.1f} deg"
    )
    print(f"  {verdict}: RMS {result.rms_error_mm:.3f} mm vs gate {result.gate_mm:.3f} mm")
    if args.out is not None:
        write_json_atomic(args.out, result_to_dict(result))
        print(f"  written to {args.out}")
    return 0 if result.passed else 1
