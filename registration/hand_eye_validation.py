"""Validation of a hand-eye calibration on views it was not computed from.

The board's pose in the tracker (``tracker_from_board``) is estimated from the calibration
views (:func:`board_pose_in_tracker`) or given (e.g. measured with the tracked pointer); for
each held-out view the chain ``camera_from_board = inverse(cameramarker_from_camera) @
inverse(tracker_from_cameramarker) @ tracker_from_board`` projects the board's corners into the
photo, and the distances to the detected corners give the error in pixels. The error in mm is
measured on the board: each detected corner's ray is intersected with the board plane placed by
the chain, and compared with the corner's true position (the overlay error on the target).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial.transform import Rotation

from registration.camera_calibration import BoardDetection, CalibrationBoard
from registration.camera_intrinsics import CameraIntrinsics
from registration.core.checks import Float64Array, InputError
from registration.core.transforms import check_rigid, invert_rigid


@dataclass(frozen=True)
class HandEyeValidation:
    """Held-out errors: RMS over all corners, and per view (px on the image, mm on the board);
    ``projected_px``: per view, (M, 2) where the tracked chain puts the detected corners."""

    rms_px: float
    rms_mm: float
    per_view_rms_px: Float64Array
    per_view_rms_mm: Float64Array
    projected_px: tuple[Float64Array, ...] = ()


def board_pose_in_tracker(
    cameramarker_from_camera: ArrayLike,
    tracker_from_cameramarker: ArrayLike,
    camera_from_board: ArrayLike,
) -> Float64Array:
    """``tracker_from_board`` (4, 4): the average over views of the chain
    ``tracker_from_cameramarker @ cameramarker_from_camera @ camera_from_board`` (rotations
    averaged with scipy's ``Rotation.mean``, translations arithmetically)."""
    x = check_rigid(cameramarker_from_camera, "cameramarker_from_camera")
    markers = check_pose_stack(tracker_from_cameramarker, "tracker_from_cameramarker")
    boards = check_pose_stack(camera_from_board, "camera_from_board")
    chains = markers @ x @ boards
    result = np.eye(4)
    result[:3, :3] = Rotation.from_matrix(chains[:, :3, :3]).mean().as_matrix()
    result[:3, 3] = chains[:, :3, 3].mean(axis=0)
    return result


def validate_hand_eye(
    cameramarker_from_camera: ArrayLike,
    tracker_from_board: ArrayLike,
    tracker_from_cameramarker: ArrayLike,
    detections: Sequence[BoardDetection],
    board: CalibrationBoard,
    intrinsics: CameraIntrinsics,
) -> HandEyeValidation:
    """Errors of the tracked-camera chain on views (ideally not used for calibration).

    tracker_from_cameramarker : (M, 4, 4), one per detection.
    Returns RMS errors in px (image) and mm (on the board plane), overall and per view.
    """
    x = check_rigid(cameramarker_from_camera, "cameramarker_from_camera")
    board_pose = check_rigid(tracker_from_board, "tracker_from_board")
    markers = check_pose_stack(tracker_from_cameramarker, "tracker_from_cameramarker")
    if len(markers) != len(detections) or not detections:
        raise InputError(
            f"validation needs one tracker_from_cameramarker pose per detection (at least one); "
            f"got {len(markers)} poses and {len(detections)} detections."
        )
    corners = board.corners_in_board()
    camera_from_tracker_chain = invert_rigid(x)
    squared_px: list[Float64Array] = []
    squared_mm: list[Float64Array] = []
    projections: list[Float64Array] = []
    for marker, detection in zip(markers, detections, strict=True):
        camera_from_board = camera_from_tracker_chain @ invert_rigid(marker) @ board_pose
        known = corners[detection.corner_ids]
        projected, _ = cv2.projectPoints(
            known,
            cv2.Rodrigues(camera_from_board[:3, :3])[0],
            camera_from_board[:3, 3],
            intrinsics.camera_matrix,
            intrinsics.distortion,
        )
        projections.append(np.asarray(projected, dtype=np.float64).reshape(-1, 2))
        squared_px.append(np.sum((projections[-1] - detection.corners_px) ** 2, axis=1))
        on_board = _rays_on_board(detection.corners_px, camera_from_board, intrinsics)
        squared_mm.append(np.sum((on_board - known[:, :2]) ** 2, axis=1))
    per_view_px = np.array([np.sqrt(np.mean(s)) for s in squared_px])
    per_view_mm = np.array([np.sqrt(np.mean(s)) for s in squared_mm])
    return HandEyeValidation(
        rms_px=float(np.sqrt(np.mean(np.concatenate(squared_px)))),
        rms_mm=float(np.sqrt(np.mean(np.concatenate(squared_mm)))),
        per_view_rms_px=per_view_px,
        per_view_rms_mm=per_view_mm,
        projected_px=tuple(projections),
    )


def _rays_on_board(
    corners_px: Float64Array, camera_from_board: Float64Array, intrinsics: CameraIntrinsics
) -> Float64Array:
    """(M, 2) board-plane coordinates (mm) where the pixels' viewing rays meet the board."""
    normalised = intrinsics.normalised_from_pixels(corners_px)
    rays_in_camera = np.column_stack([normalised, np.ones(len(normalised))])
    board_from_camera = invert_rigid(camera_from_board)
    origin = board_from_camera[:3, 3]
    directions = rays_in_camera @ board_from_camera[:3, :3].T
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = -origin[2] / directions[:, 2]
    return (origin + scale[:, np.newaxis] * directions)[:, :2]


def check_pose_stack(poses: ArrayLike, name: str) -> Float64Array:
    array = np.asarray(poses, dtype=np.float64)
    if array.ndim != 3 or array.shape[1:] != (4, 4):
        raise InputError(f"{name} must have shape (N, 4, 4); got {array.shape}.")
    for index, pose in enumerate(array):
        check_rigid(pose, f"{name}[{index}]")
    return array
