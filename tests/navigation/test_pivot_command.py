from __future__ import annotations

import json

import numpy as np
import pytest

from navigation.cli import main
from tests.registration.test_pivot_calibration import pivot_poses


def test_pivot_command_on_the_real_ndi_recording(shared_data, tmp_path, capsys):
    path = shared_data("pivot-calibration-ndi/pivot_matrices.txt")
    out, report = tmp_path / "pivot.json", tmp_path / "report"
    status = main(["pivot", str(path), "--out", str(out), "--report", str(report)])
    output = capsys.readouterr().out
    assert status == 1  # RMS 3.18 mm fails the default 0.8 mm gate
    assert "[-14.476, 395.143, -7.558] mm" in output
    assert "3-D RMS              3.184 mm   (gated)" in output
    assert "per-axis RMS x/y/z   0.728 / 2.300 / 2.078 mm" in output
    assert "component RMS        1.838 mm" in output and "residual_error" in output
    assert "mean                 2.531 mm   (PLUS's PivotCalibrationErrorMm)" in output
    assert "WARNING: small rotation spread: 10.4 deg" in output
    assert "WARNING: the algebraic and sphere methods disagree: tips 13.02 mm apart" in output
    assert "FAIL: 3-D RMS 3.184 mm vs gate 0.800 mm" in output
    saved = json.loads(out.read_text())
    assert saved["schema"] == "igcs-pivot-calibration" and saved["schema_version"] == 2
    np.testing.assert_allclose(saved["tip_in_tool_mm"], [-14.476, 395.143, -7.558], atol=1e-3)
    assert saved["pose_count"] == 1151 and saved["passed"] is False
    assert saved["gate"] == {
        "quantity": "residuals.rms_mm",
        "threshold_mm": 0.8,
        "value_mm": pytest.approx(3.1843, abs=1e-4),
        "passed": False,
    }
    assert saved["residuals"]["component_rms_mm"] == pytest.approx(1.8385, abs=1e-4)
    assert (
        saved["reference_conventions"]["scikit-surgerycalibration residual_error"]
        == (saved["residuals"]["component_rms_mm"])
    )
    assert set(saved["definitions"]) >= {"rms_mm", "per_axis_rms_mm", "component_rms_mm"}
    assert len(saved["poses"]) == 1151 and saved["poses"][0]["inlier"] is True
    assert saved["other_method"]["method"] == "sphere"
    assert len(saved["warnings"]) == 2
    html = (report / "report.html").read_text()
    assert "FAIL" in html and "small rotation spread" in html and "data:image/png" in html
    for name in ("pivot_residuals.png", "pivot_components.png", "pivot_histogram.png"):
        assert (report / name).read_bytes()[:4] == b"\x89PNG"
    assert main(["pivot", str(path), "--gate", "3.5"]) == 0
    assert "PASS" in capsys.readouterr().out


def test_pivot_command_gate_and_ransac(rng, tmp_path, capsys):
    poses = pivot_poses(rng, count=400, noise_mm=0.2)
    poses[::5, :3, 3] += [6.0, -2.0, 3.0]  # a fifth pivot about a point 7 mm away
    path = tmp_path / "poses.txt"
    np.savetxt(path, poses.reshape(-1, 4), header="tracker_from_pointer")
    assert main(["pivot", str(path)]) == 1
    assert "FAIL: 3-D RMS" in capsys.readouterr().out
    out = tmp_path / "pivot.json"
    assert main(["pivot", str(path), "--ransac", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "RANSAC 2 mm kept 320" in printed and "PASS: 3-D RMS 0." in printed
    saved = json.loads(out.read_text())
    assert saved["inlier_count"] == 320 and saved["ransac"] == {"threshold_mm": 2.0}
    assert [p["inlier"] for p in saved["poses"][:5]] == [False, True, True, True, True]
    assert main(["pivot", str(path), "--ransac", "2", "--ransac-trials", "0"]) == 2
    assert "--ransac-trials must be at least 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("1 2 3\n4 5 6\n", "blocks of 4 rows of 4 numbers; got 2 rows of 3"),
        ("1 2 x 4\n", "is not a table of numbers"),
        ("# only a comment\n" + "1 0 0 0\n" * 4, "at least 10 poses; got 1"),
    ],
)
def test_pivot_command_refuses_bad_files(tmp_path, capsys, content, message):
    path = tmp_path / "poses.txt"
    path.write_text(content)
    assert main(["pivot", str(path)]) == 2
    assert message in capsys.readouterr().err
    assert main(["pivot", str(tmp_path / "missing.txt")]) == 2
    assert "does not exist" in capsys.readouterr().err
