"""Hand-eye calibration on synthetic views: board corners projected with OpenCV + pixel noise."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from registration.camera_calibration import BoardDetection, CalibrationBoard
from registration.camera_intrinsics import CameraIntrinsics
from registration.core.checks import InputError
from registration.core.transforms import (
    invert_rigid,
    make_rigid,
    rotation_about,
    rotation_error_deg,
    translation_error_mm,
)
from registration.hand_eye import (
    HAND_EYE_METHODS,
    HandEye,
    calibrate_hand_eye,
    solve_hand_eye,
    validate_hand_eye,
)

from .board_rendering import look_at_board

K = np.array([[1000.0, 0.0, 640.0], [0.0, 1000.0, 512.0], [0.0, 0.0, 1.0]])
INTRINSICS = CameraIntrinsics(K, [-0.1, 0.05, 0.001, -0.001, 0.0], (1280, 1024))
BOARD = CalibrationBoard("chessboard", (10, 7), 20.0)
CAMERAMARKER_FROM_CAMERA = make_rigid(rotation_about([1.0, 2.0, 0.5], 70.0), [40.0, -25.0, 60.0])
TRACKER_FROM_BOARD = make_rigid(rotation_about([0.3, -1.0, 0.2], 130.0), [100.0, -50.0, -1500.0])


def project(camera_from_board, rng=None, noise_px=0.0):
    corners = BOARD.corners_in_board()
    pixels, _ = cv2.projectPoints(
        corners,
        cv2.Rodrigues(camera_from_board[:3, :3])[0],
        camera_from_board[:3, 3],
        INTRINSICS.camera_matrix,
        INTRINSICS.distortion,
    )
    pixels = pixels.reshape(-1, 2)
    if rng is not None:
        pixels = pixels + rng.normal(scale=noise_px, size=pixels.shape)
    return BoardDetection(pixels, np.arange(len(corners)))


def tracked_views(rng, count=20, *, noise_px=0.3, tracker_mm=0.05, tracker_deg=0.02):
    """``count`` views 25-40 cm from the board, tilted up to 45 deg: the camera marker's poses
    (with tracker noise) and the detections (projected corners + Gaussian pixel noise)."""
    centre = BOARD.corners_in_board().mean(axis=0)
    markers, detections, truths = [], [], []
    for _ in range(count):
        camera_from_board = look_at_board(rng, centre, distance_mm=(250.0, 400.0), tilt_deg=45.0)
        marker = TRACKER_FROM_BOARD @ invert_rigid(camera_from_board)
        marker = marker @ invert_rigid(CAMERAMARKER_FROM_CAMERA)
        jitter = make_rigid(
            rotation_about(rng.normal(size=3), abs(rng.normal(scale=tracker_deg))),
            rng.normal(scale=tracker_mm, size=3),
        )
        markers.append(marker @ jitter)
        detections.append(project(camera_from_board, rng, noise_px))
        truths.append(camera_from_board)
    return np.stack(markers), detections, truths


@pytest.mark.parametrize("method", list(HAND_EYE_METHODS))
def test_recovers_a_known_transform_within_half_a_degree_and_1_mm(rng, method):
    """20 views (15 calibrate, 5 validate), 0.3 px corner noise, tracker noise 0.05 mm and
    0.02 deg per pose, 3 random sets per method."""
    for _ in range(3):
        markers, detections, _ = tracked_views(rng)
        result = calibrate_hand_eye(markers, detections, BOARD, INTRINSICS, method=method)
        x = result.hand_eye.cameramarker_from_camera
        assert rotation_error_deg(x, CAMERAMARKER_FROM_CAMERA) < 0.5
        assert translation_error_mm(x, CAMERAMARKER_FROM_CAMERA) < 1.0
        assert len(result.calibration_views) == 15 and len(result.validation_views) == 5
        assert result.hand_eye.method == method
        # held-out views: the whole chain, about the pixel noise plus the calibration error
        assert 0.3 <= result.validation.rms_px < 1.5
        assert result.validation.rms_mm < 0.5
        assert translation_error_mm(result.tracker_from_board, TRACKER_FROM_BOARD) < 1.0


def test_noise_free_views_are_exact(rng):
    markers, detections, _ = tracked_views(
        rng, count=8, noise_px=0.0, tracker_mm=0.0, tracker_deg=0.0
    )
    result = calibrate_hand_eye(markers, detections, BOARD, INTRINSICS, method="daniilidis")
    x = result.hand_eye.cameramarker_from_camera
    assert rotation_error_deg(x, CAMERAMARKER_FROM_CAMERA) < 1e-4
    assert translation_error_mm(x, CAMERAMARKER_FROM_CAMERA) < 1e-3
    assert result.validation.rms_px < 1e-3 and result.validation.rms_mm < 1e-4


def test_validation_error_in_mm_is_measured_on_the_board():
    """A fronto-parallel view 300 mm away; the hand-eye transform wrong by 1 mm sideways in the
    camera frame: every corner lands 1 mm off on the board and f * 1 / 300 = 3.3 px off."""
    camera_from_board = make_rigid(np.eye(3), [-90.0, -50.0, 300.0])
    marker = TRACKER_FROM_BOARD @ invert_rigid(camera_from_board)
    marker = marker @ invert_rigid(CAMERAMARKER_FROM_CAMERA)
    wrong = CAMERAMARKER_FROM_CAMERA @ make_rigid(np.eye(3), [1.0, 0.0, 0.0])
    detection = project(camera_from_board)
    exact = validate_hand_eye(
        CAMERAMARKER_FROM_CAMERA, TRACKER_FROM_BOARD, marker[None], [detection], BOARD, INTRINSICS
    )
    assert exact.rms_mm < 1e-6 and exact.rms_px < 1e-6
    off = validate_hand_eye(wrong, TRACKER_FROM_BOARD, marker[None], [detection], BOARD, INTRINSICS)
    assert off.rms_mm == pytest.approx(1.0, abs=1e-3)
    assert off.rms_px == pytest.approx(1000.0 / 300.0, rel=0.05)  # distortion changes it a bit


def test_hand_eye_file_round_trip_and_refusals(tmp_path):
    hand_eye = HandEye(CAMERAMARKER_FROM_CAMERA, "park", 0.8, 0.3)
    path = tmp_path / "hand_eye.json"
    hand_eye.save(path)
    payload = json.loads(path.read_text())
    assert payload["schema"] == "igcs-hand-eye" and payload["schema_version"] == 1
    assert np.array(payload["cameramarker_from_camera"]).shape == (4, 4)
    loaded = HandEye.load(path)
    np.testing.assert_array_equal(loaded.cameramarker_from_camera, CAMERAMARKER_FROM_CAMERA)
    assert (loaded.method, loaded.validation_rms_px, loaded.validation_rms_mm) == ("park", 0.8, 0.3)
    assert not list(tmp_path.glob(".*tmp*"))  # atomic write left no temporary file

    def broken(change, message):
        data = json.loads(path.read_text())
        change(data)
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(data))
        with pytest.raises(InputError, match=message):
            HandEye.load(bad)

    broken(lambda d: d.update(schema="igcs-camera-intrinsics"), "is not 'igcs-hand-eye'")
    broken(lambda d: d.update(schema_version=2), "schema_version 2 is not supported")
    broken(lambda d: d.pop("method"), "missing the field 'method'")
    broken(lambda d: d.update(method="magic"), "method must be one of tsai, park")
    broken(
        lambda d: d["cameramarker_from_camera"][0].__setitem__(0, 2.0),
        "cameramarker_from_camera is not rigid",
    )
    broken(lambda d: d.update(cameramarker_from_camera=[[1, 0], [0, 1]]), r"shape \(4, 4\)")
    broken(lambda d: d.update(validation_rms_px=-1), "validation_rms_px must be a non-negative")
    (tmp_path / "text.json").write_text("{not json")
    with pytest.raises(InputError, match="is not valid JSON"):
        HandEye.load(tmp_path / "text.json")
    with pytest.raises(InputError, match="does not exist"):
        HandEye.load(tmp_path / "missing.json")


def test_refusals(rng):
    markers, detections, truths = tracked_views(rng, count=8)
    few = [d if i < 4 else None for i, d in enumerate(detections)]
    names = [f"shot{i}.png" for i in range(8)]
    with pytest.raises(
        InputError,
        match=r"found in 4 of 8 views; .* needs 4 for calibration plus 1 for validation\. "
        r"Not found in: shot4\.png, shot5\.png, shot6\.png, shot7\.png",
    ):
        calibrate_hand_eye(markers, few, BOARD, INTRINSICS, names=names)
    with pytest.raises(InputError, match="8 tracker_from_cameramarker poses for 7 photos"):
        calibrate_hand_eye(markers, detections[:7], BOARD, INTRINSICS)
    with pytest.raises(InputError, match="method must be one of"):
        calibrate_hand_eye(markers, detections, BOARD, INTRINSICS, method="svd")  # type: ignore[arg-type]
    # a 15 x 11 chessboard's corner order can flip by 180 deg between photos
    symmetric = CalibrationBoard("chessboard", (15, 11), 6.0)
    with pytest.raises(InputError, match=r"a 15 x 11 chessboard looks the same turned 180 deg"):
        calibrate_hand_eye(markers, detections, symmetric, INTRINSICS)
    # turning the camera marker about one axis only leaves the translation along it free
    spins = np.stack(
        [markers[0] @ make_rigid(rotation_about([0.0, 0.0, 1.0], a)) for a in range(0, 90, 15)]
    )
    camera_from_board = invert_rigid(CAMERAMARKER_FROM_CAMERA) @ np.stack(
        [invert_rigid(m) for m in spins]
    )
    boards = camera_from_board @ TRACKER_FROM_BOARD
    with pytest.raises(InputError, match=r"rotated about one axis only \(\[0\.0, 0\.0, 1\.0\]"):
        solve_hand_eye(spins, boards)

    with pytest.raises(InputError, match="hardly rotated"):
        solve_hand_eye(np.stack([markers[0]] * 4), np.stack([truths[0]] * 4))
    with pytest.raises(InputError, match="at least 3 views; got 2"):
        solve_hand_eye(markers[:2], np.stack(truths[:2]))
