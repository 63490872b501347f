"""``igcs hand-eye`` end to end on rendered photos of a chessboard seen by a tracked camera."""

from __future__ import annotations

import cv2
import numpy as np

from navigation.cli import main
from registration.camera_calibration import CalibrationBoard
from registration.camera_intrinsics import CameraIntrinsics
from registration.core.transforms import (
    invert_rigid,
    make_rigid,
    rotation_about,
    rotation_error_deg,
    translation_error_mm,
)
from registration.hand_eye import HandEye
from tests.registration.board_rendering import board_image, look_at_board, render_view

K = np.array([[700.0, 0.0, 320.0], [0.0, 700.0, 240.0], [0.0, 0.0, 1.0]])
X = make_rigid(rotation_about([0.2, 1.0, -0.4], 100.0), [-30.0, 45.0, 80.0])
TRACKER_FROM_BOARD = make_rigid(rotation_about([1.0, 0.0, 0.3], 160.0), [50.0, 20.0, -1200.0])


def test_hand_eye_command_on_rendered_photos(rng, tmp_path, capsys):
    board = CalibrationBoard("chessboard", (10, 7), 20.0)
    picture = board_image(board, 6.0)
    centre = board.corners_in_board().mean(axis=0)
    folder = tmp_path / "photos"
    folder.mkdir()
    lines = ["# image  tracker_from_cameramarker (16 numbers, row-major, mm)"]
    for i in range(12):
        camera_from_board = look_at_board(rng, centre, distance_mm=(380.0, 500.0), tilt_deg=40.0)
        cv2.imwrite(
            str(folder / f"shot{i:02d}.png"),
            render_view(picture, K, camera_from_board, (640, 480), rng),
        )
        marker = TRACKER_FROM_BOARD @ invert_rigid(camera_from_board) @ invert_rigid(X)
        lines.append(f"shot{i:02d}.png " + " ".join(f"{v:.9f}" for v in marker.ravel()))
    (tmp_path / "poses.txt").write_text("\n".join(lines) + "\n")
    CameraIntrinsics(K, np.zeros(5), (640, 480)).save(tmp_path / "cam.json")
    out = tmp_path / "hand_eye.json"
    argv = [
        "hand-eye", str(folder), str(tmp_path / "poses.txt"),
        "--intrinsics", str(tmp_path / "cam.json"),
        "--corners", "9x6", "--square-mm", "20", "--method", "park", "--out", str(out),
    ]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "9 views, 3 held out" in printed
    result = HandEye.load(out)
    assert result.method == "park"
    assert rotation_error_deg(result.cameramarker_from_camera, X) < 0.5
    assert translation_error_mm(result.cameramarker_from_camera, X) < 1.0
    assert result.validation_rms_px is not None and result.validation_rms_px < 0.5
    assert result.validation_rms_mm is not None and result.validation_rms_mm < 0.3


def test_hand_eye_command_refuses_bad_pose_lists(tmp_path, capsys):
    CameraIntrinsics(K, np.zeros(5), (640, 480)).save(tmp_path / "cam.json")
    (tmp_path / "photos").mkdir()
    base = ["hand-eye", str(tmp_path / "photos"), str(tmp_path / "poses.txt"), "--intrinsics",
            str(tmp_path / "cam.json"), "--corners", "9x6", "--square-mm", "20",
            "--out", str(tmp_path / "he.json")]  # fmt: skip
    (tmp_path / "poses.txt").write_text("a.png 1 0 0 0\n")
    assert main(base) == 2
    assert "line 1: expected an image name and 16 numbers; got 5 fields" in capsys.readouterr().err
    (tmp_path / "poses.txt").write_text("a.png " + " ".join(["1"] * 15 + ["x"]) + "\n")
    assert main(base) == 2
    assert "must be numbers" in capsys.readouterr().err
    (tmp_path / "poses.txt").write_text("a.png " + " ".join(map(str, np.eye(4).ravel())) + "\n")
    assert main(base) == 2
    assert "1 of the photos listed in" in capsys.readouterr().err
