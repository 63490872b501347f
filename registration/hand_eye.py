"""Hand-eye calibration of a tracked camera: where the camera is in its tracking marker's frame.

A calibration board lies still in the tracker's field while the tracked camera photographs it
from several poses. For every view i the tracker gives ``tracker_from_cameramarker_i`` and the
board's corners in the photo give ``camera_from_board_i`` (OpenCV ``solvePnP``). The unknown
``cameramarker_from_camera`` (X) satisfies A X = X B for every pair of views (Tsai & Lenz 1989)
and is solved with OpenCV's ``calibrateHandEye``, one of its five methods:

====================  ==============================================================
``"tsai"``            Tsai & Lenz 1989 (default)
``"park"``            Park & Martin 1994
``"horaud"``          Horaud & Dornaika 1995
``"andreff"``         Andreff, Horaud & Espiau 1999
``"daniilidis"``      Daniilidis 1999 (dual quaternions)
====================  ==============================================================

OpenCV's names, mapped to ours (eye-in-hand: the camera rides on the tracked "gripper"):

- ``base`` = the tracker frame; ``gripper`` = the camera marker; ``gripper2base`` (the gripper
  to base transform) = ``tracker_from_cameramarker``;
- ``cam`` = the camera (OpenCV optical frame: x right, y down, z forward); ``target`` = the
  board; ``target2cam`` = ``camera_from_board``;
- the result ``cam2gripper`` = ``cameramarker_from_camera``.

Validation on held-out views: :mod:`registration.hand_eye_validation`.

The hand-eye file (JSON, written atomically)::

    {"schema": "igcs-hand-eye", "schema_version": 1,
     "cameramarker_from_camera": [[...4], [...4], [...4], [...4]],   (row-major, mm)
     "method": "tsai", "validation_rms_px": 0.8, "validation_rms_mm": 0.3}

(``igcs hand-eye`` adds a ``calibration`` block, see :mod:`registration.reports.hand_eye`;
readers ignore it.)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial.transform import Rotation

from registration.camera_calibration import BoardDetection, CalibrationBoard
from registration.camera_intrinsics import CameraIntrinsics
from registration.core.atomic_files import write_json_atomic
from registration.core.checks import Float64Array, InputError
from registration.core.transforms import (
    check_rigid,
    rotation_error_deg,
    translation_error_mm,
)
from registration.hand_eye_validation import (
    HandEyeValidation,
    board_pose_in_tracker,
    check_pose_stack,
    validate_hand_eye,
)

HandEyeMethod = Literal["tsai", "park", "horaud", "andreff", "daniilidis"]

#: Our method names -> OpenCV's flags.
HAND_EYE_METHODS: dict[str, int] = {
    "tsai": cv2.CALIB_HAND_EYE_TSAI,
    "park": cv2.CALIB_HAND_EYE_PARK,
    "horaud": cv2.CALIB_HAND_EYE_HORAUD,
    "andreff": cv2.CALIB_HAND_EYE_ANDREFF,
    "daniilidis": cv2.CALIB_HAND_EYE_DANIILIDIS,
}
HAND_EYE_SCHEMA = "igcs-hand-eye"

__all__ = [
    "HAND_EYE_METHODS",
    "HAND_EYE_SCHEMA",
    "HandEye",
    "HandEyeCalibration",
    "HandEyeValidation",
    "board_pose_in_tracker",
    "calibrate_hand_eye",
    "solve_hand_eye",
    "validate_hand_eye",
]
#: Relative motions smaller than this do not count towards the rotation-axis check (deg).
MIN_MOTION_DEG = 5.0
#: The relative rotation axes must spread at least this much out of one line (deg).
MIN_AXIS_SPREAD_DEG = 10.0


@dataclass(frozen=True)
class HandEye:
    """The hand-eye file's content.

    cameramarker_from_camera : (4, 4) float, rigid, mm.
    method : the OpenCV method used.
    validation_rms_px, validation_rms_mm : held-out validation errors (None when unknown).
    """

    cameramarker_from_camera: Float64Array
    method: str
    validation_rms_px: float | None = None
    validation_rms_mm: float | None = None

    def __post_init__(self) -> None:
        matrix = check_rigid(self.cameramarker_from_camera, "cameramarker_from_camera")
        matrix.setflags(write=False)
        object.__setattr__(self, "cameramarker_from_camera", matrix)
        if self.method not in HAND_EYE_METHODS:
            raise InputError(
                f"method must be one of {', '.join(HAND_EYE_METHODS)}; got {self.method!r}."
            )
        for name in ("validation_rms_px", "validation_rms_mm"):
            value = getattr(self, name)
            if value is not None and (not np.isfinite(value) or value < 0):
                raise InputError(f"{name} must be a non-negative number or null; got {value!r}.")

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": HAND_EYE_SCHEMA,
            "schema_version": 1,
            "cameramarker_from_camera": self.cameramarker_from_camera.tolist(),
            "method": self.method,
            "validation_rms_px": self.validation_rms_px,
            "validation_rms_mm": self.validation_rms_mm,
        }

    def save(self, path: str | Path) -> None:
        """Write the JSON file atomically."""
        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> HandEye:
        """Read and validate a hand-eye file; errors name the file and the field."""
        file = Path(path)
        try:
            payload = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"hand-eye file {file} does not exist.") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise InputError(f"{file} is not valid JSON: {error}.") from None
        if not isinstance(payload, dict) or payload.get("schema") != HAND_EYE_SCHEMA:
            schema = payload.get("schema") if isinstance(payload, dict) else None
            raise InputError(
                f"{file}: schema {schema!r} is not {HAND_EYE_SCHEMA!r}; "
                "calibrate with `igcs hand-eye`."
            )
        if payload.get("schema_version") != 1:
            raise InputError(
                f"{file}: schema_version {payload.get('schema_version')!r} is not supported "
                "(this igcs reads version 1)."
            )
        try:
            return cls(
                cameramarker_from_camera=np.asarray(
                    payload["cameramarker_from_camera"], dtype=np.float64
                ),
                method=payload["method"],
                validation_rms_px=payload.get("validation_rms_px"),
                validation_rms_mm=payload.get("validation_rms_mm"),
            )
        except KeyError as error:
            raise InputError(f"{file} is missing the field {error.args[0]!r}.") from None
        except (TypeError, ValueError) as error:
            raise InputError(f"{file}: {error}") from None


@dataclass(frozen=True)
class HandEyeCalibration:
    """Result of :func:`calibrate_hand_eye`.

    hand_eye : the file content (save with ``hand_eye.save(path)``).
    tracker_from_board : (4, 4) the board pose used for validation (estimated or given).
    calibration_views, validation_views : names of the views used for each.
    skipped_views : names of views where the board was not found.
    validation : held-out errors.
    method_differences : every other OpenCV method's answer on the same calibration views, as
        {method: (rotation difference deg, translation difference mm)} from the result (a
        spread of more than a few tenths of a degree or mm says the views constrain X poorly).
    """

    hand_eye: HandEye
    tracker_from_board: Float64Array
    calibration_views: tuple[str, ...]
    validation_views: tuple[str, ...]
    skipped_views: tuple[str, ...]
    validation: HandEyeValidation
    method_differences: dict[str, tuple[float, float]] = field(default_factory=dict)


def solve_hand_eye(
    tracker_from_cameramarker: ArrayLike,
    camera_from_board: ArrayLike,
    *,
    method: HandEyeMethod = "tsai",
) -> Float64Array:
    """``cameramarker_from_camera`` (4, 4) from paired poses with OpenCV's ``calibrateHandEye``.

    tracker_from_cameramarker : (N, 4, 4) rigid, mm (OpenCV ``gripper2base``).
    camera_from_board : (N, 4, 4) rigid, mm (OpenCV ``target2cam``), the board fixed in the
        tracker's frame. N >= 3 with rotations about at least two different axes.
    """
    markers = check_pose_stack(tracker_from_cameramarker, "tracker_from_cameramarker")
    boards = check_pose_stack(camera_from_board, "camera_from_board")
    if len(markers) != len(boards):
        raise InputError(
            f"got {len(markers)} tracker_from_cameramarker poses but {len(boards)} "
            "camera_from_board poses; they must be paired view by view."
        )
    if len(markers) < 3:
        raise InputError(f"hand-eye calibration needs at least 3 views; got {len(markers)}.")
    if method not in HAND_EYE_METHODS:
        raise InputError(f"method must be one of {', '.join(HAND_EYE_METHODS)}; got {method!r}.")
    _check_rotation_axes(markers[:, :3, :3])
    rotation, translation = cv2.calibrateHandEye(
        [m[:3, :3] for m in markers],
        [m[:3, 3].reshape(3, 1) for m in markers],
        [b[:3, :3] for b in boards],
        [b[:3, 3].reshape(3, 1) for b in boards],
        method=HAND_EYE_METHODS[method],  # by keyword: the 5th positional is an output
    )
    result = np.eye(4)
    result[:3, :3] = _nearest_rotation(np.asarray(rotation, dtype=np.float64))
    result[:3, 3] = np.asarray(translation, dtype=np.float64).ravel()
    if not np.isfinite(result).all():
        raise InputError(f"the {method} hand-eye solution is not finite; use more varied views.")
    return result


def calibrate_hand_eye(
    tracker_from_cameramarker: ArrayLike,
    detections: Sequence[BoardDetection | None],
    board: CalibrationBoard,
    intrinsics: CameraIntrinsics,
    *,
    method: HandEyeMethod = "tsai",
    names: Sequence[str] | None = None,
    validation_fraction: float = 0.25,
    tracker_from_board: ArrayLike | None = None,
    min_calibration_views: int = 4,
) -> HandEyeCalibration:
    """Hand-eye calibration from tracked board photos, with held-out validation.

    tracker_from_cameramarker : (N, 4, 4) rigid, mm, the camera marker's pose at each photo.
    detections : the board found in each photo (None where it was not; such views are skipped).
    intrinsics : the camera's calibration (``camera_from_board`` per view by ``solvePnP``).
    validation_fraction : share of the usable views held out for validation, evenly spread
        through the sequence (at least one).
    tracker_from_board : the board's pose if measured independently (e.g. with the tracked
        pointer); by default estimated from the calibration views.
    """
    markers = check_pose_stack(tracker_from_cameramarker, "tracker_from_cameramarker")
    if board.looks_the_same_turned:
        columns, rows = board.squares
        raise InputError(
            f"a {columns} x {rows} chessboard looks the same turned 180 deg, so its corner order "
            "(and the board frame) can flip between photos and corrupt hand-eye calibration; "
            "use a chessboard with an odd total of squares (e.g. 15 x 10) or a ChArUco board."
        )
    if len(markers) != len(detections):
        raise InputError(
            f"got {len(markers)} tracker_from_cameramarker poses for {len(detections)} photos; "
            "every photo needs the camera marker's pose at that moment."
        )
    labels = [f"view {i}" for i in range(len(detections))] if names is None else list(names)
    if len(labels) != len(detections):
        raise InputError(f"got {len(labels)} names for {len(detections)} views.")
    if not 0.0 < validation_fraction < 1.0:
        raise InputError(f"validation_fraction must be in (0, 1); got {validation_fraction}.")
    found = {i: d for i, d in enumerate(detections) if d is not None and len(d.corner_ids) >= 4}
    usable = list(found)
    skipped = tuple(labels[i] for i in range(len(detections)) if i not in usable)
    held_out_count = max(1, round(validation_fraction * len(usable)))
    if len(usable) - held_out_count < min_calibration_views:
        raise InputError(
            f"the board was found in {len(usable)} of {len(detections)} views; hand-eye "
            f"calibration needs {min_calibration_views} for calibration plus "
            f"{held_out_count} for validation."
            + (f" Not found in: {', '.join(skipped)}." if skipped else "")
        )
    held_out_positions = np.unique(
        np.linspace(0, len(usable) - 1, held_out_count + 2)[1:-1].round().astype(int)
    )
    validation_index = [usable[p] for p in held_out_positions]
    calibration_index = [i for i in usable if i not in validation_index]
    all_corners = board.corners_in_board()
    camera_from_board = np.stack(
        [_solve_pnp(all_corners, found[i], intrinsics) for i in calibration_index]
    )
    x = solve_hand_eye(markers[calibration_index], camera_from_board, method=method)
    if tracker_from_board is None:
        board_pose = board_pose_in_tracker(x, markers[calibration_index], camera_from_board)
    else:
        board_pose = check_rigid(tracker_from_board, "tracker_from_board")
    validation = validate_hand_eye(
        x,
        board_pose,
        markers[validation_index],
        [found[i] for i in validation_index],
        board,
        intrinsics,
    )
    hand_eye = HandEye(x, method, validation.rms_px, validation.rms_mm)
    board_pose.setflags(write=False)
    differences = {}
    for other in HAND_EYE_METHODS:
        if other != method:
            try:
                y = solve_hand_eye(
                    markers[calibration_index],
                    camera_from_board,
                    method=other,  # type: ignore[arg-type]
                )
            except InputError:
                continue
            differences[other] = (rotation_error_deg(y, x), translation_error_mm(y, x))
    return HandEyeCalibration(
        hand_eye=hand_eye,
        tracker_from_board=board_pose,
        calibration_views=tuple(labels[i] for i in calibration_index),
        validation_views=tuple(labels[i] for i in validation_index),
        skipped_views=skipped,
        validation=validation,
        method_differences=differences,
    )


def _solve_pnp(
    corners_in_board: Float64Array, detection: BoardDetection, intrinsics: CameraIntrinsics
) -> Float64Array:
    """camera_from_board (4, 4) of one view (IPPE for the planar board, then LM refinement)."""
    ok, rvec, tvec = cv2.solvePnP(
        corners_in_board[detection.corner_ids],
        detection.corners_px,
        intrinsics.camera_matrix,
        intrinsics.distortion,
        flags=cv2.SOLVEPNP_IPPE,
    )
    if not ok:
        raise InputError("solvePnP failed on a view; check the board settings and intrinsics.")
    rvec, tvec = cv2.solvePnPRefineLM(
        corners_in_board[detection.corner_ids],
        detection.corners_px,
        intrinsics.camera_matrix,
        intrinsics.distortion,
        rvec,
        tvec,
    )
    pose = np.eye(4)
    pose[:3, :3] = cv2.Rodrigues(rvec)[0]
    pose[:3, 3] = np.asarray(tvec).ravel()
    return pose


def _check_rotation_axes(rotations: Float64Array) -> None:
    """Refuse motions that do not rotate the camera marker about two different axes."""
    relative = Rotation.from_matrix(rotations[:-1]).inv() * Rotation.from_matrix(rotations[1:])
    pairs = [relative]
    if len(rotations) > 2:
        first = Rotation.from_matrix(np.repeat(rotations[:1], len(rotations) - 2, axis=0))
        pairs.append(first.inv() * Rotation.from_matrix(rotations[2:]))
    vectors = np.concatenate([p.as_rotvec().reshape(-1, 3) for p in pairs])
    angles = np.linalg.norm(vectors, axis=1)
    large = angles > np.radians(MIN_MOTION_DEG)
    if large.sum() < 2:
        raise InputError(
            f"the camera marker hardly rotated between views (fewer than two motions over "
            f"{MIN_MOTION_DEG:g} deg); photograph the board from varied angles (20-40 deg apart)."
        )
    axes = vectors[large] / angles[large, np.newaxis]
    axes *= np.sign(axes @ axes[0])[:, np.newaxis]  # an axis and its opposite are one line
    singular = np.linalg.svd(axes, compute_uv=False)
    spread_deg = float(np.degrees(np.arctan2(singular[1], singular[0])))
    if spread_deg < MIN_AXIS_SPREAD_DEG:
        axis = np.round(axes.mean(axis=0) / np.linalg.norm(axes.mean(axis=0)), 2) + 0.0
        raise InputError(
            f"the camera marker rotated about one axis only ({axis.tolist()} in the marker frame, "
            f"spread {spread_deg:.1f} deg < {MIN_AXIS_SPREAD_DEG:g}); hand-eye needs rotations "
            "about two different axes: tilt the camera both up-down and left-right."
        )


def _nearest_rotation(matrix: Float64Array) -> Float64Array:
    u, _, v_t = np.linalg.svd(matrix)
    return u @ np.diag([1.0, 1.0, np.linalg.det(u @ v_t)]) @ v_t
