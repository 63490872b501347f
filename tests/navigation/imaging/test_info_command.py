"""``igcs info``: a thin command over load_volume."""

from __future__ import annotations

import numpy as np

from navigation.cli import main
from tests.navigation.imaging.dicom_factory import SeriesSpec, write_series


def test_info_names_the_chosen_series_and_geometry(tmp_path, capsys):
    spec = SeriesSpec(count=4, description="HEAD NECK")
    write_series(tmp_path / "study", spec)
    other = SeriesSpec(count=2, description="thin")
    write_series(tmp_path / "study" / "other", other)
    assert main(["info", str(tmp_path / "study")]) == 0
    out = capsys.readouterr().out
    assert (
        f"chosen: CT series #3 'HEAD NECK': 4 file(s) in ., 32x32, axial, uid {spec.series_uid}"
        in out
    )
    assert other.series_uid in out  # listed as also found
    assert "spacing: (0.8000, 0.7000, 2.5000)" in out
    assert "origin (centre of voxel 0,0,0): (-12.0000, -9.0000, 30.0000)" in out
    assert "extent z (S): 30.00 .. 37.50" in out
    assert "HU (int16, modality CT)" in out and "resampled: no" in out
    assert "image series found" in out  # the choice is a warning

    assert main(["info", str(tmp_path / "study"), "--series", other.series_uid]) == 0
    assert f"uid {other.series_uid}" in capsys.readouterr().out.splitlines()[1]


def test_info_refusals_are_one_line_with_exit_2(tmp_path, capsys):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("hello\n")
    assert main(["info", str(tmp_path / "docs")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("igcs info: error: no DICOM files in")

    spec = SeriesSpec(positions_lps_mm=np.array([[0, 0, z] for z in (0.0, 2.0, 4.0, 7.0, 10.0)]))
    write_series(tmp_path / "uneven", spec)
    assert main(["info", str(tmp_path / "uneven"), "--no-resample"]) == 2
    assert "resampling is disabled" in capsys.readouterr().err
    assert main(["info", str(tmp_path / "uneven")]) == 0
    out = capsys.readouterr().out
    assert "resampled: yes" in out and "! RESAMPLED" in out
