from __future__ import annotations

import json

import numpy as np
import pytest

from navigation.cli import main


def test_pivot_command_on_the_real_ndi_recording(shared_data, tmp_path, capsys):
    path = shared_data("pivot-calibration-ndi/pivot_matrices.txt")
    status = main(["pivot", str(path), "--out", str(tmp_path / "pivot.json")])
    output = capsys.readouterr().out
    assert status == 1  # RMS 3.18 mm fails the default 0.8 mm gate
    assert "[-14.476, 395.143, -7.558] mm" in output
    assert "FAIL: RMS 3.184 mm vs gate 0.800 mm" in output
    saved = json.loads((tmp_path / "pivot.json").read_text())
    assert saved["schema"] == "igcs-pivot-calibration"
    np.testing.assert_allclose(saved["tip_in_tool_mm"], [-14.476, 395.143, -7.558], atol=1e-3)
    assert saved["pose_count"] == 1151 and saved["passed"] is False
    assert main(["pivot", str(path), "--gate", "3.5"]) == 0
    assert "PASS" in capsys.readouterr().out


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
