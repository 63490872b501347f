"""``igcs camera-calibration IMAGES... --board chessboard --corners 14x10 --square-mm 6 --out
cam.json``: camera intrinsics from photos of a calibration board.

IMAGES are image files or folders of them (.png, .jpg, .jpeg, .bmp, .tif, .tiff; sorted by
name). Board size: ``--squares CxR`` counts the printed squares (what ChArUco boards are sold
by); for chessboards ``--corners CxR`` gives the inner corners instead (one fewer each way, what
OpenCV's chessboard detector counts).

``--out`` is the intrinsics JSON that ``igcs hand-eye`` and ``igcs navigate`` read, with a
``calibration`` block: the gate, every view's RMS reprojection error, corner count, board pose
(``camera_from_board``, mm), distance and tilt, suspect views (RMS over 3 x the median view's
and over the gate), images without the board, and the share of the image the corners covered.
``--report DIR`` writes report.html with the coverage picture and the error plots. Exit status
0 when the RMS reprojection error passes the gate, 1 when it does not (files are written either
way), 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from navigation.cli import UserError
from navigation.commands.report_options import add_report_argument
from registration.camera_calibration import (
    DEFAULT_GATE_PX,
    CalibrationBoard,
    calibrate_camera,
    detect_board,
)
from registration.core.atomic_files import write_json_atomic
from registration.reports.camera import COVERAGE_GRID, calibration_block, write_camera_report

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def add_board_arguments(parser: argparse.ArgumentParser) -> None:
    """Board options shared with ``igcs hand-eye``."""
    parser.add_argument("--board", choices=("chessboard", "charuco"), default="chessboard")
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--squares", metavar="CxR", help="printed squares, e.g. 15x11")
    size.add_argument(
        "--corners", metavar="CxR", help="chessboard inner corners, e.g. 14x10 (= 15x11 squares)"
    )
    parser.add_argument("--square-mm", type=float, required=True, help="square side in mm")
    parser.add_argument(
        "--marker-mm", type=float, help="ChArUco marker side (default 0.75 x square)"
    )
    parser.add_argument("--dictionary", default="DICT_5X5_100", help="ChArUco ArUco dictionary")
    parser.add_argument(
        "--legacy-pattern", action="store_true", help="ChArUco board made before OpenCV 4.6"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("images", nargs="+", type=Path, help="board photos or folders of them")
    add_board_arguments(parser)
    parser.add_argument("--gate", type=float, default=DEFAULT_GATE_PX, metavar="PX")
    parser.add_argument("--min-views", type=int, default=5)
    parser.add_argument("--out", type=Path, required=True, help="intrinsics JSON to write")
    add_report_argument(parser)


def board_from_args(args: argparse.Namespace) -> CalibrationBoard:
    if args.corners is not None:
        if args.board != "chessboard":
            raise UserError("--corners is for chessboards; give a ChArUco board's --squares.")
        columns, rows = _pair(args.corners, "--corners")
        squares = (columns + 1, rows + 1)
    else:
        squares = _pair(args.squares, "--squares")
    return CalibrationBoard(
        kind=args.board,
        squares=squares,
        square_mm=args.square_mm,
        marker_mm=args.marker_mm,
        dictionary=args.dictionary,
        legacy_pattern=args.legacy_pattern,
    )


def image_paths(items: list[Path]) -> list[Path]:
    """Files as given, folders expanded to their images sorted by name."""
    paths: list[Path] = []
    for item in items:
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise UserError(f"folder {item} holds no images ({', '.join(IMAGE_SUFFIXES)}).")
            paths.extend(found)
        elif item.is_file():
            paths.append(item)
        else:
            raise UserError(f"image {item} does not exist.")
    return paths


def read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise UserError(f"{path} is not an image OpenCV can read.")
    return image


def run(args: argparse.Namespace) -> int:
    board = board_from_args(args)
    paths = image_paths(args.images)
    detections = []
    sizes = set()
    for path in tqdm(paths, desc="finding the board", unit="image", file=sys.stderr):
        image = read_image(path)
        sizes.add((image.shape[1], image.shape[0]))
        detections.append(detect_board(image, board))
    if len(sizes) > 1:
        raise UserError(f"the images have different sizes {sorted(sizes)}; use one camera mode.")
    names = [path.name for path in paths]
    result = calibrate_camera(
        detections, board, sizes.pop(), names=names, min_views=args.min_views, gate_px=args.gate
    )
    k = result.intrinsics.camera_matrix
    print(
        f"camera calibration: {board.describe()}, board found in {len(result.image_names)} of "
        f"{len(paths)} images"
    )
    for name in result.rejected_images:
        print(f"  {name}: board not found (not used)")
    for name, rms in zip(result.image_names, result.per_image_rms_px, strict=True):
        flag = "  <- suspect: remove and recalibrate" if name in result.suspect_images else ""
        print(f"  {name}: {rms:.3f} px{flag}")
    print(f"  fx {k[0, 0]:.2f}  fy {k[1, 1]:.2f}  cx {k[0, 2]:.2f}  cy {k[1, 2]:.2f} px")
    print(f"  distortion k1 k2 p1 p2 k3: {np.round(result.intrinsics.distortion, 5).tolist()}")
    block = calibration_block(result, board)
    coverage = block["coverage"]
    print(
        f"  corners cover {coverage['fraction']:.0%} of the image "
        f"({coverage['covered_cells']} of {COVERAGE_GRID[0] * COVERAGE_GRID[1]} cells)"
    )
    for text in block["warnings"]:
        print(f"  WARNING: {text}")
    verdict = "PASS" if result.passed else "FAIL"
    print(
        f"  {verdict}: RMS reprojection {result.rms_reprojection_px:.3f} px vs gate "
        f"{result.gate_px:g} px"
    )
    write_json_atomic(args.out, result.intrinsics.to_dict() | {"calibration": block})
    print(f"  written to {args.out}")
    if args.report is not None:
        files = write_camera_report(args.report, result, board)
        print(f"  report: {files['report']}")
    return 0 if result.passed else 1


def _pair(text: str, option: str) -> tuple[int, int]:
    try:
        columns, rows = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise UserError(f"{option} must look like 15x11; got {text!r}.") from None
    return columns, rows
