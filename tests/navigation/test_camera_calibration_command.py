from __future__ import annotations

import json

import numpy as np
import pytest

from navigation.cli import main
from registration.core.transforms import make_rigid, rotation_error_deg


@pytest.mark.slow
def test_calibrates_the_real_webcam_photos(shared_data, tmp_path, capsys):
    folder = shared_data("camcal-chessboard-webcam")
    out, report = tmp_path / "cam.json", tmp_path / "report"
    argv = ["camera-calibration", str(folder), "--corners", "14x10", "--square-mm", "6"]
    assert main([*argv, "--out", str(out), "--report", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "board found in 12 of 12 images" in printed
    assert "PASS: RMS reprojection 0.3" in printed
    assert "corners cover 79% of the image (151 of 192 cells)" in printed
    assert "WARNING: a 15 x 11 chessboard looks the same turned 180 deg" in printed
    saved = json.loads(out.read_text())
    assert saved["schema"] == "igcs-camera-intrinsics" and saved["schema_version"] == 1
    assert saved["image_size_px"] == [640, 480]
    assert saved["camera_matrix"][0][0] == pytest.approx(630.0, rel=0.005)
    assert saved["rms_reprojection_px"] == pytest.approx(0.34, abs=0.05)
    block = saved["calibration"]
    assert block["gate"] == {
        "quantity": "rms_reprojection_px",
        "threshold_px": 1.0,
        "value_px": saved["rms_reprojection_px"],
        "passed": True,
    }
    assert block["board_frame_ambiguous"] is True
    views = {v["name"]: v for v in block["views"]}
    assert len(views) == 12 and all(v["corners"] == 140 for v in views.values())
    assert not any(v["suspect"] for v in views.values())
    # the overall RMS is the corner-weighted RMS of the views' (140 corners each)
    rms = np.sqrt(np.mean([v["rms_px"] ** 2 for v in views.values()]))
    assert rms == pytest.approx(saved["rms_reprojection_px"], rel=1e-4)
    # extrinsics against the other calibration tool's (scikit-surgerybard's calib.extrinsics):
    # its board frame starts at the opposite corner of this symmetric board, and the frame may
    # turn by 180 deg between views; its focal length is 3.7 % shorter (608.7 px), so its
    # distances are too
    turned = make_rigid(np.diag([-1.0, -1.0, 1.0]), [13 * 6.0, 9 * 6.0, 0.0])
    for name, view in views.items():
        reference = np.loadtxt(folder / name.replace("images", "extrinsics").replace("png", "txt"))
        ours = np.array(view["camera_from_board"])
        best = min((ours, ours @ turned), key=lambda m: rotation_error_deg(m, reference))
        assert rotation_error_deg(best, reference) < 2.0, name
        assert np.linalg.norm(best[:3, 3] - reference[:3, 3]) < 0.08 * np.linalg.norm(
            reference[:3, 3]
        ), name
        centre = reference @ [6.5 * 6.0, 4.5 * 6.0, 0.0, 1.0]  # the board centre
        assert view["distance_mm"] == pytest.approx(np.linalg.norm(centre[:3]), rel=0.05)
    html = (report / "report.html").read_text()
    assert "PASS" in html and "calib.images.11.png" in html
    for name in ("camera_coverage.png", "camera_per_view.png", "camera_residuals.png"):
        assert (report / name).read_bytes()[:4] == b"\x89PNG"
    # the same photos against a stricter gate: exit 1, the file is still written
    out.unlink()
    assert main([*argv, "--out", str(out), "--gate", "0.2"]) == 1
    assert "FAIL: RMS reprojection 0.326 px vs gate 0.2 px" in capsys.readouterr().out
    assert json.loads(out.read_text())["calibration"]["gate"]["passed"] is False


def test_little_coverage_is_flagged(shared_data, tmp_path, capsys):
    folder = shared_data("camcal-chessboard-webcam")
    images = [str(folder / f"calib.images.{i}.png") for i in (8, 9, 10)]
    argv = ["camera-calibration", *images, "--corners", "14x10", "--square-mm", "6"]
    assert main([*argv, "--min-views", "3", "--out", str(tmp_path / "cam.json")]) == 0
    printed = capsys.readouterr().out
    assert "WARNING: the corners cover" in printed and "near the image edges" in printed
    block = json.loads((tmp_path / "cam.json").read_text())["calibration"]
    assert block["coverage"]["fraction"] < 0.5


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
