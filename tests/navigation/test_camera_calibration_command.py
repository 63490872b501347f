from __future__ import annotations

import json

import pytest

from navigation.cli import main


def test_calibrates_the_real_webcam_photos(shared_data, tmp_path, capsys):
    folder = shared_data("camcal-chessboard-webcam")
    out = tmp_path / "cam.json"
    argv = ["camera-calibration", str(folder), "--corners", "14x10", "--square-mm", "6"]
    assert main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "board found in 12 of 12 images" in printed
    assert "PASS: RMS reprojection 0.3" in printed
    saved = json.loads(out.read_text())
    assert saved["schema"] == "igcs-camera-intrinsics"
    assert saved["image_size_px"] == [640, 480]
    assert saved["camera_matrix"][0][0] == pytest.approx(630.0, rel=0.005)
    assert saved["rms_reprojection_px"] == pytest.approx(0.34, abs=0.05)


def test_wrong_board_size_is_a_clear_error(shared_data, tmp_path, capsys):
    folder = shared_data("camcal-chessboard-webcam")
    images = [str(folder / f"calib.images.{i}.png") for i in range(2)]
    argv = ["camera-calibration", *images, "--squares", "14x10", "--square-mm", "6"]
    assert main([*argv, "--out", str(tmp_path / "cam.json"), "--min-views", "2"]) == 2
    error = capsys.readouterr().err
    assert "found in 0 of 2 images" in error
    assert "Not found in: calib.images.0.png, calib.images.1.png" in error
    assert "14 x 10 squares means 13 x 9 inner corners" in error
    assert not (tmp_path / "cam.json").exists()


def test_bad_arguments(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not an image")
    base = ["camera-calibration", "--square-mm", "6", "--out", str(tmp_path / "c.json")]
    assert main([*base, str(tmp_path / "notes.txt"), "--squares", "15x11"]) == 2
    assert "not an image OpenCV can read" in capsys.readouterr().err
    assert main([*base, str(tmp_path / "missing.png"), "--squares", "15x11"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main([*base, str(tmp_path), "--squares", "15by11"]) == 2
    assert "--squares must look like 15x11" in capsys.readouterr().err
