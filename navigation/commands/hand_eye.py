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
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from navigation.cli import UserError
from navigation.commands.camera_calibration import add_board_arguments, board_from_args, read_image
from registration.camera_calibration import detect_board
from registration.camera_intrinsics import CameraIntrinsics
from registration.hand_eye import HAND_EYE_METHODS, calibrate_hand_eye


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
    for name in tqdm(names, desc="finding the board", unit="image", file=sys.stderr):
        image = read_image(args.images / name)
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
    result.hand_eye.save(args.out)
    print(f"  written to {args.out}")
    return 0
