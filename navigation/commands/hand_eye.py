"""``igcs hand-eye IMAGES_FOLDER POSES.txt --intrinsics cam.json --corners 14x10 --square-mm 6
--out hand_eye.json``: where the tracked camera is in its marker's frame.

Record: the calibration board lies still in the tracker's view; photograph it with the tracked
camera from 10-20 poses, 20-40 deg apart, tilting both up-down and left-right, and save the
camera marker's pose at each photo.

POSES.txt, one photo per line (``#`` starts a comment; blank lines are ignored)::

    <image file name in IMAGES_FOLDER> m00 m01 m02 m03 m10 ... m33

the 16 numbers being ``tracker_from_cameramarker`` (PLUS ``CameraMarkerToTracker``), row-major,
mm, at the moment of that photo. Only the photos listed are used, in the file's order; a quarter
of them (evenly spread) are held out to validate the result in pixels and mm.

Held-out errors: px is the RMS distance between the detected corners and the corners projected
through tracker -> camera marker -> camera; mm is the RMS distance on the board between each
corner and where its pixel's viewing ray meets the board placed by that chain (the overlay error
at the board's distance). The other OpenCV methods are run on the same views as a check.

Gate: the held-out RMS at most ``--gate-mm`` (default 1 mm) and, when given, ``--gate-px``.
Exit status 0 when it passes, 1 when not (files are written either way), 2 on bad input.
``--out`` is the hand-eye JSON ``igcs navigate`` and ``igcs fluorescence`` read, with a
``calibration`` block (gate, views, held-out errors, board pose, other methods);
``--report DIR`` writes report.html with the held-out photos overlaid.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from navigation.cli import UserError
from navigation.commands.camera_calibration import add_board_arguments, board_from_args, read_image
from navigation.commands.report_options import add_report_argument, require_positive
from registration.camera_calibration import detect_board
from registration.camera_intrinsics import CameraIntrinsics
from registration.core.atomic_files import write_json_atomic
from registration.hand_eye import HAND_EYE_METHODS, calibrate_hand_eye
from registration.reports.hand_eye import (
    hand_eye_block,
    hand_eye_gate,
    overlay_picture,
    write_hand_eye_report,
)

#: Default gate on the held-out RMS error on the board (mm).
DEFAULT_GATE_MM = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("images", type=Path, help="folder of the board photos")
    parser.add_argument("poses", type=Path, help="image name + 16 numbers per line (format above)")
    parser.add_argument("--intrinsics", type=Path, required=True, help="camera intrinsics JSON")
    add_board_arguments(parser)
    parser.add_argument("--method", choices=tuple(HAND_EYE_METHODS), default="tsai")
    parser.add_argument(
        "--validation-fraction", type=float, default=0.25, help="share of views held out"
    )
    parser.add_argument("--out", type=Path, required=True, help="hand-eye JSON to write")
    parser.add_argument(
        "--gate-mm",
        type=float,
        default=DEFAULT_GATE_MM,
        metavar="MM",
        help=f"gate on the held-out RMS on the board (default {DEFAULT_GATE_MM:g} mm)",
    )
    parser.add_argument("--gate-px", type=float, metavar="PX", help="gate on the held-out RMS px")
    add_report_argument(parser, "the held-out photos overlaid")


def read_pose_list(path: Path) -> tuple[list[str], np.ndarray]:
    """Image names and (N, 4, 4) poses from a hand-eye pose list."""
    if not path.is_file():
        raise UserError(f"pose list {path} does not exist.")
    names: list[str] = []
    poses: list[np.ndarray] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        fields = text.split()
        if len(fields) != 17:
            raise UserError(
                f"{path}, line {number}: expected an image name and 16 numbers; "
                f"got {len(fields)} fields."
            )
        try:
            matrix = np.array([float(v) for v in fields[1:]]).reshape(4, 4)
        except ValueError:
            raise UserError(
                f"{path}, line {number}: the 16 matrix entries must be numbers."
            ) from None
        names.append(fields[0])
        poses.append(matrix)
    if not names:
        raise UserError(f"{path} lists no photos.")
    if len(set(names)) != len(names):
        raise UserError(f"{path} lists an image more than once.")
    return names, np.stack(poses)


def run(args: argparse.Namespace) -> int:
    require_positive(gate_mm=args.gate_mm, gate_px=args.gate_px)
    board = board_from_args(args)
    intrinsics = CameraIntrinsics.load(args.intrinsics)
    names, poses = read_pose_list(args.poses)
    if not args.images.is_dir():
        raise UserError(f"image folder {args.images} does not exist.")
    missing = [name for name in names if not (args.images / name).is_file()]
    if missing:
        raise UserError(
            f"{len(missing)} of the photos listed in {args.poses} are not in {args.images}: "
            + ", ".join(missing[:5])
            + (" ..." if len(missing) > 5 else "")
        )
    detections = []
    photos = {}
    for name in tqdm(names, desc="finding the board", unit="image", file=sys.stderr):
        image = read_image(args.images / name)
        photos[name] = image
        if (image.shape[1], image.shape[0]) != intrinsics.image_size_px:
            raise UserError(
                f"{name} is {image.shape[1]}x{image.shape[0]} px but the intrinsics are for "
                f"{intrinsics.image_size_px[0]}x{intrinsics.image_size_px[1]}."
            )
        detections.append(detect_board(image, board))
    result = calibrate_hand_eye(
        poses,
        detections,
        board,
        intrinsics,
        method=args.method,
        names=names,
        validation_fraction=args.validation_fraction,
    )
    x = result.hand_eye.cameramarker_from_camera
    print(
        f"hand-eye calibration ({args.method}): {len(result.calibration_views)} views, "
        f"{len(result.validation_views)} held out"
    )
    for name in result.skipped_views:
        print(f"  {name}: board not found (not used)")
    print("  cameramarker_from_camera (mm):")
    for row in x:
        print("    " + "  ".join(f"{v:10.4f}" for v in row))
    for name, px, mm in zip(
        result.validation_views,
        result.validation.per_view_rms_px,
        result.validation.per_view_rms_mm,
        strict=True,
    ):
        print(f"  held out {name}: {px:.2f} px, {mm:.3f} mm")
    print(
        f"  validation RMS: {result.validation.rms_px:.2f} px, "
        f"{result.validation.rms_mm:.3f} mm on the board"
    )
    for method, (degrees, millimetres) in result.method_differences.items():
        print(f"  check, {method}: {degrees:.3f} deg, {millimetres:.3f} mm from {args.method}")
    gate = hand_eye_gate(result, args.gate_mm, args.gate_px)
    block = hand_eye_block(result, gate)
    for text in block["warnings"]:
        print(f"  WARNING: {text}")
    verdict = "PASS" if gate["passed"] else "FAIL"
    limits = f"{args.gate_mm:g} mm" + (f", {args.gate_px:g} px" if args.gate_px else "")
    print(
        f"  {verdict}: held-out RMS {result.validation.rms_mm:.3f} mm, "
        f"{result.validation.rms_px:.2f} px vs gate {limits}"
    )
    write_json_atomic(args.out, result.hand_eye.to_dict() | {"calibration": block})
    print(f"  written to {args.out}")
    if args.report is not None:
        by_name = dict(zip(names, detections, strict=True))
        overlays = []
        for name, projected in zip(
            result.validation_views, result.validation.projected_px, strict=True
        ):
            detection = by_name[name]
            if detection is not None:
                overlays.append(
                    (name, overlay_picture(photos[name], detection.corners_px, projected))
                )
        files = write_hand_eye_report(args.report, result, gate, overlays)
        print(f"  report: {files['report']}")
    return 0 if gate["passed"] else 1
